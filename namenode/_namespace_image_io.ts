/**
 * Helpers for the namespace image (`_namespace_image.ts`): a writer that collects CBOR items
 * in blocks, and a reader of one record's fields.
 *
 * @module
 */
import { cbor, Xxh64Stream } from "#protocol";
import { nameProblem, splitPath } from "./path.js";

const imageBlockBytes = 1 << 20;
/** Bytes always free in a block before a value other than a string is written. */
const valueBytesMax = 9;
const twoPow32 = 2 ** 32;
const u64Limit = 1n << 64n;

/** An image as the blocks it was encoded into, never joined, with its length and xxh64. */
export interface ImageParts {
  parts: Uint8Array[];
  byteLength: number;
  xxh64: bigint;
}

/**
 * Encodes an image's items into 1 MiB blocks: joined at the end by `finish`, or handed out as
 * they are, hashed as each filled, by `finishParts` (a checkpoint's). The header goes through
 * cbor-x; records are written here value by value, exactly as cbor-x (with the protocol's
 * options) would write them, so images stay byte for byte what they were: a record of a
 * million-file image is then not an array built, encoded into a buffer of its own and copied
 * (which made a checkpoint at 1M files block the NameNode for about 1.5 s).
 */
export class ImageWriter {
  /** Hashes each block as it fills, for {@linkcode finishParts}; none for {@linkcode finish}. */
  readonly #hash: Xxh64Stream | undefined;
  #blocks: Uint8Array[] = [];
  #block = Buffer.allocUnsafe(imageBlockBytes);
  #view = viewOf(this.#block);
  #used = 0;
  #total = 0;

  /** With `hashed`, each block is hashed as it fills, a slice of the work at a time. */
  constructor(options: { hashed?: boolean } = {}) {
    this.#hash = options.hashed ? new Xxh64Stream() : undefined;
  }

  /** Writes any value through cbor-x (the header). */
  write(item: unknown): void {
    const bytes = cbor.encode(item);
    this.#room(bytes.length);
    this.#block.set(bytes, this.#used);
    this.#advance(bytes.length);
  }

  /** A CBOR array header for `length` items (the items follow). */
  arrayHeader(length: number): void {
    this.#head(0x80, length);
  }

  /** A number as cbor-x writes it: the shortest integer that holds it, else a float64. */
  number(value: number): void {
    this.#room(valueBytesMax);
    if (value >>> 0 === value) {
      this.#head(0x00, value);
    } else if (value >> 0 === value) {
      this.#head(0x20, -1 - value);
    } else if (value < 0 && value >= -twoPow32 && Math.floor(value) === value) {
      this.#block[this.#used] = 0x3a;
      this.#block.writeUInt32BE(-1 - value, this.#used + 1);
      this.#advance(5);
    } else {
      this.#block[this.#used] = 0xfb;
      this.#block.writeDoubleBE(value, this.#used + 1);
      this.#advance(9);
    }
  }

  /** An unsigned 64-bit integer, as cbor-x writes any bigint in 0..2^64-1: always 8 bytes. */
  u64(value: bigint): void {
    if (value < 0n || value >= u64Limit) {
      this.write(value);
      return;
    }
    this.#room(valueBytesMax);
    this.#block[this.#used] = 0x1b;
    this.#view.setBigUint64(this.#used + 1, value);
    this.#advance(9);
  }

  boolean(value: boolean): void {
    this.#room(1);
    this.#block[this.#used] = value ? 0xf5 : 0xf4;
    this.#advance(1);
  }

