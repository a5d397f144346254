/**
 * Typed daemon configuration from command-line flags, parsed and checked once at start-up.
 *
 * A daemon declares its flags as a {@linkcode ConfigSpec}; {@linkcode parseConfig} turns
 * `process.argv.slice(2)` into a typed, frozen object or throws a {@linkcode ConfigError}
 * naming the flag and the value. Flags are written `--name value` or `--name=value`; a
 * boolean flag is `--name` alone or `--name=true`/`--name=false`, never `--name false`.
 * There are no short flags and no positional arguments.
 *
 * @example
 * ```ts
 * const spec = {
 *   dataDir: { flag: "data-dir", type: "path", required: true },
 *   port: { flag: "port", type: "port", default: 9000 },
 * } as const;
 * const config = parseConfig(spec, process.argv.slice(2)); // { dataDir: string; port: number }
 * ```
 */
import { resolve } from "node:path";
import { formatDuration, parseDuration } from "./duration.js";
import { formatSize, parseSize } from "./size.js";

/** A network address from a `hostport` flag; an IPv6 host comes without its brackets. */
export interface HostPort {
  /** A host name or an IP address, such as `"127.0.0.1"` or `"::1"`. */
  host: string;
  /** A port number from 0 to 65535. */
  port: number;
}

/** The value each flag type parses to. */
export interface FlagValues {
  /** Any non-empty text. */
  string: string;
  /** A file system path, resolved to an absolute path. */
  path: string;
  /** A safe integer, within the spec's `min` and `max` when given. */
  integer: number;
  /** An integer from 0 to 65535. */
  port: number;
  /** Bytes, written as {@linkcode parseSize} reads them: `64MiB`. */
  size: number;
  /** Milliseconds, written as {@linkcode parseDuration} reads them: `10s`. */
  duration: number;
  /** `host:port`, or `[ipv6]:port`. */
  hostport: HostPort;
  /** `--flag` alone is true; absent is false unless the spec's `default` says otherwise. */
  boolean: boolean;
}

/** The name of a flag type, such as `"size"`. */
export type FlagType = keyof FlagValues;

/** The part of a flag's spec that every type shares. */
export interface FlagSpecOf<T extends FlagType> {
  /** The flag as written on the command line, without the leading `--`: `"data-dir"`. */
  readonly flag: string;
  /** What the value is parsed as. */
  readonly type: T;
  /** One line for the help text. */
  readonly description?: string;
  /** When true, start-up fails without the flag. */
  readonly required?: boolean;
  /** The value when the flag is not given. */
  readonly default?: FlagValues[T];
}

/** The spec of an `integer` flag, which may bound its value. */
export interface IntegerFlagSpec extends FlagSpecOf<"integer"> {
  /** The smallest value accepted. */
  readonly min?: number;
  /** The largest value accepted. */
  readonly max?: number;
}

/** The spec of one flag. */
export type FlagSpec =
  | FlagSpecOf<"string">
  | FlagSpecOf<"path">
  | IntegerFlagSpec
  | FlagSpecOf<"port">
  | FlagSpecOf<"size">
  | FlagSpecOf<"duration">
  | FlagSpecOf<"hostport">
  | FlagSpecOf<"boolean">;

/** A daemon's flags, keyed by the name each value has in the parsed config. */
export type ConfigSpec = { readonly [key: string]: FlagSpec };

/** True when a flag always has a value: it is required, has a default, or is a boolean. */
type AlwaysSet<F> = F extends { readonly required: true }
  ? true
  : F extends { readonly default: unknown }
    ? true
    : F extends { readonly type: "boolean" }
      ? true
      : false;

/** The parsed config for a spec: flags that may be absent are `T | undefined`. */
export type Config<S extends ConfigSpec> = {
  readonly [K in keyof S]: AlwaysSet<S[K]> extends true
    ? FlagValues[S[K]["type"]]
    : FlagValues[S[K]["type"]] | undefined;
};

/** Options for {@linkcode ConfigError}. */
export interface ConfigErrorOptions {
  /** The flag at fault, without the leading `--`, when there is one. */
  flag?: string;
  /** The value at fault, as given, when there is one. */
  value?: string;
  /** The error that led to this one. */
  cause?: unknown;
}

/** A bad command line: the message names the flag and the value, for the operator. */
export class ConfigError extends Error {
  /** The flag at fault, without the leading `--`, such as `"port"`. */
  readonly flag: string | undefined;
  /** The value at fault, as given on the command line. */
  readonly value: string | undefined;

