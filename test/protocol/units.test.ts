import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatDuration, parseDuration } from "../../protocol/duration.js";
import { formatSize, parseSize } from "../../protocol/size.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

const goodSizes: [string, number][] = [
  ["0", 0],
  ["1048576", 1048576],
  ["512B", 512],
  ["512b", 512],
  ["1KiB", KiB],
  ["1kib", KiB],
  ["1K", KiB],
  ["1k", KiB],
  ["1Ki", KiB],
  ["64MiB", 64 * MiB],
  ["64M", 64 * MiB],
  ["64 MiB", 64 * MiB],
  ["2GiB", 2 * GiB],
  ["2g", 2 * GiB],
  ["3TiB", 3 * TiB],
  ["1PiB", 1024 * TiB],
  ["1.5KiB", 1536],
  ["1.5 GiB", 1.5 * GiB],
  [".5KiB", 512],
  ["0.25MiB", 256 * KiB],
  ["1.0", 1],
  ["9007199254740991", Number.MAX_SAFE_INTEGER],
];

test("sizes in bytes and binary units are read, case-insensitively", () => {
  for (const [text, bytes] of goodSizes) assert.is(parseSize(text), bytes, text);
});

const badSizes: [string, RegExp][] = [
  ["", /expected a number of bytes/],
  ["-1", /expected a number of bytes/],
  ["-1KiB", /expected a number of bytes/],
  ["NaN", /expected a number of bytes/],
  ["Infinity", /expected a number of bytes/],
  ["abc", /expected a number of bytes/],
  ["12Qb", /expected a number of bytes with an optional unit \(B, KiB, MiB, GiB, TiB, PiB\)/],
  ["64MiB ", /expected a number of bytes/],
  [" 64MiB", /expected a number of bytes/],
  ["64  MiB", /expected a number of bytes/],
  ["64MiBs", /expected a number of bytes/],
  ["1e6", /expected a number of bytes/],
  ["0x10", /expected a number of bytes/],
  ["1.", /expected a number of bytes/],
  ["1.2.3", /expected a number of bytes/],
  ["1,000", /expected a number of bytes/],
  ["1.5", /not a whole number of bytes/],
  ["0.1KiB", /not a whole number of bytes/],
  ["64MB", /"MB" is ambiguous, write "MiB"/],
  ["1kb", /"kb" is ambiguous, write "KiB"/],
  ["2GB", /"GB" is ambiguous, write "GiB"/],
  ["9007199254740992", /larger than 9007199254740991 bytes/],
  ["8PiB", /larger than/],
  ["1".repeat(65), /expected a number of bytes/],
];

test("a bad size is refused with a RangeError naming the value and what is accepted", () => {
  for (const [text, detail] of badSizes) {
    assert.throws(
      () => parseSize(text),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message.startsWith(`Cannot parse size ${JSON.stringify(text)}: `) &&
        detail.test(error.message),
      text,
    );
  }
});

test("a size with an unknown unit is refused, naming the value", () => {
  assert.throws(
    () => parseSize("12Qb"),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        'Cannot parse size "12Qb": expected a number of bytes with an optional unit (B, KiB, MiB, GiB, TiB, PiB)',
  );
});

test("sizes are formatted in the largest unit with at most two decimals", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [512, "512 B"],
    [1023, "1023 B"],
    [KiB, "1 KiB"],
    [1536, "1.5 KiB"],
    [64 * MiB, "64 MiB"],
    [1.5 * GiB, "1.5 GiB"],
    [GiB + 1, "1 GiB"],
    [MiB - 1, "1 MiB"],
    [4 * TiB, "4 TiB"],
    [2048 * TiB, "2 PiB"],
    [Number.MAX_SAFE_INTEGER, "8 PiB"],
  ];
  for (const [bytes, text] of cases) assert.is(formatSize(bytes), text, String(bytes));
});

test("a formatted whole-unit size reads back to the same bytes", () => {
  for (const bytes of [0, 512, KiB, 1536, 64 * MiB, 1.5 * GiB, 3 * TiB]) {
    assert.is(parseSize(formatSize(bytes)), bytes);
  }
});

test("a negative or non-finite size cannot be formatted", () => {
  for (const bytes of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => formatSize(bytes), RangeError);
  }
});

const goodDurations: [string, number][] = [
  ["0", 0],
  ["250", 250],
  ["500ms", 500],
  ["500MS", 500],
  ["10s", 10_000],
  ["1.5s", 1_500],
  ["0.3s", 300],
  [".5s", 500],
  ["2m", 120_000],
  ["1h", 3_600_000],
  ["1d", 86_400_000],
  ["1m30s", 90_000],
  ["1h30m", 5_400_000],
  ["1m0.5s", 60_500],
  ["1s500ms", 1_500],
  ["9007199254740991", Number.MAX_SAFE_INTEGER],
];

test("durations in milliseconds and with units are read; a plain number is milliseconds", () => {
  for (const [text, ms] of goodDurations) assert.is(parseDuration(text), ms, text);
});

const badDurations: [string, RegExp][] = [
  ["", /expected a number of milliseconds or a number with a unit/],
  ["-1s", /expected a number of milliseconds/],
  ["-5", /expected a number of milliseconds/],
  ["s", /expected a number of milliseconds/],
  ["10 s", /expected a number of milliseconds/],
  ["10s ", /expected a number of milliseconds/],
  ["1m30", /expected a number of milliseconds/],
  ["1.5", /expected a number of milliseconds/],
  ["NaN", /expected a number of milliseconds/],
  ["10sec", /unknown unit "sec"/],
  ["3w", /unknown unit "w"/],
  ["0.5ms", /not a whole number of milliseconds/],
  ["0.0001s", /not a whole number of milliseconds/],
  ["9007199254740992", /longer than 9007199254740991 ms/],
  ["1".repeat(65), /expected a number of milliseconds/],
];

test("a bad duration is refused with a RangeError naming the value", () => {
  for (const [text, detail] of badDurations) {
    assert.throws(
      () => parseDuration(text),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message.startsWith(`Cannot parse duration ${JSON.stringify(text)}: `) &&
        detail.test(error.message),
      text,
    );
  }
});

test("durations are formatted from days down to milliseconds, leaving out zero parts", () => {
  const cases: [number, string][] = [
    [0, "0ms"],
    [500, "500ms"],
    [999, "999ms"],
    [1_000, "1s"],
    [1_500, "1.5s"],
    [10_000, "10s"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [3_630_000, "1h30s"],
    [93_784_005, "1d2h3m4.005s"],
    [0.4, "0ms"],
  ];
  for (const [ms, text] of cases) assert.is(formatDuration(ms), text, String(ms));
});

test("a formatted duration reads back to the same milliseconds", () => {
  for (const ms of [0, 1, 999, 1_000, 1_001, 61_234, 3_600_000, 93_784_005]) {
    assert.is(parseDuration(formatDuration(ms)), ms);
  }
});

test("a negative or non-finite duration cannot be formatted", () => {
  for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => formatDuration(ms), RangeError);
  }
});

test.run();
