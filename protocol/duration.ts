/**
 * Durations as people write them in flags and read them in logs: `500ms`, `10s`, `1m30s`.
 *
 * The units are `ms`, `s`, `m`, `h` and `d`, case-insensitive. Parts may be combined in the
 * manner of Go's `time.ParseDuration` (`1h30m`, `1m0.5s`). A plain number is milliseconds,
 * the unit every BigFS name ending in `Ms` uses.
 *
 * Note that Node.js timers fire at once for delays above 2^31 - 1 ms (about 24.8 days); a
 * caller that hands a long duration to `setTimeout` must bound it there.
 */

const unitMs: ReadonlyMap<string, bigint> = new Map([
  ["ms", 1n],
  ["s", 1_000n],
  ["m", 60_000n],
  ["h", 3_600_000n],
  ["d", 86_400_000n],
]);

const plainPattern = /^\d+$/;
// One part: a number and a unit. Sticky, so parts must follow each other with nothing between.
const partPattern = /(\d+(?:\.\d+)?|\.\d+)([a-z]+)/iy;
const textLengthMax = 64;
const expected =
  "expected a number of milliseconds or a number with a unit (ms, s, m, h, d), such as 1m30s";

/**
 * Parses a duration such as `"500ms"`, `"10s"`, `"1.5s"`, `"2m"`, `"1h30m"` or `"250"`
 * (milliseconds) into milliseconds.
 *
 * A fraction is allowed when the result is a whole number of milliseconds (`"1.5s"` is
 * 1500, `"0.5ms"` is refused). The result is at most `Number.MAX_SAFE_INTEGER`.
 *
 * @throws {RangeError} when `text` is not such a duration; the message names the value.
 */
export function parseDuration(text: string): number {
  const fail = (detail: string): never => {
    throw new RangeError(`Cannot parse duration ${JSON.stringify(text)}: ${detail}`);
  };
  if (text.length === 0 || text.length > textLengthMax) return fail(expected);
  let totalMs = 0n;
  if (plainPattern.test(text)) {
    totalMs = BigInt(text);
  } else {
    partPattern.lastIndex = 0;
    while (partPattern.lastIndex < text.length) {
      const match = partPattern.exec(text);
      if (match === null) return fail(expected);
      const [, number = "", unitText = ""] = match;
      const multiplier = unitMs.get(unitText.toLowerCase());
      if (multiplier === undefined) return fail(`unknown unit "${unitText}"; ${expected}`);
      // Exact arithmetic: "0.3s" is 300 ms, not 299.99999999999994.
      const [whole = "", fraction = ""] = number.split(".");
      const scaled = BigInt(whole + fraction) * multiplier;
      const divisor = 10n ** BigInt(fraction.length);
      if (scaled % divisor !== 0n) return fail("not a whole number of milliseconds");
      totalMs += scaled / divisor;
    }
  }
  if (totalMs > BigInt(Number.MAX_SAFE_INTEGER)) {
    return fail(`longer than ${Number.MAX_SAFE_INTEGER} ms`);
  }
  return Number(totalMs);
}

const formatUnits = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
] as const;

/**
 * Formats milliseconds for people and for {@linkcode parseDuration}: `"0ms"`, `"500ms"`,
 * `"1.5s"`, `"1m30s"`, `"2h"`, `"1d2h3m4.005s"`. Parts that are zero are left out; a
 * fraction of a millisecond is rounded.
 *
 * @throws {RangeError} when `ms` is negative or not finite.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`Cannot format duration ${ms}: expected a non-negative number of ms`);
  }
  let restMs = Math.round(ms);
  if (restMs < 1_000) return `${restMs}ms`;
  let text = "";
  for (const [unit, sizeMs] of formatUnits) {
    if (restMs >= sizeMs) {
      text += `${Math.floor(restMs / sizeMs)}${unit}`;
      restMs %= sizeMs;
    }
  }
  if (restMs > 0) text += `${restMs / 1_000}s`;
  return text;
}