  constructor(message: string, options: ConfigErrorOptions = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.name = "ConfigError";
    this.flag = options.flag;
    this.value = options.value;
  }
}

/** Options for {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /** The folder relative `path` values are resolved against. Defaults to `process.cwd()`. */
  cwd?: string;
}

const flagPattern = /^[a-z][a-z0-9-]*$/;

function checkSpec(spec: ConfigSpec): Map<string, [key: string, flag: FlagSpec]> {
  const byFlag = new Map<string, [string, FlagSpec]>();
  for (const [key, flag] of Object.entries(spec)) {
    const fail = (detail: string) => new TypeError(`Cannot use config spec "${key}": ${detail}`);
    if (!flagPattern.test(flag.flag)) throw fail(`bad flag name "${flag.flag}"`);
    if (byFlag.has(flag.flag)) throw fail(`flag --${flag.flag} is declared twice`);
    if (flag.required === true && flag.default !== undefined) {
      throw fail("a required flag cannot have a default");
    }
    if (("min" in flag || "max" in flag) && flag.type !== "integer") {
      throw fail("only integer flags take min and max");
    }
    byFlag.set(flag.flag, [key, flag]);
  }
  return byFlag;
}

/**
 * Parses command-line flags against a spec into a typed config.
 *
 * Flags with a default, booleans and `required` flags are always set in the result; the
 * others are `undefined` when not given.
 *
 * @throws {ConfigError} for an unknown, repeated or required-but-missing flag, a missing or
 * bad value, or a positional argument.
 * @throws {TypeError} for a broken spec, which is a bug in the daemon.
 */
export function parseConfig<const S extends ConfigSpec>(
  spec: S,
  argv: readonly string[],
  options: ParseConfigOptions = {},
): Config<S> {
  const byFlag = checkSpec(spec);
  const given = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (!argument.startsWith("--") || argument === "--") {
      const previous = argv[index - 1];
      const hint =
        previous !== undefined && byFlag.get(previous.slice(2))?.[1].type === "boolean"
          ? `; write ${previous}=${argument} to set a boolean flag`
          : "";
      throw new ConfigError(
        `Unexpected argument ${JSON.stringify(argument)}: only --flags are accepted${hint}`,
        { value: argument },
      );
    }
    const equals = argument.indexOf("=");
    const name = equals === -1 ? argument.slice(2) : argument.slice(2, equals);
    const entry = byFlag.get(name);
    if (entry === undefined) {
      const closest = closestFlag(name, [...byFlag.keys()]);
      const hint = closest === undefined ? "" : `: did you mean --${closest}?`;
      throw new ConfigError(`Unknown flag --${name}${hint}`, { flag: name });
    }
    let value: string;
    if (equals !== -1) value = argument.slice(equals + 1);
    else if (entry[1].type === "boolean") value = "true";
    else {
      const next = argv[index + 1];
      if (next === undefined || next.startsWith("--")) {
        throw new ConfigError(`Missing value for --${name}`, { flag: name });
      }
      value = next;
      index += 1;
    }
    const earlier = given.get(name);
    if (earlier !== undefined) {
      throw new ConfigError(
        `Repeated flag --${name}: given ${JSON.stringify(earlier)}, then ${JSON.stringify(value)}`,
        { flag: name, value },
      );
    }
    given.set(name, value);
  }
  const config: Record<string, unknown> = {};
  for (const [name, [key, flag]] of byFlag) {
    const value = given.get(name);
    if (value !== undefined) config[key] = parseValue(flag, value, options);
    else if (flag.required === true) {
      throw new ConfigError(`Missing required flag --${name}`, { flag: name });
    } else config[key] = flag.default ?? (flag.type === "boolean" ? false : undefined);
  }
  return Object.freeze(config) as Config<S>;
}

const integerPattern = /^-?\d+$/;
const portPattern = /^\d{1,5}$/;
const hostPortPattern = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;

function parsePort(text: string): number | undefined {
  const port = portPattern.test(text) ? Number(text) : Number.NaN;
  return port <= 65535 ? port : undefined;
}

