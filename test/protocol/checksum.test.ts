import { randomBytes } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { verifyXxh64, Xxh64Stream, xxh64, xxh64Hex } from "../../protocol/checksum.js";
import { BigFsError } from "../../protocol/errors.js";

const text = (value: string) => new TextEncoder().encode(value);
// uvu calls a function given to assert.throws, so a bare class would match any error.
const isRangeError = (error: unknown) => error instanceof RangeError;

const patternOf = (length: number) =>
  Uint8Array.from({ length }, (_, index) => (index * 31 + 7) & 0xff);
// 1000 bytes, so the long-input path (32-byte stripes) and every tail length are covered.
const pattern = patternOf(1000);

// Reference values from the C library (libxxhash 0.8.1), not from the code under test.
const vectors: { name: string; bytes: Uint8Array; seed: bigint; hash: bigint }[] = [
  { name: "empty input", bytes: new Uint8Array(0), seed: 0n, hash: 0xef46db3751d8e999n },
  { name: '"a"', bytes: text("a"), seed: 0n, hash: 0xd24ec4f1a98c6e5bn },
  { name: '"abc"', bytes: text("abc"), seed: 0n, hash: 0x44bc2cf5ad770999n },
  { name: "empty input, seed 1", bytes: new Uint8Array(0), seed: 1n, hash: 0xd5afba1336a3be4bn },
  {
    name: '"abc", seed 0x9e3779b97f4a7c15',
    bytes: text("abc"),
    seed: 0x9e3779b97f4a7c15n,
    hash: 0x2ed0f59d6b43ac8bn,
  },
  { name: "1000-byte pattern", bytes: pattern, seed: 0n, hash: 0x99594f4828043d35n },
  {
    name: "1000-byte pattern, seed 2^64-1",
    bytes: pattern,
    seed: 2n ** 64n - 1n,
    hash: 0x44b2e23187d61c00n,
  },
  // xxh64 hashes inputs above 64 KiB in 64 KiB pieces: one exactly at the limit, one past it.
  { name: "64 KiB pattern", bytes: patternOf(65_536), seed: 0n, hash: 0xce06607392c5113fn },
  { name: "300001-byte pattern", bytes: patternOf(300_001), seed: 0n, hash: 0x9ef3c2c7e3cdf8a7n },
  {
    name: "300001-byte pattern, seed 12345",
    bytes: patternOf(300_001),
    seed: 12345n,
    hash: 0x560af61fdd5f1890n,
  },
];

test("xxh64 matches the reference implementation's test vectors", () => {
  for (const { name, bytes, seed, hash } of vectors) {
    assert.is(xxh64(bytes, seed), hash, name);
  }
});

test("a stream fed the same bytes matches the test vectors", () => {
  for (const { name, bytes, seed, hash } of vectors) {
    assert.is(new Xxh64Stream(seed).update(bytes).digest(), hash, name);
  }
});

test("verifyXxh64 accepts every test vector with seed 0", () => {
  for (const { name, bytes, seed, hash } of vectors) {
    if (seed === 0n) verifyXxh64(bytes, hash, name);
  }
});

test("a stream split at every byte offset equals the one-shot hash", () => {
  const expected = xxh64(pattern);
  for (let offset = 0; offset <= pattern.byteLength; offset++) {
    const stream = new Xxh64Stream();
    stream.update(pattern.subarray(0, offset)).update(pattern.subarray(offset));
    assert.is(stream.digest(), expected, `split at ${offset}`);
  }
});

test("a stream fed random pieces equals the one-shot hash over their concatenation", () => {
  for (let round = 0; round < 50; round++) {
    const bytes = randomBytes(1 + Math.floor(Math.random() * 200_000));
    const stream = new Xxh64Stream();
    let offset = 0;
    while (offset < bytes.byteLength) {
      const pieceBytes = Math.floor(Math.random() * 5_000);
      stream.update(bytes.subarray(offset, offset + pieceBytes));
      offset += pieceBytes;
    }
    assert.is(stream.byteLength, bytes.byteLength);
    assert.is(stream.digest(), xxh64(bytes), `round ${round}`);
  }
});

