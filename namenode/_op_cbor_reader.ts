/**
 * A fast reader for the edit log's operations as `encodeOp` writes them: one flat CBOR map,
 * the key `op` first, then the op's fields in their fixed order. Replaying a log of millions
 * of records spent most of its time in the general decoder and in checking its output; this
 * matches the expected keys in place and reads each value as its field's kind, so a record
 * costs one object and its values.
 *
 * It accepts only what reads the same through cbor-x (the codec that wrote the records, see
 * `protocol/frame.ts`) followed by the op's field checks: a 64-bit integer as a bigint, a
 * shorter one as a number, a float64 holding a whole number, `true`/`false`, ASCII text.
 * Anything else (keys in another order, other types, a float32, non-ASCII text, a value the
 * checks refuse, bytes left over) returns `undefined`, and the caller decodes and checks the
 * record the general way, which also words the error.
 *
 * @module
 */

/** What a field of an op holds. */
export type FieldKind = "string" | "boolean" | "uint" | "u64";

/** The fields of each op kind, in the order `encodeOp` writes them. */
export type OpFieldLists = ReadonlyMap<string, readonly (readonly [string, FieldKind])[]>;

/** Longer text is left to the general decoder. */
const textLengthMax = 4096;

/** The op in `bytes` with its fields checked, or `undefined` (see the module doc). */
export function readOp(
  bytes: Uint8Array,
  fieldLists: OpFieldLists,
): Record<string, unknown> | undefined {
  const reader = new Reader(bytes);
  const entries = reader.head(0xa0);
  if (entries === undefined || !reader.key("op")) return undefined;
  let kind: string | undefined;
  for (const candidate of fieldLists.keys()) {
    if (reader.key(candidate)) {
      kind = candidate;
      break;
    }
  }
  const fields = kind === undefined ? undefined : fieldLists.get(kind);
  if (fields === undefined || entries !== fields.length + 1) return undefined;
  const op: Record<string, unknown> = { op: kind };
  for (const [field, fieldKind] of fields) {
    if (!reader.key(field)) return undefined;
    const value = reader.value(fieldKind);
    if (value === undefined) return undefined;
    op[field] = value;
  }
  return reader.atEnd() ? op : undefined;
}

/** Reads items one after another; each method returns `undefined` or false for a mismatch. */
class Reader {
  #position = 0;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  atEnd(): boolean {
    return this.#position === this.#bytes.byteLength;
  }

  /** The argument of a head of major type `major` (0xa0 map, 0x60 text, 0x00 uint). */
  head(major: number): number | undefined {
    const at = this.#position;
    const view = this.#view;
    if (at >= view.byteLength) return undefined;
    const low = view.getUint8(at) - major;
    if (low < 0 || low > 0x1a) return undefined;
    let value: number;
    let size = 0;
    if (low <= 0x17) value = low;
    else if (low === 0x18 && at + 2 <= view.byteLength) {
      value = view.getUint8(at + 1);
      size = 1;
    } else if (low === 0x19 && at + 3 <= view.byteLength) {
      value = view.getUint16(at + 1);
      size = 2;
    } else if (low === 0x1a && at + 5 <= view.byteLength) {
      value = view.getUint32(at + 1);
      size = 4;
    } else return undefined;
    this.#position = at + 1 + size;
    return value;
  }

  /** True, having read it, when the next item is the ASCII text `text`. */
  key(text: string): boolean {
    const start = this.#position;
    const length = this.head(0x60);
    if (length === text.length && this.#position + length <= this.#bytes.byteLength) {
      let at = 0;
      while (at < length && this.#bytes[this.#position + at] === text.charCodeAt(at)) at++;
      if (at === length) {
        this.#position += length;
        return true;
      }
    }
    this.#position = start;
    return false;
  }

  value(kind: FieldKind): unknown {
    const at = this.#position;
    const view = this.#view;
    if (at >= view.byteLength) return undefined;
    const initial = view.getUint8(at);
    switch (kind) {
      case "boolean":
        if (initial !== 0xf4 && initial !== 0xf5) return undefined;
        this.#position = at + 1;
        return initial === 0xf5;
      case "string":
        return this.#text();
      case "uint":
        if (initial === 0xfb && at + 9 <= view.byteLength) {
          const value = view.getFloat64(at + 1);
          if (!Number.isSafeInteger(value) || value < 0) return undefined;
          this.#position = at + 9;
          return value;
        }
        return this.head(0x00);
      case "u64": {
        if (initial === 0x1b && at + 9 <= view.byteLength) {
          this.#position = at + 9;
          return view.getBigUint64(at + 1);
        }
        const small = this.head(0x00);
        return small === undefined ? undefined : BigInt(small);
      }
    }
  }

  /** An ASCII text string. */
  #text(): string | undefined {
    const start = this.#position;
    const length = this.head(0x60);
    const from = this.#position;
    if (length === undefined || length > textLengthMax || from + length > this.#bytes.byteLength) {
      this.#position = start;
      return undefined;
    }
    const bytes = this.#bytes;
    for (let at = from; at < from + length; at++) {
      if (bytes[at]! >= 0x80) {
        this.#position = start;
        return undefined;
      }
    }
    this.#position = from + length;
    return String.fromCharCode.apply(null, bytes.subarray(from, from + length) as never);
  }
}
