/**
 * Helpers for the namespace image (`_namespace_image.ts`): a writer that collects CBOR items
 * in blocks, and a reader of one record's fields.
 *
 * @module
 */
import { cbor } from "#protocol";
import { nameProblem, splitPath } from "./path.js";

const imageBlockBytes = 1 << 20;

/** Collects CBOR items into 1 MiB blocks, joined once at the end. */
export class ImageWriter {
  #blocks: Uint8Array[] = [];
  #block = new Uint8Array(imageBlockBytes);
  #used = 0;
  #total = 0;

  write(item: unknown): void {
    const bytes = cbor.encode(item);
    if (bytes.length > this.#block.length - this.#used) {
      this.#blocks.push(this.#block.subarray(0, this.#used));
      this.#block = new Uint8Array(Math.max(imageBlockBytes, bytes.length));
      this.#used = 0;
    }
    this.#block.set(bytes, this.#used);
    this.#used += bytes.length;
    this.#total += bytes.length;
  }

  finish(): Uint8Array {
    this.#blocks.push(this.#block.subarray(0, this.#used));
    const image = new Uint8Array(this.#total);
    let offset = 0;
    for (const block of this.#blocks) {
      image.set(block, offset);
      offset += block.length;
    }
    return image;
  }
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