test("streams open at the same time do not disturb each other or the one-shot hash", () => {
  const first = new Xxh64Stream();
  const second = new Xxh64Stream(7n);
  for (let offset = 0; offset < pattern.byteLength; offset += 100) {
    first.update(pattern.subarray(offset, offset + 100));
    xxh64(randomBytes(300));
    second.update(pattern.subarray(offset, offset + 100));
  }
  assert.is(first.digest(), xxh64(pattern));
  assert.is(second.digest(), xxh64(pattern, 7n));
});

test("digest leaves the stream open for more bytes", () => {
  const stream = new Xxh64Stream().update(text("a"));
  assert.is(stream.digest(), 0xd24ec4f1a98c6e5bn);
  assert.is(stream.update(text("bc")).digest(), 0x44bc2cf5ad770999n);
});

test("a view into a larger buffer hashes only its own bytes", () => {
  const backing = new Uint8Array(pattern.byteLength + 64).fill(0xee);
  backing.set(pattern, 13);
  const view = backing.subarray(13, 13 + pattern.byteLength);
  assert.is(view.byteOffset, 13);
  assert.is(xxh64(view), 0x99594f4828043d35n);
  assert.is(new Xxh64Stream().update(view).digest(), 0x99594f4828043d35n);
  const abc = new Uint8Array([0xff, 0x61, 0x62, 0x63, 0xff]).subarray(1, 4);
  assert.is(xxh64(abc), 0x44bc2cf5ad770999n);
  verifyXxh64(abc, 0x44bc2cf5ad770999n, "a view");
});

test("a Buffer hashes like the Uint8Array with the same bytes", () => {
  assert.is(xxh64(Buffer.from("abc")), 0x44bc2cf5ad770999n);
});

test("xxh64Hex prints 16 lowercase hex digits, zero padded", () => {
  assert.is(xxh64Hex(0xef46db3751d8e999n), "ef46db3751d8e999");
  assert.is(xxh64Hex(0n), "0000000000000000");
  assert.is(xxh64Hex(0xabcn), "0000000000000abc");
  assert.is(xxh64Hex(2n ** 64n - 1n), "ffffffffffffffff");
  assert.throws(() => xxh64Hex(-1n), isRangeError);
  assert.throws(() => xxh64Hex(2n ** 64n), isRangeError);
});

test("a seed outside u64 is a bug and throws RangeError", () => {
  assert.throws(() => xxh64(pattern, -1n), isRangeError);
  assert.throws(() => new Xxh64Stream(2n ** 64n), isRangeError);
});

test("verifyXxh64 accepts bytes that match their checksum", () => {
  verifyXxh64(text("abc"), 0x44bc2cf5ad770999n, "chunk 1");
  verifyXxh64(new Uint8Array(0), 0xef46db3751d8e999n, "chunk 2");
});

test("verifyXxh64 refuses a flipped bit with CHECKSUM_MISMATCH naming both checksums", () => {
  const bytes = pattern.slice();
  bytes[500] = (bytes[500] ?? 0) ^ 0x01;
  try {
    verifyXxh64(bytes, 0x99594f4828043d35n, "chunk 42 offset 0");
    assert.unreachable("a corrupt chunk was accepted");
  } catch (error) {
    assert.instance(error, BigFsError);
    const { code, message } = error as BigFsError;
    assert.is(code, "CHECKSUM_MISMATCH");
    assert.is(
      message,
      `Checksum mismatch for chunk 42 offset 0: expected 99594f4828043d35, got ${xxh64Hex(xxh64(bytes))}`,
    );
  }
});

test("verifyXxh64 throws TypeError when the expected checksum is a number, not a bigint", () => {
  // A decoder that let a CBOR integer through as a number must fail loudly, not as corruption.
  assert.throws(
    () => verifyXxh64(text("abc"), 5 as unknown as bigint, "chunk 3"),
    (error: unknown) => error instanceof TypeError,
  );
});

test.run();
