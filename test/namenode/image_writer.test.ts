/**
 * The namespace image's writer encodes records itself, value by value, for speed: its bytes
 * must stay exactly what cbor-x writes, or images would change format (and stop being
 * canonical). Each check compares with cbor-x's own encoding of the same values.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ImageWriter } from "../../namenode/_namespace_image_io.js";
import { Namespace } from "../../namenode/namespace.js";
import { cbor } from "../../protocol/mod.js";

type Value = number | bigint | string | boolean;

function write(writer: ImageWriter, value: Value): void {
  if (typeof value === "number") writer.number(value);
  else if (typeof value === "bigint") writer.u64(value);
  else if (typeof value === "string") writer.text(value);
  else writer.boolean(value);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

const numbers = [
  0,
  1,
  23,
  24,
  255,
  256,
  65_535,
  65_536,
  2 ** 32 - 1,
  2 ** 32,
  1_795_822_590_937,
  Number.MAX_SAFE_INTEGER,
  -1,
  -24,
  -25,
  -256,
  -257,
  -65_536,
  -65_537,
  -(2 ** 31),
  -(2 ** 31) - 1,
  -(2 ** 32),
  -(2 ** 32) - 1,
  0.5,
  -0,
];
const bigints = [0n, 1n, 23n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n];
const strings = [
  "",
  "a",
  "x".repeat(23),
  "x".repeat(24),
  "é".repeat(12),
  "名前",
  "🙂 emoji",
  "\ud800 lone",
  "x".repeat(63),
  "y".repeat(64),
  `${"é".repeat(40)}\udc00 lone, long`,
  "z".repeat(255),
  "z".repeat(256),
  "w".repeat(65_535),
  "w".repeat(65_536),
];

test("each value is written as cbor-x writes it", () => {
  for (const value of [...numbers, ...bigints, ...strings, true, false]) {
    const writer = new ImageWriter();
    write(writer, value);
    const label = typeof value === "string" ? `string of ${value.length}` : String(value);
    assert.is(hex(writer.finish()), hex(cbor.encode(value)), label);
  }
  for (const length of [0, 1, 23, 24, 255, 256, 65_535, 65_536]) {
    const writer = new ImageWriter();
    writer.arrayHeader(length);
    for (let index = 0; index < length; index++) writer.number(0);
    assert.is(
      hex(writer.finish()),
      hex(cbor.encode(new Array(length).fill(0))),
      `array of ${length}`,
    );
  }
});

test("values across many blocks come out whole and in order", () => {
  const writer = new ImageWriter();
  const expected: Buffer[] = [];
  const all = [...numbers, ...bigints, ...strings, true, false];
  // Several MiB, so values land at every offset near a block's end.
  for (let round = 0; round < 40; round++) {
    for (const [index, value] of all.entries()) {
      // Long strings cut by a varying few characters, so what follows them shifts each round.
      const cut = (round * 37 + index) % 300;
      const varied = typeof value === "string" && value.length > 300 ? value.slice(cut) : value;
      write(writer, varied);
      expected.push(Buffer.from(cbor.encode(varied)));
    }
  }
  const bytes = writer.finish();
  assert.ok(bytes.byteLength > 4 * 1024 * 1024, `${bytes.byteLength} bytes`);
  assert.ok(Buffer.from(bytes).equals(Buffer.concat(expected)));
});

test("an image's records are exactly cbor-x's encoding of what they hold", () => {
  const namespace = new Namespace();
  let fileId = 0n;
  let chunkId = 0n;
  const names = ["a", "é".repeat(30), "🙂", "名前", "n".repeat(80), "z".repeat(255)];
  for (const [index, name] of names.entries()) {
    const directory = `/d${index}/${name}`;
    namespace.apply({ op: "mkdir", path: directory, parents: true, mtimeMs: 1_795_822_590_937 });
    for (let file = 0; file < 30; file++) {
      fileId++;
      const path = `${directory}/${name.slice(0, 200)}-${file}`;
      namespace.apply({
        op: "create",
        path,
        fileId,
        clientName: `client-${index}-é`,
        replication: 1 + (file % 5),
        chunkSizeBytes: 64 * 1024 * 1024,
        overwrite: file % 2 === 0,
        mtimeMs: 5,
      });
      for (let chunk = 0; chunk < file % 4; chunk++) {
        chunkId++;
        namespace.apply({ op: "addChunk", fileId, chunkId, generation: chunkId, replaces: 0n });
        // A file left under construction keeps its last chunk uncommitted.
        if (file % 7 !== 0 || chunk < (file % 4) - 1) {
          namespace.apply({
            op: "commitChunk",
            fileId,
            chunkId,
            generation: chunkId,
            size: 1 + chunk * 70_000,
            xxh64: 2n ** 64n - 1n - chunkId,
          });
        }
      }
      // Some stay under construction.
      if (file % 7 !== 0) {
        namespace.apply({ op: "complete", fileId, mtimeMs: 2 ** 40 + file });
      }
    }
  }
  const image = namespace.toImage();
  const items: unknown[] = [];
  cbor.decodeMultiple(image, (item: unknown) => {
    items.push(item);
  });
  assert.ok(items.length > names.length * 30, `${items.length} items`);
  const reencoded = Buffer.concat(items.map((item) => Buffer.from(cbor.encode(item))));
  assert.ok(Buffer.from(image).equals(reencoded), "the image is cbor-x's encoding of its items");
  assert.ok(
    Buffer.from(Namespace.fromImage(image).toImage()).equals(Buffer.from(image)),
    "the image loads back to a namespace that writes the same bytes",
  );
});

test.run();