/** Why a unit parser refused: its message without the `Cannot parse ... "value": ` part. */
function unitDetail(error: unknown, prefix: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

function parseValue(flag: FlagSpec, value: string, options: ParseConfigOptions): unknown {
  const quoted = JSON.stringify(value);
  const fail = (detail: string, cause?: unknown): never => {
    const message = `Invalid value for --${flag.flag}: ${quoted} ${detail}`;
    const fields = { flag: flag.flag, value };
    throw new ConfigError(message, cause === undefined ? fields : { ...fields, cause });
  };
  if (value === "") return fail("is empty");
  switch (flag.type) {
    case "string":
      return value;
    case "path":
      return resolve(options.cwd ?? process.cwd(), value);
    case "integer": {
      const min = flag.min ?? Number.MIN_SAFE_INTEGER;
      const max = flag.max ?? Number.MAX_SAFE_INTEGER;
      const number = integerPattern.test(value) ? Number(value) : Number.NaN;
      if (Number.isSafeInteger(number) && number >= min && number <= max) return number;
      const range = formatRange(flag);
      return fail(`is not an integer${range === undefined ? "" : ` (${range})`}`);
    }
    case "port":
      return parsePort(value) ?? fail("is not a port number (0-65535)");
    case "size":
      try {
        return parseSize(value);
      } catch (error) {
        return fail(`is not a size: ${unitDetail(error, `Cannot parse size ${quoted}: `)}`, error);
      }
    case "duration":
      try {
        return parseDuration(value);
      } catch (error) {
        const detail = unitDetail(error, `Cannot parse duration ${quoted}: `);
        return fail(`is not a duration: ${detail}`, error);
      }
    case "hostport": {
      const match = hostPortPattern.exec(value);
      const port = parsePort(match?.[3] ?? "");
      if (match === null || port === undefined) {
        return fail("is not a host:port address (such as 127.0.0.1:9000 or [::1]:9000)");
      }
      return { host: match[1] ?? match[2] ?? "", port } satisfies HostPort;
    }
    case "boolean":
      if (value === "true" || value === "false") return value === "true";
      return fail("is not a boolean (true or false)");
  }
}

/** The known flag nearest to a mistyped one, when it is near enough to be what was meant. */
function closestFlag(name: string, flags: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const flag of flags) {
    const distance = editDistance(name, flag);
    if (distance < bestDistance) [best, bestDistance] = [flag, distance];
  }
  return best;
}

/** Levenshtein distance, one row at a time; flag names are short. */
function editDistance(from: string, to: string): number {
  let previous = Array.from({ length: to.length + 1 }, (_, index) => index);
  for (let i = 1; i <= from.length; i++) {
    const current = [i];
    for (let j = 1; j <= to.length; j++) {
      const substitution = previous[j - 1]! + (from[i - 1] === to[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[to.length]!;
}

function formatRange(flag: IntegerFlagSpec): string | undefined {
  if (flag.min !== undefined && flag.max !== undefined) return `${flag.min} to ${flag.max}`;
  if (flag.min !== undefined) return `at least ${flag.min}`;
  if (flag.max !== undefined) return `at most ${flag.max}`;
  return undefined;
}

function formatPlaceholder(flag: FlagSpec): string {
  if (flag.type === "boolean") return "";
  return flag.type === "hostport" ? " <host:port>" : ` <${flag.type}>`;
}

function formatDefault(flag: FlagSpec): string {
  switch (flag.type) {
    case "size":
      return flag.default === undefined ? "" : formatSize(flag.default);
    case "duration":
      return flag.default === undefined ? "" : formatDuration(flag.default);
    case "hostport": {
      if (flag.default === undefined) return "";
      const { host, port } = flag.default;
      return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    }
    default:
      return flag.default === undefined ? "" : String(flag.default);
  }
}

/**
 * Renders the help text for a spec: one line per flag with its value type, description,
 * bounds and default, or `(required)`.
 *
 * @example
 * ```text
 *   --data-dir <path>       Where chunks are stored (required)
 *   --chunk-size <size>     Bytes per chunk (default: 64 MiB)
 *   --recover               Repair the edit log and stop (default: false)
 * ```
 */
export function formatUsage(spec: ConfigSpec): string {
  const rows = Object.values(spec).map((flag) => {
    const left = `--${flag.flag}${formatPlaceholder(flag)}`;
    const notes: string[] = [];
    if (flag.description !== undefined) notes.push(flag.description);
    const range = flag.type === "integer" ? formatRange(flag) : undefined;
    if (range !== undefined) notes.push(`(${range})`);
    if (flag.required === true) notes.push("(required)");
    const defaultText = formatDefault(flag);
    if (defaultText !== "" || flag.type === "boolean") {
      notes.push(`(default: ${defaultText === "" ? "false" : defaultText})`);
    }
    return [left, notes.join(" ")] as const;
  });
  const width = Math.max(0, ...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`.trimEnd()).join("\n");
}
