/**
 * Shapes of control messages, checked on arrival.
 *
 * A CBOR payload that decodes is not yet a message: a hostile or buggy peer can send a map
 * with a number where a path belongs, or a list of a million entries. Every control message
 * is run through its schema, which copies only the declared fields into a fresh object,
 * enforces bounds on strings, byte strings and lists, and turns CBOR's integer forms into
 * the type the code expects (`u64` fields become `bigint` whatever width they were sent in).
 * A mismatch is a `PROTOCOL` error naming the field.
 */
import { BigFsError } from "./errors.js";

/** A checker that turns an untrusted decoded value into a `T`, or throws `PROTOCOL`. */
export interface Schema<T> {
  /** What the schema accepts, for error messages. */
  readonly description: string;
  /** Returns `value` as a `T`; `at` names the field in the error. */
  parse(value: unknown, at: string): T;
}

/** The type a schema produces. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

/** A field that may be absent (or sent as `null`/`undefined`). */
export interface OptionalSchema<T> extends Schema<T> {
  readonly optional: true;
}

function mismatch(at: string, description: string, value: unknown): BigFsError {
  const got = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  return new BigFsError(
    "PROTOCOL",
    `Cannot decode message: ${at} must be ${description}, got ${got}`,
  );
}

const stringBytesDefaultMax = 64 * 1024;
const bytesDefaultMax = 64 * 1024;
const itemsDefaultMax = 100_000;

/** Options for {@linkcode string}. */
export interface StringOptions {
  /** Longest accepted string in UTF-16 code units; default 65536. */
  lengthMax?: number;
}

/** A string of bounded length. */
export function string(options: StringOptions = {}): Schema<string> {
  const lengthMax = options.lengthMax ?? stringBytesDefaultMax;
  const description = `a string of at most ${lengthMax} characters`;
  return {
    description,
    parse(value, at) {
      if (typeof value !== "string" || value.length > lengthMax) {
        throw mismatch(at, description, value);
      }
      return value;
    },
  };
}

/** `true` or `false`. */
export function boolean(): Schema<boolean> {
  const description = "a boolean";
  return {
    description,
    parse(value, at) {
      if (typeof value !== "boolean") throw mismatch(at, description, value);
      return value;
    },
  };
}

/** A non-negative safe integer (sizes, counts, milliseconds). */
export function uint(): Schema<number> {
  const description = "a non-negative integer";
  return {
    description,
    parse(value, at) {
      if (typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
        return Number(value);
      }
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
        throw mismatch(at, description, value);
      }
      return value;
    },
  };
}

const u64Max = (1n << 64n) - 1n;

/** An unsigned 64-bit integer (chunk ids, generations, checksums), always as a `bigint`. */
export function u64(): Schema<bigint> {
  const description = "an unsigned 64-bit integer";
  return {
    description,
    parse(value, at) {
      if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
        return BigInt(value);
      }
      if (typeof value === "bigint" && value >= 0n && value <= u64Max) return value;
      throw mismatch(at, description, value);
    },
  };
}

/** Options for {@linkcode bytes}. */
export interface BytesOptions {
  /** Largest accepted byte string; default 65536. */
  bytesMax?: number;
}

/** A byte string of bounded size. */
export function bytes(options: BytesOptions = {}): Schema<Uint8Array> {
  const bytesMax = options.bytesMax ?? bytesDefaultMax;
  const description = `a byte string of at most ${bytesMax} bytes`;
  return {
    description,
    parse(value, at) {
      if (!(value instanceof Uint8Array) || value.byteLength > bytesMax) {
        throw mismatch(at, description, value);
      }
      return value;
    },
  };
}

/** One of the given strings. */
export function oneOf<const T extends readonly string[]>(...choices: T): Schema<T[number]> {
  const description = `one of ${choices.map((choice) => JSON.stringify(choice)).join(", ")}`;
  const allowed = new Set<string>(choices);
  return {
    description,
    parse(value, at) {
      if (typeof value !== "string" || !allowed.has(value)) throw mismatch(at, description, value);
      return value as T[number];
    },
  };
}

/** Options for {@linkcode array}. */
export interface ArrayOptions {
  /** Most accepted items; default 100,000. */
  itemsMax?: number;
}

/** A list of items of one schema, of bounded length. */
export function array<T>(item: Schema<T>, options: ArrayOptions = {}): Schema<T[]> {
  const itemsMax = options.itemsMax ?? itemsDefaultMax;
  const description = `a list of at most ${itemsMax} items`;
  return {
    description,
    parse(value, at) {
      if (!Array.isArray(value) || value.length > itemsMax) throw mismatch(at, description, value);
      const result: T[] = new Array(value.length);
      for (let index = 0; index < value.length; index++) {
        result[index] = item.parse(value[index], `${at}[${index}]`);
      }
      return result;
    },
  };
}

/** Marks an object field as optional. */
export function optional<T>(inner: Schema<T>): OptionalSchema<T> {
  return { description: inner.description, optional: true, parse: inner.parse };
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends OptionalSchema<unknown> ? K : never;
}[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The type an object schema of `S` produces. */
export type ObjectOf<S extends Shape> = Simplify<
  { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

/** A map with the given fields; unknown fields are dropped, missing required ones refused. */
export function object<S extends Shape>(shape: S): Schema<ObjectOf<S>> {
  const description = "a map";
  const entries = Object.entries(shape);
  return {
    description,
    parse(value, at) {
      // Only a CBOR map decodes to a plain object; a byte string (Buffer), a tagged Date, Map
      // or Set is an object too, and would pass for a map with no required fields.
      const prototype = typeof value === "object" && value !== null && Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) {
        throw mismatch(at, description, value);
      }
      const source = value as Record<string, unknown>;
      const result: Record<string, unknown> = {};
      for (const [key, field] of entries) {
        const present = Object.hasOwn(source, key) && source[key] != null;
        if (!present) {
          if ("optional" in field) continue;
          throw new BigFsError("PROTOCOL", `Cannot decode message: ${at}.${key} is missing`);
        }
        result[key] = field.parse(source[key], `${at}.${key}`);
      }
      return result as ObjectOf<S>;
    },
  };
}
