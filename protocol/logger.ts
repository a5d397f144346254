/**
 * The logger every BigFS daemon writes with: pino JSON lines carrying the daemon's `name`.
 *
 * BigFS ids (chunk ids, generation stamps, transaction ids) are bigints. `JSON.stringify`
 * throws on a bigint, and pino's fallback then writes it as a bare JSON number, which most
 * readers (`JSON.parse`, `jq`) round to the nearest double. So bigints are written as
 * decimal strings instead, wherever they sit in a logged object: at the top level, nested
 * in plain objects and arrays, in child logger bindings and in the own fields of a logged
 * `err`. The walk only looks inside plain objects and arrays (never into a `Buffer` or a
 * class instance) and copies only what holds a bigint, so a log call without one allocates
 * nothing extra.
 */
import { type DestinationStream, type Level, type Logger, pino } from "pino";

export type { Logger } from "pino";

/** The levels a BigFS logger can be set to, quietest last. */
export const logLevels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** One of {@linkcode logLevels}. */
export type LogLevel = Level | "silent";

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** The daemon's name, written as the `name` field of every line, such as `"namenode"`. */
  name: string;
  /**
   * The lowest level written. Defaults to the `BIGFS_LOG_LEVEL` environment variable, or
   * `"info"` when that is unset or empty.
   */
  level?: LogLevel;
  /** Where lines go: a file descriptor or a writable stream. Defaults to stdout (fd 1). */
  destination?: number | DestinationStream | NodeJS.WritableStream;
  /** The environment to read `BIGFS_LOG_LEVEL` from. Defaults to `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

// Deeper than this, values are left as they are; pino's own fallback then handles them.
const depthMax = 8;

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Returns `value` with every bigint inside plain objects and arrays turned into a string. */
function withBigIntsAsStrings(value: unknown, depth: number): unknown {
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object" || value === null || depth >= depthMax) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      const replaced = withBigIntsAsStrings(item, depth + 1);
      if (replaced !== item) {
        copy ??= value.slice();
        copy[index] = replaced;
      }
    }
    return copy ?? value;
  }
  if (!isPlainObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    const item = value[key];
    const replaced = withBigIntsAsStrings(item, depth + 1);
    if (replaced !== item) {
      copy ??= { ...value };
      copy[key] = replaced;
    }
  }
  return copy ?? value;
}

function bigIntsAsStrings<T extends Record<string, unknown>>(object: T): T {
  return withBigIntsAsStrings(object, 0) as T;
}

/** pino's `err` serializer, then bigints in the serialized error's own fields as strings. */
function serializeError(error: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(error as Error);
  // Something that is not an error comes back as it was: walk it like any other value.
  if (serialized === error) return withBigIntsAsStrings(serialized, 0);
  // Otherwise pino made a fresh object (not a plain one) that is ours to change in place.
  const fields = serialized as Record<string, unknown>;
  for (const key of Object.keys(fields)) fields[key] = withBigIntsAsStrings(fields[key], 1);
  return fields;
}

function resolveLevel(options: LoggerOptions): LogLevel {
  const fromEnv = (options.env ?? process.env).BIGFS_LOG_LEVEL;
  const level = options.level ?? (fromEnv === undefined || fromEnv === "" ? "info" : fromEnv);
  if (!(logLevels as readonly string[]).includes(level)) {
    const source = options.level === undefined ? "BIGFS_LOG_LEVEL" : "level";
    throw new RangeError(
      `Cannot create logger: ${source} "${level}" is not one of ${logLevels.join(", ")}`,
    );
  }
  return level as LogLevel;
}

/**
 * Creates a pino logger that writes JSON lines with the daemon's `name`, the standard pino
 * fields (`level`, `time`, `pid`, `hostname`, `msg`) and bigints as decimal strings.
 *
 * @example
 * ```ts
 * const log = createLogger({ name: "datanode" });
 * log.info({ chunkId: 7n, durationMs: 3 }, "chunk written");
 * // {"level":30,"time":…,"pid":…,"hostname":…,"name":"datanode","chunkId":"7",
 * //  "durationMs":3,"msg":"chunk written"}
 * ```
 *
 * @throws {RangeError} when the level, given or from `BIGFS_LOG_LEVEL`, is not a level.
 */
export function createLogger(options: LoggerOptions): Logger {
  const destination =
    typeof options.destination === "number" || options.destination === undefined
      ? pino.destination({ dest: options.destination ?? 1, sync: true })
      : (options.destination as DestinationStream);
  const logger = pino(
    {
      name: options.name,
      level: resolveLevel(options),
      formatters: { log: bigIntsAsStrings, bindings: bigIntsAsStrings },
      serializers: { err: serializeError },
    },
    destination,
  );
  // pino applies `formatters.bindings` to the root logger's bindings only, so a child's
  // bindings are converted here. Children inherit from their parent, grandchildren too.
  const child = logger.child;
  logger.child = function childWithBigIntsAsStrings(this: Logger, bindings, childOptions) {
    return child.call(this, bigIntsAsStrings(bindings), childOptions);
  } as typeof child;
  return logger;
}
