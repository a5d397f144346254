/**
 * Byte sizes as people write them in flags and read them in logs: `64MiB`, `1.5 GiB`, `512`.
 *
 * Units are binary (1024-based) and case-insensitive: `B`, `K`/`Ki`/`KiB`, `M`/`Mi`/`MiB`,
 * `G`/`Gi`/`GiB`, `T`/`Ti`/`TiB`, `P`/`Pi`/`PiB`. The decimal-looking `KB`, `MB`, `GB`, `TB`
 * and `PB` are refused rather than guessed at: half the world means 1000 by them and the
 * other half 1024, and a chunk size of 64,000,000 bytes instead of 64 MiB is a silent,
 * costly mistake.
 */

const unitBytes: ReadonlyMap<string, bigint> = new Map([
  ["", 1n],
  ["b", 1n],
  ...["k", "ki", "kib"].map((unit) => [unit, 1n << 10n] as const),
  ...["m", "mi", "mib"].map((unit) => [unit, 1n << 20n] as const),
  ...["g", "gi", "gib"].map((unit) => [unit, 1n << 30n] as const),
  ...["t", "ti", "tib"].map((unit) => [unit, 1n << 40n] as const),
  ...["p", "pi", "pib"].map((unit) => [unit, 1n << 50n] as const),
]);

const ambiguousUnits: ReadonlyMap<string, string> = new Map([
  ["kb", "KiB"],
  ["mb", "MiB"],
  ["gb", "GiB"],
  ["tb", "TiB"],
  ["pb", "PiB"],
]);

// A number, an optional single space, then letters; the whole text must match.
const sizePattern = /^(\d+(?:\.\d+)?|\.\d+) ?([a-z]*)$/i;
const textLengthMax = 64;
const expected = "expected a number of bytes with an optional unit (B, KiB, MiB, GiB, TiB, PiB)";

/**
 * Parses a byte size such as `"1048576"`, `"64MiB"`, `"64m"`, `"1.5 GiB"` into bytes.
 *
 * A fraction is allowed when the result is a whole number of bytes (`"1.5KiB"` is 1536,
 * `"0.1KiB"` is refused). The result is at most `Number.MAX_SAFE_INTEGER`.
 *
 * @throws {RangeError} when `text` is not such a size; the message names the value.
 */
export function parseSize(text: string): number {
  const fail = (detail: string): never => {
    throw new RangeError(`Cannot parse size ${JSON.stringify(text)}: ${detail}`);
  };
  const match = text.length <= textLengthMax ? sizePattern.exec(text) : null;
  if (match === null) return fail(expected);
  const [, number = "", unitText = ""] = match;
  const unit = unitText.toLowerCase();
  const multiplier = unitBytes.get(unit);
  if (multiplier === undefined) {
    const binary = ambiguousUnits.get(unit);
    if (binary !== undefined) {
      return fail(`"${unitText}" is ambiguous, write "${binary}" for 1024-based units or bytes`);
    }
    return fail(expected);
  }
  // Exact arithmetic: 0.1 * 1024 must be refused, not rounded.
  const [whole = "", fraction = ""] = number.split(".");
  const scaled = BigInt(whole + fraction) * multiplier;
  const divisor = 10n ** BigInt(fraction.length);
  if (scaled % divisor !== 0n) return fail("not a whole number of bytes");
  const bytes = scaled / divisor;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    return fail(`larger than ${Number.MAX_SAFE_INTEGER} bytes`);
  }
  return Number(bytes);
}

const formatUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/**
 * Formats a byte count for people: `"512 B"`, `"64 MiB"`, `"1.5 GiB"`, with at most two
 * decimals. Whole multiples of a unit come out exact, so {@linkcode parseSize} reads them
 * back to the same number.
 *
 * @throws {RangeError} when `bytes` is negative or not finite.
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) {
    throw new RangeError(`Cannot format size ${bytes}: expected a non-negative number of bytes`);
  }
  let index = 0;
  let value = bytes;
  // Round first, so 1023.999 KiB becomes "1 MiB" rather than "1024 KiB".
  while (index < formatUnits.length - 1 && Math.round(value * 100) / 100 >= 1024) {
    value /= 1024;
    index += 1;
  }
  return `${Math.round(value * 100) / 100} ${formatUnits[index]}`;
}
