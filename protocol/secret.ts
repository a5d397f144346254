/**
 * Loading the cluster secret that every BigFS process shares: the raw bytes of a file, so any
 * bytes can be a secret, with one trailing newline trimmed because editors and `echo` add one.
 */
import { readFile } from "node:fs/promises";
import { secretBytesMin } from "./handshake.js";

/**
 * Reads the cluster secret from the file at `path`: its raw bytes, without one trailing `\n`
 * or `\r\n`.
 *
 * @throws {Error} when the file cannot be read or holds fewer than 16 bytes; the message names
 * the file and says why.
 */
export async function loadSecret(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "it is a folder"
            : (error as Error).message;
    throw new Error(`Cannot load the cluster secret from ${path}: ${why}`, { cause: error });
  }
  let end = bytes.byteLength;
  if (end > 0 && bytes[end - 1] === 0x0a) end -= 1;
  if (end > 0 && bytes[end - 1] === 0x0d && end < bytes.byteLength) end -= 1;
  if (end < secretBytesMin) {
    throw new Error(
      `Cannot load the cluster secret from ${path}: it holds ${end} bytes, at least ${secretBytesMin} are needed`,
    );
  }
  return bytes.subarray(0, end);
}
