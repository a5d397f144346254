import { test } from "uvu";
import * as assert from "uvu/assert";
import { nameBytesMax, normalizePath, pathBytesMax, splitPath } from "../../namenode/path.js";
import { BigFsError } from "../../protocol/errors.js";

const good: [input: string, normal: string, names: string[]][] = [
  ["/", "/", []],
  ["//", "/", []],
  ["/a", "/a", ["a"]],
  ["/a/", "/a", ["a"]],
  ["/a//b///c/", "/a/b/c", ["a", "b", "c"]],
  ["/a b/c:d/e-f_g.h", "/a b/c:d/e-f_g.h", ["a b", "c:d", "e-f_g.h"]],
  ["/...", "/...", ["..."]],
  ["/.hidden/..x/x..", "/.hidden/..x/x..", [".hidden", "..x", "x.."]],
  ["/ünïcødé/日本語/😀", "/ünïcødé/日本語/😀", ["ünïcødé", "日本語", "😀"]],
  ["/tab\u0080ok", "/tab\u0080ok", ["tab\u0080ok"]],
  [`/${"a".repeat(nameBytesMax)}`, `/${"a".repeat(nameBytesMax)}`, ["a".repeat(nameBytesMax)]],
  // 85 × 3 bytes = 255 bytes of UTF-8.
  [`/${"語".repeat(85)}`, `/${"語".repeat(85)}`, ["語".repeat(85)]],
  [`/${"a/".repeat(2047)}b`, `/${"a/".repeat(2047)}b`, [...Array(2047).fill("a"), "b"]],
];

const bad: [input: string, reason: RegExp][] = [
  ["", /path is empty/],
  ["a/b", /not absolute/],
  ["./a", /not absolute/],
  ["/a/../b", /name "\.\." is not allowed/],
  ["/..", /name "\.\." is not allowed/],
  ["/a/.", /name "\." is not allowed/],
  ["/./a", /name "\." is not allowed/],
  ["/a\u0000b", /control character U\+0000/],
  ["/a\nb", /control character U\+000A/],
  ["/a\tb", /control character U\+0009/],
  ["/a\u001fb", /control character U\+001F/],
  ["/a\u007fb", /control character U\+007F/],
  ["/a\ud800b", /lone surrogate U\+D800/],
  ["/a\udc00", /lone surrogate U\+DC00/],
  [`/${"a".repeat(nameBytesMax + 1)}`, /is 256 bytes of UTF-8, over the limit of 255/],
  [`/${"語".repeat(86)}`, /is 258 bytes of UTF-8, over the limit of 255/],
  [`/${"a/".repeat(2047)}bc`, /over the limit of 4096 bytes/],
  [`/${"é".repeat(2048)}`, /over the limit of 4096 bytes/],
];

for (const [input, normal, names] of good) {
  test(`${JSON.stringify(input.slice(0, 40))} is valid and normalises to ${JSON.stringify(normal.slice(0, 40))}`, () => {
    assert.is(normalizePath(input), normal);
    assert.equal(splitPath(input), names);
    assert.is(normalizePath(normal), normal, "normalising twice changes nothing");
  });
}

for (const [input, reason] of bad) {
  test(`${JSON.stringify(input.slice(0, 40))} is refused: ${reason.source}`, () => {
    for (const check of [normalizePath, splitPath]) {
      try {
        check(input);
        assert.unreachable("should have thrown");
      } catch (error) {
        assert.instance(error, BigFsError);
        assert.is((error as BigFsError).code, "INVALID_PATH");
        assert.match((error as Error).message, /^Invalid path "/);
        assert.match((error as Error).message, reason);
      }
    }
  });
}

test("a path of exactly 4096 bytes is valid and one of 4097 is not", () => {
  const exact = `/${"a/".repeat(2047)}b`;
  assert.is(Buffer.byteLength(exact), pathBytesMax);
  assert.is(normalizePath(exact), exact);
  assert.throws(() => normalizePath(`${exact}c`), /over the limit of 4096 bytes/);
});

test("the error message escapes control characters and shortens huge paths", () => {
  try {
    normalizePath("/a\u0000b");
    assert.unreachable();
  } catch (error) {
    assert.is(
      (error as Error).message,
      'Invalid path "/a\\u0000b": name contains control character U+0000',
    );
  }
  try {
    normalizePath(`/${"x".repeat(100_000)}`);
    assert.unreachable();
  } catch (error) {
    const message = (error as Error).message;
    assert.ok(message.length < 300, `message is ${message.length} characters`);
    assert.match(message, /\(100001 characters\)/);
  }
});

test("the message names the offending name in the path", () => {
  assert.throws(
    () => normalizePath("/data/../etc"),
    (error: Error) => error.message === 'Invalid path "/data/../etc": name ".." is not allowed',
  );
});

test.run();
