/**
 * Namespace paths: the rules every path passes before it reaches the namespace tree.
 *
 * A path is absolute (`/` then names separated by `/`). Runs of slashes and a trailing
 * slash are collapsed (`/a//b/` is `/a/b`), as HDFS's `Path` does on the client side; this is
 * the only way an empty name may appear, and it never reaches the tree. Refused, with
 * `INVALID_PATH`: the empty string, relative paths, the names `.` and `..` (HDFS refuses
 * both: a path names one place, without resolution rules), control characters
 * (U+0000–U+001F and U+007F, so no NUL and no newline in a log line), lone UTF-16
 * surrogates (they have no UTF-8 form), names over {@linkcode nameBytesMax} bytes of UTF-8
 * and paths over {@linkcode pathBytesMax} bytes of UTF-8 as given (before collapsing).
 */
import { BigFsError } from "#protocol";

/** Longest path accepted, in bytes of UTF-8 as given. */
export const pathBytesMax = 4096;
/** Longest name (one path component) accepted, in bytes of UTF-8. */
export const nameBytesMax = 255;

const displayCharsMax = 120;

/** The path as it appears in an error message: quoted, escaped, and shortened when huge. */
function display(path: string): string {
  if (path.length <= displayCharsMax) return JSON.stringify(path);
  const head = path.slice(0, displayCharsMax - 40);
  const tail = path.slice(-30);
  return `${JSON.stringify(head)}…${JSON.stringify(tail)} (${path.length} characters)`;
}

function invalid(path: string, reason: string): BigFsError {
  return new BigFsError("INVALID_PATH", `Invalid path ${display(path)}: ${reason}`);
}

function codePoint(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Why `name` cannot be a name, or `undefined` when it can. `name` is never empty here. */
export function nameProblem(name: string): string | undefined {
  if (name === "." || name === "..") return `name "${name}" is not allowed`;
  for (let index = 0; index < name.length; index++) {
    const code = name.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) {
      return `name contains control character ${codePoint(code)}`;
    }
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = name.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) index++;
      else return `name contains a lone surrogate ${codePoint(code)}`;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return `name contains a lone surrogate ${codePoint(code)}`;
    }
  }
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > nameBytesMax) {
    return `name ${display(name)} is ${bytes} bytes of UTF-8, over the limit of ${nameBytesMax}`;
  }
  return undefined;
}

/**
 * Checks `path` and returns its names in order (`[]` for `/`).
 *
 * @throws {BigFsError} `INVALID_PATH`, naming the path and the reason.
 */
export function splitPath(path: string): string[] {
  if (typeof path !== "string") throw invalid(String(path), "a path must be a string");
  if (path === "") throw invalid(path, "path is empty");
  if (!path.startsWith("/")) throw invalid(path, 'path is not absolute (it must start with "/")');
  // Each UTF-16 code unit is at least one byte of UTF-8, so this bounds the work below.
  const bytes = path.length > pathBytesMax ? path.length : Buffer.byteLength(path, "utf8");
  if (bytes > pathBytesMax) {
    throw invalid(path, `path is over the limit of ${pathBytesMax} bytes of UTF-8`);
  }
  const names: string[] = [];
  for (const name of path.split("/")) {
    if (name === "") continue;
    const problem = nameProblem(name);
    if (problem !== undefined) throw invalid(path, problem);
    names.push(name);
  }
  return names;
}

/**
 * Checks `path` and returns its normal form: `/`, or `/` followed by names joined by `/`,
 * with no trailing slash. Normalising a normal path returns it unchanged.
 *
 * @throws {BigFsError} `INVALID_PATH`, naming the path and the reason.
 */
export function normalizePath(path: string): string {
  return `/${splitPath(path).join("/")}`;
}
