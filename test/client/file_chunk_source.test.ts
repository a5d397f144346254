/**
 * Chunks of a local file hold none of their bytes: every pass over a chunk's frames reads them
 * from the file again, the same bytes each time, and a file that changed in between fails the
 * pass instead of sending bytes the first pass did not see.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { xxh64 } from "#protocol";
import { type ChunkData, type ChunkFrame, SourceError } from "../../client/chunk_source.js";
import { FileChunkSource, FileSource } from "../../client/file_chunk_source.js";

async function framesOf(chunk: ChunkData): Promise<ChunkFrame[]> {
  const frames: ChunkFrame[] = [];
  for await (const frame of chunk.frames()) frames.push(frame);
  return frames;
}

async function withFile(
  bytes: Uint8Array,
  use: (source: FileSource, path: string) => Promise<void>,
): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-file-chunks-"));
  const path = join(folder, "source");
  await writeFile(path, bytes);
  const handle = await open(path, "r");
  try {
    await use(new FileSource(handle, bytes.byteLength, path), path);
  } finally {
    await handle.close();
    await rm(folder, { recursive: true, force: true });
  }
}

async function allChunks(source: FileChunkSource): Promise<ChunkData[]> {
  const chunks: ChunkData[] = [];
  for (let chunk = await source.next(); chunk; chunk = await source.next()) chunks.push(chunk);
  return chunks;
}

test("a file is cut into chunks of frames at chunk borders, the last chunk marked", async () => {
  const bytes = randomBytes(10_000);
  await withFile(bytes, async (file) => {
    const source = new FileChunkSource(file, 4_000, 1_500);
    const chunks = await allChunks(source);
    assert.equal(
      chunks.map((chunk) => [chunk.index, chunk.fileOffset, chunk.sizeBytes, chunk.last]),
      [
        [0, 0, 4_000, false],
        [1, 4_000, 4_000, false],
        [2, 8_000, 2_000, true],
      ],
    );
    assert.is(source.bytesRead, 10_000);
    for (const chunk of chunks) {
      const frames = await framesOf(chunk);
      assert.equal(
        frames.map((frame) => [frame.offset, frame.bytes.byteLength]),
        chunk.sizeBytes === 4_000
          ? [
              [0, 1_500],
              [1_500, 1_500],
              [3_000, 1_000],
            ]
          : [
              [0, 1_500],
              [1_500, 500],
            ],
      );
      for (const frame of frames) assert.is(frame.xxh64, xxh64(frame.bytes));
      const joined = Buffer.concat(frames.map((frame) => frame.bytes));
      assert.ok(
        joined.equals(bytes.subarray(chunk.fileOffset, chunk.fileOffset + chunk.sizeBytes)),
      );
      assert.is(chunk.xxh64, xxh64(joined));
    }
  });
});

test("an empty file gives no chunk, and one of exactly two chunks gives two", async () => {
  await withFile(new Uint8Array(0), async (file) => {
    assert.is(await new FileChunkSource(file, 4_000, 1_500).next(), undefined);
  });
  await withFile(randomBytes(8_000), async (file) => {
    const chunks = await allChunks(new FileChunkSource(file, 4_000, 1_500));
    assert.equal(
      chunks.map((chunk) => chunk.last),
      [false, true],
    );
  });
});

test("a chunk's xxh64 is known only once its frames were read through", async () => {
  await withFile(randomBytes(5_000), async (file) => {
    const chunk = (await new FileChunkSource(file, 4_000, 1_500).next())!;
    assert.throws(() => chunk.xxh64, /before it was read/);
    await framesOf(chunk);
    assert.is(typeof chunk.xxh64, "bigint");
  });
});

test("a chunk sent again reads the same bytes from the file again, into new buffers", async () => {
  const bytes = randomBytes(6_000);
  await withFile(bytes, async (file) => {
    const chunk = (await new FileChunkSource(file, 4_000, 1_500).next())!;
    const first = await framesOf(chunk);
    const again = await framesOf(chunk);
    assert.equal(
      again.map((frame) => [frame.offset, frame.xxh64]),
      first.map((frame) => [frame.offset, frame.xxh64]),
    );
    for (const [index, frame] of again.entries()) {
      assert.ok(Buffer.from(frame.bytes).equals(Buffer.from(first[index]!.bytes)));
      assert.is.not(
        frame.bytes.buffer,
        first[index]!.bytes.buffer,
        "nothing is kept between passes",
      );
    }
  });
});

test("a file changed between two passes fails the second with a SourceError", async () => {
  const bytes = randomBytes(6_000);
  await withFile(bytes, async (file, path) => {
    const chunk = (await new FileChunkSource(file, 4_000, 1_500).next())!;
    await framesOf(chunk);
    const changed = Buffer.from(bytes);
    changed[2_000] = (changed[2_000]! + 1) % 256;
    await writeFile(path, changed);
    const error = await framesOf(chunk).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.instance(error, SourceError);
    assert.match((error as Error).message, /changed while it was uploaded: bytes 0\.\.4000 differ/);
  });
});

test("a file cut short while it is uploaded fails with a SourceError", async () => {
  await withFile(randomBytes(6_000), async (file, path) => {
    const chunks = await allChunks(new FileChunkSource(file, 4_000, 1_500));
    await truncate(path, 4_500);
    const error = await framesOf(chunks[1]!).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    assert.instance(error, SourceError);
    assert.match((error as Error).message, /it ends before byte 4501/);
  });
});

test("a full frame's buffer, once released, is read into again; one not released is kept", async () => {
  const bytes = randomBytes(12_000);
  await withFile(bytes, async (file) => {
    const source = new FileChunkSource(file, 6_000, 1_500);
    const [first, second] = await allChunks(source);
    const kept = await framesOf(first!);
    // Every frame of a 6,000-byte chunk is full; none released: four buffers of their own.
    assert.ok(kept.every((frame) => frame.release !== undefined));
    assert.is(new Set(kept.map((frame) => frame.bytes.buffer)).size, 4);
    kept[0]!.release!();
    const later = await framesOf(second!);
    // The one buffer given back went to a frame of the next chunk, read from that chunk's place.
    const reused = later.filter((frame) => frame.bytes.buffer === kept[0]!.bytes.buffer);
    assert.is(reused.length, 1);
    for (const frame of later) {
      assert.ok(
        Buffer.from(frame.bytes).equals(bytes.subarray(6_000 + frame.offset, 7_500 + frame.offset)),
      );
    }
    // The frames still held were not read into.
    for (const frame of kept.slice(1)) {
      assert.ok(
        Buffer.from(frame.bytes).equals(bytes.subarray(frame.offset, frame.offset + 1_500)),
      );
    }
  });
});

test("a short frame (a chunk's end) is not pooled", async () => {
  await withFile(randomBytes(4_000), async (file) => {
    const chunk = (await new FileChunkSource(file, 4_000, 1_500).next())!;
    const frames = await framesOf(chunk);
    assert.equal(
      frames.map((frame) => frame.release !== undefined),
      [true, true, false],
    );
  });
});

test.run();
