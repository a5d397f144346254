/**
 * Finds a repeated 64-bit id among millions, for checking an image as it loads: the ids go
 * into one growing `BigUint64Array` (8 bytes each), which is sorted once at the end. A
 * `Set<bigint>` did the same with a hash of every bigint, which cost more than reading the
 * rest of the image, and several times the memory.
 *
 * @module
 */
export class UniqueIds {
  #ids = new BigUint64Array(1024);
  #count = 0;

  /** Adds `id`, a u64. */
  add(id: bigint): void {
    if (this.#count === this.#ids.length) {
      const grown = new BigUint64Array(this.#ids.length * 2);
      grown.set(this.#ids);
      this.#ids = grown;
    }
    this.#ids[this.#count++] = id;
  }

  /** Ids added so far. */
  get size(): number {
    return this.#count;
  }

  /** The smallest id added more than once, or `undefined` when every id is unique. */
  firstRepeated(): bigint | undefined {
    const ids = this.#ids.subarray(0, this.#count).sort();
    // Compared as 32-bit halves: reading a BigUint64Array element makes a bigint.
    const halves = new Uint32Array(ids.buffer, ids.byteOffset, ids.length * 2);
    for (let at = 2; at < halves.length; at += 2) {
      if (halves[at] === halves[at - 2] && halves[at + 1] === halves[at - 1]) return ids[at / 2];
    }
    return undefined;
  }
}
