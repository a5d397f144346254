/**
 * The seed of a fuzz run: the one given (to replay a failure), or a fresh random one.
 */
import { randomInt } from "node:crypto";

/** Parses `given` as a 32-bit seed, or draws one when it is absent or empty. */
export function fuzzSeed(given: string | undefined): number {
  if (given === undefined || given === "") return randomInt(0, 2 ** 32);
  const seed = Number(given);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new RangeError(
      `Cannot use fuzz seed ${JSON.stringify(given)}: not an integer in 0..2^32-1`,
    );
  }
  return seed;
}
