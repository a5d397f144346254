/**
 * Values a hostile or broken peer puts in message fields: strings that try to leave a folder
 * or break a parser, numbers at the edges of their ranges, tokens that are almost right, and
 * values of the wrong type altogether.
 *
 * Every string here stays within the length its schema accepts (`messages.ts`) unless a caller
 * asks for a wrong-typed value, so that most fuzzed requests get past the decoder and reach
 * the daemon's handlers, where a hostile value does its damage if it can.
 */
import type { SeededRandom } from "./seeded_random.js";

/** Strings that name places outside a data folder, or break path and name handling. */
export const hostileStrings: readonly string[] = [
  "",
  ".",
  "..",
  "/",
  "//",
  "/..",
  "/../..",
  "/../../../../../../etc/passwd",
  "../escaped",
  "../../escaped",
  "escaped",
  "./escaped",
  "a/../../escaped",
  "/fuzz/..",
  "/fuzz/../..",
  "/fuzz/./x",
  "/fuzz//x",
  "/fuzz/x/",
  "/fuzz/x\0y",
  "\0",
  "/\0",
  "/fuzz/\0../../escaped",
  "/fuzz/\u0001\u001f\u007f",
  "/fuzz/line\nbreak",
  "/fuzz/tab\tx",
  "/fuzz/\r\n\r\n",
  "C:\\Windows\\escaped",
  "\\\\server\\share\\escaped",
  "..\\..\\escaped",
  "/fuzz/%2e%2e/%2fescaped",
  "~",
  "~/escaped",
  "$HOME/escaped",
  "/proc/self/mem",
  "/dev/null",
  "/dev/zero",
  "/tmp/escaped",
  "__proto__",
  "/__proto__",
  "/fuzz/__proto__",
  "constructor",
  "prototype",
  "hasOwnProperty",
  "%s%s%s%n",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the text a template would evaluate
  "${process.exit()}",
  "<script>alert(1)</script>",
  "\u202eevil",
  "\ufeff",
  "/fuzz/\u00e9\u0301",
  "/fuzz/\ud83d\ude00",
  `/fuzz/${"a".repeat(255)}`,
  `/fuzz/${"a".repeat(256)}`,
  `/fuzz/${"a".repeat(10_000)}`,
  `/${"a/".repeat(2_100)}`,
  `/${"../".repeat(1_000)}escaped`,
  "a".repeat(128),
  "a".repeat(256),
  "127.0.0.1:1",
  "127.0.0.1:0",
  "127.0.0.1:65536",
  "127.0.0.1:-1",
  "[::1]:1",
  "::1",
  ":",
  "host:port:extra",
  "localhost:1",
];

/** Unsigned integers at the edges of every width a decoder or a disk format might use. */
export const edgeUints: readonly number[] = [
  0,
  1,
  2,
  3,
  255,
  256,
  4095,
  4096,
  65_535,
  65_536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 40,
  2 ** 53 - 1,
];

/** 64-bit values at the edges. */
export const edgeU64s: readonly bigint[] = [
  0n,
  1n,
  2n,
  255n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 2n,
  2n ** 64n - 1n,
];

/** Extra strings a caller adds for one run, such as absolute paths inside its sandbox. */
export interface HostileContext {
  /** Strings worth trying in every string field, on top of {@linkcode hostileStrings}. */
  extraStrings?: readonly string[];
}

const alphabet = "abc/.\\~-_%:\0\n\u00e9\u4e2d\ud83d\ude00 ";

/** A string of at most `lengthMax` characters: from the list, or made up. */
export function hostileString(random: SeededRandom, lengthMax: number, context: HostileContext) {
  let value: string;
  const draw = random.below(10);
  if (draw < 6) value = random.pick(hostileStrings);
  else if (draw < 8 && context.extraStrings?.length) value = random.pick(context.extraStrings);
  else {
    const length = random.below(Math.min(lengthMax, 64) + 1);
    value = "";
    for (let index = 0; index < length; index++) value += alphabet[random.below(alphabet.length)];
    if (random.chance(0.5)) value = `/fuzz/${value}`;
  }
  return value.slice(0, lengthMax);
}

/** A non-negative safe integer, mostly at an edge. */
export function hostileUint(random: SeededRandom): number {
  return random.chance(0.8) ? random.pick(edgeUints) : random.below(2 ** 32);
}

/** A u64, mostly at an edge. */
export function hostileU64(random: SeededRandom): bigint {
  return random.chance(0.7) ? random.pick(edgeU64s) : random.u64();
}

/** A byte string of at most `bytesMax` bytes. */
export function hostileBytes(random: SeededRandom, bytesMax: number): Buffer {
  const sizes = [0, 1, 32, 57, 58, 59, 64, bytesMax];
  return random.bytes(Math.min(bytesMax, random.pick(sizes)));
}

/** A value of some type no schema field expects here: it must be refused, never served. */
export function wrongTypedValue(random: SeededRandom): unknown {
  switch (random.below(14)) {
    case 0:
      return null;
    case 1:
      return -1;
    case 2:
      return 1.5;
    case 3:
      return Number.NaN;
    case 4:
      return Number.POSITIVE_INFINITY;
    case 5:
      return -(2n ** 70n);
    case 6:
      return 2n ** 64n;
    case 7:
      return "not what it should be";
    case 8:
      return [];
    case 9:
      return { nested: { deeper: [1, 2, 3] } };
    case 10:
      return random.bytes(16);
    case 11:
      return true;
    case 12:
      return new Date(0);
    default: {
      let deep: unknown = 0;
      for (let depth = random.below(200); depth > 0; depth--) deep = [deep];
      return deep;
    }
  }
}