  /**
   * A text string, as cbor-x writes it: shorter than 64 UTF-16 units, its own UTF-8 encoder
   * (which writes a lone surrogate as three bytes); longer, Node's (which replaces one).
   */
  text(value: string): void {
    this.#room(5 + value.length * 3);
    const block = this.#block;
    const start = this.#used + 5;
    let length: number;
    if (value.length < 0x40) {
      let at = start;
      for (let index = 0; index < value.length; index++) {
        let code = value.charCodeAt(index);
        if (code < 0x80) {
          block[at++] = code;
        } else if (code < 0x800) {
          block[at++] = (code >> 6) | 0xc0;
          block[at++] = (code & 0x3f) | 0x80;
        } else if (
          (code & 0xfc00) === 0xd800 &&
          (value.charCodeAt(index + 1) & 0xfc00) === 0xdc00
        ) {
          code = 0x10000 + ((code & 0x03ff) << 10) + (value.charCodeAt(++index) & 0x03ff);
          block[at++] = (code >> 18) | 0xf0;
          block[at++] = ((code >> 12) & 0x3f) | 0x80;
          block[at++] = ((code >> 6) & 0x3f) | 0x80;
          block[at++] = (code & 0x3f) | 0x80;
        } else {
          block[at++] = (code >> 12) | 0xe0;
          block[at++] = ((code >> 6) & 0x3f) | 0x80;
          block[at++] = (code & 0x3f) | 0x80;
        }
      }
      length = at - start;
    } else {
      length = block.write(value, start, "utf8");
    }
    // Written after room for the longest header: moved back to follow the real one.
    const headerBytes = length < 0x18 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
    block.copyWithin(this.#used + headerBytes, start, start + length);
    this.#head(0x60, length);
    this.#advance(length);
  }

  /**
   * The image as its blocks, for a writer made `hashed`: nothing is joined or copied, and the
   * hash of all but the last block was taken as each filled.
   */
  finishParts(): ImageParts {
    if (this.#hash === undefined) throw new Error("finishParts needs a hashed ImageWriter");
    this.#pushBlock();
    return { parts: this.#blocks, byteLength: this.#total, xxh64: this.#hash.digest() };
  }

  /** The image joined into one array. */
  finish(): Uint8Array {
    this.#pushBlock();
    const image = new Uint8Array(this.#total);
    let offset = 0;
    for (const block of this.#blocks) {
      image.set(block, offset);
      offset += block.length;
    }
    return image;
  }

  /** A major type's head with the shortest argument for `value` (below 2^32). */
  #head(major: number, value: number): void {
    this.#room(5);
    const block = this.#block;
    const at = this.#used;
    if (value < 0x18) {
      block[at] = major | value;
      this.#advance(1);
    } else if (value < 0x100) {
      block[at] = major | 0x18;
      block[at + 1] = value;
      this.#advance(2);
    } else if (value < 0x10000) {
      block[at] = major | 0x19;
      block.writeUInt16BE(value, at + 1);
      this.#advance(3);
    } else {
      block[at] = major | 0x1a;
      block.writeUInt32BE(value, at + 1);
      this.#advance(5);
    }
  }

  /** Makes sure `bytes` fit in the current block, starting a new one if not. */
  #room(bytes: number): void {
    if (bytes <= this.#block.length - this.#used) return;
    this.#pushBlock();
    this.#block = Buffer.allocUnsafe(Math.max(imageBlockBytes, bytes));
    this.#view = viewOf(this.#block);
    this.#used = 0;
  }

  /** Ends the current block: kept, and hashed when the writer hashes. */
  #pushBlock(): void {
    const filled = this.#block.subarray(0, this.#used);
    this.#blocks.push(filled);
    this.#hash?.update(filled);
  }

  #advance(bytes: number): void {
    this.#used += bytes;
    this.#total += bytes;
  }
}

function viewOf(block: Uint8Array): DataView {
  return new DataView(block.buffer, block.byteOffset, block.byteLength);
}

/**
 * Reads one image record's fields, each checked, with errors naming the record. One reader
 * is reset for each record: an image may hold millions of them.
 */
export class RecordReader {
  #fields: readonly unknown[] = [];
  #start = 0;
  #at = 0;
  #index = 0;

  /** Reads `fields` from `start` on; they are record `index` of the image, kind first. */
  reset(fields: readonly unknown[], start: number, index: number): this {
    this.#fields = fields;
    this.#start = start;
    this.#at = start;
    this.#index = index;
    return this;
  }

  /** Names the record in errors. */
  get where(): string {
    return `record ${this.#index} (${String(this.#fields[0])})`;
  }

  fail(reason: string): never {
    throw new Error(`Cannot load namespace image: ${this.where}: ${reason}`);
  }
  #next(): unknown {
    const fields = this.#fields;
    if (this.#at >= fields.length) this.fail(`too few fields (${fields.length - this.#start})`);
    return fields[this.#at++];
  }
  uint(what: string): number {
    const value = this.#next();
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
    return this.fail(`${what} is not a whole number ≥ 0`);
  }
  u64(what: string, min: bigint, max: bigint): bigint {
    const value = this.#next();
    if (typeof value === "bigint" && value >= min && value <= max) return value;
    return this.fail(`${what} is not a 64-bit integer in ${min}..${max}`);
  }
  string(what: string): string {
    const value = this.#next();
    if (typeof value === "string") return value;
    return this.fail(`${what} is not a string`);
  }
  boolean(what: string): boolean {
    const value = this.#next();
    if (typeof value === "boolean") return value;
    return this.fail(`${what} is not a boolean`);
  }
  array(what: string): unknown[] {
    const value = this.#next();
    if (Array.isArray(value)) return value;
    return this.fail(`${what} is not an array`);
  }
  name(what: string): string {
    const value = this.string(what);
    // The common case checked directly; anything else goes through splitPath for its message.
    if (value !== "" && !value.includes("/") && nameProblem(value) === undefined) return value;
    let names: string[];
    try {
      names = splitPath(`/${value}`);
    } catch (error) {
      return this.fail((error as Error).message);
    }
    if (names.length !== 1 || names[0] !== value) this.fail(`${what} is not a valid name`);
    return value;
  }
  end(): void {
    const fields = this.#fields;
    if (this.#at !== fields.length) this.fail(`too many fields (${fields.length - this.#start})`);
  }
}
