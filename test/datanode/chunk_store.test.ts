import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chunkFilePath, chunkFolder } from "../../datanode/_chunk_layout.js";
import {
  decodeChunkFooter,
  decodeChunkMeta,
  encodeChunkMeta,
  encodeChunkTrailer,
} from "../../datanode/_chunk_meta.js";
import { blockingReadBytesMax } from "../../datanode/_chunk_read.js";
import { ChunkStore, type ReadPiece } from "../../datanode/chunk_store.js";
import { BigFsError, type ErrorCodeName, xxh64 } from "../../protocol/mod.js";
import { flipByte } from "../helpers/bytes.js";

const segmentBytes = 1024;
const folders: string[] = [];

async function newFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-chunk-store-"));
  folders.push(folder);
  return folder;
}

function open(folder: string, capacityBytes = 1 << 30): Promise<ChunkStore> {
  return ChunkStore.open(folder, { capacityBytes, segmentBytes });
}

/** Writes `bytes` as chunk `id` in pieces of the given sizes (cycled), then finalises. */
async function put(
  store: ChunkStore,
  id: bigint,
  bytes: Uint8Array,
  generation = 1n,
  sizes = [777],
) {
  const writer = await store.createWriter(id, generation, { sizeBytesMax: bytes.byteLength });
  for (let offset = 0, index = 0; offset < bytes.byteLength; index++) {
    const size = sizes[index % sizes.length]!;
    await writer.write(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return writer.finalize();
}

async function collect(pieces: AsyncIterable<ReadPiece>): Promise<ReadPiece[]> {
  const all: ReadPiece[] = [];
  for await (const piece of pieces) all.push(piece);
  return all;
}

function joined(pieces: ReadPiece[]): Uint8Array {
  return Buffer.concat(pieces.map((piece) => piece.bytes));
}

async function rejects(promise: Promise<unknown>, code: ErrorCodeName, pattern?: RegExp) {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, BigFsError);
    assert.is((error as BigFsError).code, code, (error as Error).message);
    if (pattern) assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test("a whole segment written with its verified checksum is not hashed again; reads still check it", async () => {
  const store = await open(await newFolder());
  const segment = randomBytes(segmentBytes);
  const right = await store.createWriter(40n, 1n);
  await right.write(segment, { xxh64: xxh64(segment) });
  await right.finalize();
  assert.equal(joined(await collect(store.read(40n))), segment);
  // The given checksum is what the store records: a caller that lied is caught on read.
  const wrong = await store.createWriter(41n, 1n);
  await wrong.write(segment, { xxh64: xxh64(segment) ^ 1n });
  await wrong.finalize();
  await rejects(collect(store.read(41n)), "CHECKSUM_MISMATCH");
  await store.close();
});

test("a last piece given to finalize is stored with the metadata, checked like any other", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const bytes = randomBytes(3 * segmentBytes + 100);
  const writer = await store.createWriter(42n, 1n);
  await writer.write(bytes.subarray(0, 2 * segmentBytes));
  const last = bytes.subarray(2 * segmentBytes);
  const info = await writer.finalize(last);
  assert.is(info.size, bytes.byteLength);
  assert.is(info.xxh64, xxh64(bytes));
  assert.equal(joined(await collect(store.read(42n))), bytes);
  await store.verify(42n);
  // A whole chunk in one last piece, an aligned segment with its verified checksum.
  const segment = randomBytes(segmentBytes);
  const single = await store.createWriter(43n, 1n);
  await single.finalize(segment, { xxh64: xxh64(segment) });
  assert.equal(joined(await collect(store.read(43n))), segment);
  await store.close();
});

test("a chunk in one checked piece takes its xxh64; a writer not hashing the whole chunk is given it", async () => {
  const store = await open(await newFolder());
  // One piece, not a whole segment, with the checksum its caller checked: taken as it is.
  const piece = randomBytes(100);
  const onePiece = await store.createWriter(44n, 1n);
  const taken = await onePiece.finalize(piece, { xxh64: xxh64(piece) ^ 1n });
  assert.is(taken.xxh64, xxh64(piece) ^ 1n, "the given checksum, not hashed again");

  const bytes = randomBytes(3 * segmentBytes + 100);
  const given = await store.createWriter(45n, 1n, { hashWhole: false });
  await given.write(bytes.subarray(0, 2 * segmentBytes));
  await given.write(bytes.subarray(2 * segmentBytes, 3 * segmentBytes));
  const info = await given.finalize(bytes.subarray(3 * segmentBytes), {
    wholeXxh64: xxh64(bytes) ^ 1n,
  });
  assert.is(info.xxh64, xxh64(bytes) ^ 1n, "the given whole-chunk checksum is recorded as given");
  // Segments are still hashed and checked.
  assert.equal(
    joined(await collect(store.read(45n, { length: 2 * segmentBytes }))),
    bytes.subarray(0, 2 * segmentBytes),
  );

  const missing = await store.createWriter(46n, 1n, { hashWhole: false });
  await missing.write(bytes.subarray(0, segmentBytes));
  await rejects(
    missing.finalize(bytes.subarray(segmentBytes)),
    "INTERNAL",
    /no xxh64 of it was given/,
  );
  await rejects(collect(store.read(46n)), "NOT_FOUND");
  await store.close();
});

test("pieces of odd sizes across segment borders read back whole, segment by segment", async () => {
  const store = await open(await newFolder());
  const bytes = randomBytes(10 * segmentBytes + 333);
  const info = await put(store, 7n, bytes, 3n, [1, 1023, 1025, 4000, 17]);
  assert.equal(info, { id: 7n, generation: 3n, size: bytes.byteLength, xxh64: xxh64(bytes) });
  assert.equal(store.get(7n), info);
  const pieces = await collect(store.read(7n));
  assert.equal(joined(pieces), bytes);
  assert.is(pieces.length, 11);
  for (const [index, piece] of pieces.entries()) {
    assert.is(piece.offset, index * segmentBytes);
    assert.is(piece.xxh64, xxh64(piece.bytes));
  }
  assert.is(pieces.at(-1)!.bytes.byteLength, 333);
  await store.verify(7n);
  await store.close();
});

test("ranges read the right bytes with the right checksums; past the end is refused", async () => {
  const store = await open(await newFolder());
  const bytes = randomBytes(5 * segmentBytes + 100);
  await put(store, 1n, bytes);
  const ranges = [
    { offset: 0, length: 100 },
    { offset: 1000, length: 2500 },
    { offset: 2048, length: 1024 },
    { offset: bytes.byteLength - 7, length: 7 },
    { offset: 3000 },
  ];
  for (const range of ranges) {
    const pieces = await collect(store.read(1n, range));
    const end = range.length === undefined ? bytes.byteLength : range.offset + range.length;
    assert.equal(joined(pieces), bytes.subarray(range.offset, end), JSON.stringify(range));
    assert.is(pieces[0]!.offset, range.offset);
    for (const piece of pieces) {
      assert.is(piece.xxh64, xxh64(piece.bytes));
      const segment = Math.floor(piece.offset / segmentBytes);
      const pieceEnd = piece.offset + piece.bytes.byteLength;
      assert.ok(pieceEnd <= (segment + 1) * segmentBytes, "a piece stays within one segment");
    }
  }
  assert.is((await collect(store.read(1n, { offset: 500, length: 0 }))).length, 0);
  assert.is((await collect(store.read(1n, { offset: bytes.byteLength }))).length, 0);
  await rejects(collect(store.read(1n, { offset: 5000, length: 500 })), "INVALID_ARGUMENT");
  await rejects(collect(store.read(1n, { offset: bytes.byteLength + 1 })), "INVALID_ARGUMENT");
  await rejects(collect(store.read(1n, { offset: -1 })), "INVALID_ARGUMENT");
  await rejects(collect(store.read(2n)), "NOT_FOUND");
  await rejects(store.verify(2n), "NOT_FOUND");
  await store.close();
});

test("an empty chunk is stored, listed and read as nothing", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const writer = await store.createWriter(9n, 1n);
  const info = await writer.finalize();
  assert.is(info.size, 0);
  assert.is(info.xxh64, xxh64(new Uint8Array()));
  assert.is((await collect(store.read(9n))).length, 0);
  await store.verify(9n);
  const reopened = await open(folder);
  assert.equal(reopened.get(9n), info);
});

// What follows a chunk's data in its file: 64 bytes of metadata, 8 per segment, a 16-byte footer.
const trailer = (segments: number) => 64 + 8 * segments + 16;

test("a restart keeps finalised chunks and removes what a crash left", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const kept = randomBytes(3000);
  await put(store, 1n, kept);
  const crashed = await store.createWriter(2n, 1n);
  await crashed.write(randomBytes(1500));
  await writeFile(join(folder, "tmp", "chunk_3_1_99.data.tmp"), "x");
  assert.ok((await readdir(join(folder, "tmp"))).length >= 2);

  const reopened = await open(folder);
  assert.equal(await readdir(join(folder, "tmp")), []);
  assert.equal(
    [...reopened.list()].map((info) => info.id),
    [1n],
  );
  assert.equal(joined(await collect(reopened.read(1n))), kept);
  assert.is(reopened.usedBytes, 3000 + trailer(3));
  await store.close();
});

test("a replace cut short by a crash leaves the complete old or the complete new replica", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const old = randomBytes(2000);
  await put(store, 8n, old, 1n);
  const oldFile = await readFile(chunkFilePath(folder, 8n, 1n));
  // The new generation written but not yet renamed into place: the old replica stands.
  const unfinished = await store.createWriter(8n, 2n);
  await unfinished.write(randomBytes(1500));
  const beforeCommit = await open(folder);
  assert.is(beforeCommit.get(8n)?.generation, 1n);
  assert.equal(joined(await collect(beforeCommit.read(8n))), old);
  assert.equal(await readdir(chunkFolder(folder, 8n)), ["chunk_8_1.data"]);
  // Renamed into place, the old file not yet removed: the new replica stands.
  const fresh = randomBytes(1500);
  await put(beforeCommit, 8n, fresh, 2n);
  await beforeCommit.close();
  await writeFile(chunkFilePath(folder, 8n, 1n), oldFile);
  const afterCommit = await open(folder);
  assert.is(afterCommit.get(8n)?.generation, 2n);
  assert.equal(joined(await collect(afterCommit.read(8n))), fresh);
  assert.equal(await readdir(chunkFolder(folder, 8n)), ["chunk_8_2.data"]);
  await store.close();
});

test("a store holding replicas of the old two-file format is refused, and left as it was", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  await put(store, 7n, randomBytes(100));
  await store.close();
  const oldMeta = join(chunkFolder(folder, 7n), "chunk_9_1.meta");
  await writeFile(oldMeta, "old");
  await rejects(open(folder), "INVALID_ARGUMENT", /earlier BigFS/);
  assert.equal((await readdir(chunkFolder(folder, 7n))).sort(), [
    "chunk_7_1.data",
    "chunk_9_1.meta",
  ]);
  assert.equal(await readdir(join(folder, "corrupt")), []);
});

test("metadata longer than the tail read at once (over 1,000 segments) reads back and reopens", async () => {
  const folder = await newFolder();
  const store = await open(folder, 1 << 30);
  const bytes = randomBytes(1536 * segmentBytes);
  await put(store, 21n, bytes, 1n, [64 * 1024]);
  assert.equal(joined(await collect(store.read(21n))), bytes);
  await store.verify(21n);
  await store.close();
  const reopened = await open(folder);
  assert.is(reopened.get(21n)?.size, bytes.byteLength);
  assert.equal(
    joined(await collect(reopened.read(21n, { offset: 5000, length: 100 }))),
    bytes.subarray(5000, 5100),
  );
  await reopened.close();
});

test("256 consecutive chunk ids share a folder; the next id starts another", () => {
  const base = 0x12_34_00n;
  assert.is(chunkFolder("/d", base), chunkFolder("/d", base + 255n));
  assert.is.not(chunkFolder("/d", base), chunkFolder("/d", base + 256n));
  assert.is(chunkFolder("/d", base), join("/d", "chunks", "12", "34"));
});

test("replicas finalised at once share folder fsyncs, and all of them survive a restart", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const ids = Array.from({ length: 64 }, (_, index) => BigInt(index) + 1n);
  await Promise.all(ids.map((id) => put(store, id, randomBytes(100))));
  // One folder holds all 64; had every replica fsynced it alone there would be 64 fsyncs.
  assert.ok(store.folderSyncs < ids.length, `${store.folderSyncs} folder fsyncs`);
  const reopened = await open(folder);
  assert.equal(
    [...reopened.list()].map((info) => info.id).sort((a, b) => Number(a - b)),
    ids,
  );
  await store.close();
});

test("a flipped data byte is found by read and by verify, naming chunk and segment", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const bytes = randomBytes(4 * segmentBytes);
  await put(store, 12n, bytes);
  await flipByte(chunkFilePath(folder, 12n, 1n), 2 * segmentBytes + 5);
  await rejects(collect(store.read(12n)), "CHECKSUM_MISMATCH", /chunk 12 segment 2/);
  await rejects(store.verify(12n), "CHECKSUM_MISMATCH", /chunk 12 segment 2/);
  // Ranges that avoid the bad segment still read.
  assert.equal(joined(await collect(store.read(12n, { length: 2048 }))), bytes.subarray(0, 2048));
  await rejects(collect(store.read(12n, { offset: 2100, length: 1 })), "CHECKSUM_MISMATCH");
});

test("replicas on either side of the blocking-read bound read back and show a flipped byte", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  // Data sizes whose files (data, metadata, footer) end below and above the bound.
  const sizes = [blockingReadBytesMax - 4 * segmentBytes, blockingReadBytesMax + segmentBytes];
  for (const [index, size] of sizes.entries()) {
    const id = BigInt(30 + index);
    const bytes = randomBytes(size);
    await put(store, id, bytes);
    assert.equal(joined(await collect(store.read(id))), bytes);
    await flipByte(chunkFilePath(folder, id, 1n), 3 * segmentBytes + 1);
    await rejects(
      collect(store.read(id)),
      "CHECKSUM_MISMATCH",
      new RegExp(`chunk ${id} segment 3`),
    );
  }
  await store.close();
});

test("a flipped metadata or footer byte is found by read and verify, and quarantined at start-up", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  await put(store, 13n, randomBytes(3000));
  await put(store, 14n, randomBytes(3000));
  const path = chunkFilePath(folder, 13n, 1n);
  // Metadata starts at byte 3000 (magic, fields, checksums, seal); the footer at 3000 + 88.
  for (const offset of [3003, 3020, 3045, 3060, 3085, 3090, 3100]) {
    await flipByte(path, offset);
    await rejects(collect(store.read(13n)), "CHECKSUM_MISMATCH", /chunk 13/);
    await rejects(store.verify(13n), "CHECKSUM_MISMATCH", /chunk 13/);
    await flipByte(path, offset);
    await store.verify(13n);
  }
  await flipByte(path, 3070);
  // A file cut short (a torn tail) is quarantined too.
  await truncate(chunkFilePath(folder, 14n, 1n), 2999);
  await rejects(store.verify(14n), "CHECKSUM_MISMATCH");
  const reopened = await open(folder);
  assert.is(reopened.chunkCount, 0);
  const quarantined = (await readdir(join(folder, "corrupt"))).sort();
  assert.is(quarantined.length, 2);
  assert.ok(quarantined[0]!.startsWith("chunk_13_1.data."));
  assert.ok(quarantined[1]!.startsWith("chunk_14_1.data."));
  assert.is(reopened.usedBytes, 0);
});

test("a footer pointing outside its file is refused without reading that far", () => {
  const footer = encodeChunkTrailer({
    id: 1n,
    generation: 1n,
    sizeBytes: 10,
    segmentBytes: 1024,
    xxh64: 0n,
    segmentXxh64s: [0n],
  }).subarray(-16);
  assert.is(decodeChunkFooter(footer, 10 + 72 + 16, "fixture"), 10);
  assert.throws(() => decodeChunkFooter(footer, 10 + 63 + 16, "fixture"), /does not fit/);
  const far = footer.slice();
  new DataView(far.buffer).setBigUint64(8, 0n);
  assert.throws(() => decodeChunkFooter(far, 1 << 30, "fixture"), /does not fit/);
  assert.throws(() => decodeChunkFooter(footer.subarray(1), 100, "fixture"), /too short/);
});

test("every flipped byte of a metadata file fails to decode", () => {
  const bytes = encodeChunkMeta({
    id: 5n,
    generation: 2n,
    sizeBytes: 2500,
    segmentBytes: 1024,
    xxh64: 11n,
    segmentXxh64s: [1n, 2n, 3n],
  });
  assert.is(bytes.byteLength, 64 + 24);
  assert.is(decodeChunkMeta(bytes, "fixture").sizeBytes, 2500);
  for (let offset = 0; offset < bytes.byteLength; offset++) {
    for (const bit of [0x01, 0x80]) {
      const flipped = bytes.slice();
      flipped[offset]! ^= bit;
      assert.throws(() => decodeChunkMeta(flipped, "fixture"), /metadata of fixture/);
    }
  }
  assert.throws(() => decodeChunkMeta(bytes.subarray(0, 80), "fixture"), /bytes/);
  assert.throws(() => decodeChunkMeta(new Uint8Array(0), "fixture"), /too short/);
});

test("NO_SPACE: a write past the capacity fails, removes its temp file, harms nothing", async () => {
  const folder = await newFolder();
  const store = await open(folder, 8 * segmentBytes);
  const first = randomBytes(2 * segmentBytes);
  await put(store, 1n, first);
  const usedBefore = store.usedBytes;
  await rejects(store.createWriter(2n, 1n, { sizeBytesMax: 7 * segmentBytes }), "NO_SPACE");
  const writer = await store.createWriter(2n, 1n);
  let failure: unknown;
  try {
    for (let index = 0; index < 10; index++) await writer.write(randomBytes(segmentBytes));
  } catch (error) {
    failure = error;
  }
  assert.instance(failure, BigFsError);
  assert.is((failure as BigFsError).code, "NO_SPACE");
  assert.equal(await readdir(join(folder, "tmp")), []);
  assert.is(store.usedBytes, usedBefore);
  await rejects(writer.finalize(), "INVALID_ARGUMENT");
  await writer.abort();
  assert.equal(joined(await collect(store.read(1n))), first);
  await store.verify(1n);
  assert.is(store.get(2n), undefined);
  // The space is free again for a writer that fits.
  await put(store, 3n, randomBytes(3 * segmentBytes));
});

test("abort removes the temp file and the reservation; a second writer is refused", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const writer = await store.createWriter(4n, 1n, { sizeBytesMax: 4096 });
  assert.ok(store.usedBytes >= 4096);
  await rejects(store.createWriter(4n, 2n), "EXISTS");
  await writer.write(randomBytes(5000));
  assert.is(writer.size, 5000);
  await writer.abort();
  await writer.abort();
  assert.equal(await readdir(join(folder, "tmp")), []);
  assert.is(store.usedBytes, 0);
  assert.is(store.get(4n), undefined);
  await rejects(writer.write(new Uint8Array(1)), "INVALID_ARGUMENT");
  const again = await store.createWriter(4n, 1n);
  await again.abort();
});

/** A store with 256 KiB segments, which direct reads need (they start on 4 KiB borders). */
function openAligned(folder: string, options: { directIo?: boolean; directBlocks?: number } = {}) {
  return ChunkStore.open(folder, { capacityBytes: 1 << 30, segmentBytes: 256 * 1024, ...options });
}

test("chunks of several MiB written and read direct, where the disk takes it, match buffered ones", async () => {
  const direct = await openAligned(await newFolder());
  const bufferedFolder = await newFolder();
  const buffered = await openAligned(bufferedFolder, { directIo: false });
  assert.is(buffered.directIo, false);
  if (!direct.directIo) console.log("  (this file system does not take O_DIRECT: buffered only)");
  // Sizes around the 1 MiB block and the 4 KiB alignment unit, in frames of odd sizes.
  const sizes = [3 * 1024 * 1024 + 4097, 1024 * 1024, 1024 * 1024 - 1, 2 * 1024 * 1024 + 1];
  for (const [index, size] of sizes.entries()) {
    const id = BigInt(20 + index);
    const bytes = randomBytes(size);
    const frames = [256 * 1024, 100_000, 333_333];
    const info = await put(direct, id, bytes, 1n, frames);
    assert.equal(await put(buffered, id, bytes, 1n, frames), info);
    assert.equal(joined(await collect(direct.read(id))), bytes, `chunk of ${size} bytes`);
    assert.equal(
      joined(await collect(direct.read(id, { offset: 5000, length: size - 9000 }))),
      bytes.subarray(5000, size - 4000),
    );
    await direct.verify(id);
  }
  if (direct.directIo) {
    assert.ok(direct.directBytes.written >= 6 * 1024 * 1024, "the writes went direct");
    assert.ok(direct.directBytes.read >= 6 * 1024 * 1024, "the reads went direct");
  }
  assert.equal(buffered.directBytes, { written: 0, read: 0 });
  // The files are the same format either way: a store reopened without direct I/O reads them.
  const folder = await newFolder();
  const writer = await openAligned(folder);
  const bytes = randomBytes(3 * 1024 * 1024 + 12_345);
  await put(writer, 7n, bytes, 1n, [65_536]);
  const reopened = await openAligned(folder, { directIo: false });
  assert.equal(joined(await collect(reopened.read(7n))), bytes);
  await reopened.verify(7n);
});

test("a flipped byte in a chunk written direct is found by a direct read and by verify", async () => {
  const folder = await newFolder();
  const store = await openAligned(folder);
  await put(store, 9n, randomBytes(2 * 1024 * 1024 + 5), 1n, [256 * 1024]);
  await flipByte(chunkFilePath(folder, 9n, 1n), 1024 * 1024 + 17);
  await rejects(collect(store.read(9n)), "CHECKSUM_MISMATCH", /chunk 9 segment 4 /);
  await rejects(store.verify(9n), "CHECKSUM_MISMATCH", /chunk 9 segment 4 /);
});

test("with every direct block in use, writes and reads go through the page cache instead", async () => {
  const folder = await newFolder();
  const store = await openAligned(folder, { directBlocks: 1 });
  const first = await store.createWriter(30n, 1n);
  const second = await store.createWriter(31n, 1n);
  const a = randomBytes(1024 * 1024 + 300);
  const b = randomBytes(1024 * 1024 + 700);
  // The first holds the only block from its first write to its finalise.
  await first.write(a.subarray(0, 256 * 1024));
  await second.write(b.subarray(0, 256 * 1024));
  await second.write(b.subarray(256 * 1024));
  await second.finalize();
  const directWritten = store.directBytes.written;
  await first.write(a.subarray(256 * 1024));
  await first.finalize();
  if (store.directIo) {
    assert.is(directWritten, 0, "the second writer found no block and wrote buffered");
    assert.is(store.directBytes.written, 1024 * 1024, "the first wrote its aligned part direct");
  }
  assert.equal(joined(await collect(store.read(30n))), a);
  assert.equal(joined(await collect(store.read(31n))), b);
  // A writer aborted mid-chunk gives its block back: the next one writes direct again.
  const aborted = await store.createWriter(32n, 1n);
  await aborted.write(randomBytes(1024 * 1024 + 1));
  await aborted.abort();
  assert.equal(await readdir(join(folder, "tmp")), []);
  await put(store, 33n, randomBytes(1024 * 1024), 1n, [512 * 1024]);
  if (store.directIo) {
    assert.is(store.directBytes.written, 3 * 1024 * 1024, "the abort's block was reused");
  }
});

test("a newer generation replaces the older; an older or equal one is refused", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  await put(store, 6n, randomBytes(4000), 1n);
  const newer = randomBytes(2500);
  const info = await put(store, 6n, newer, 2n);
  assert.is(store.get(6n), info);
  assert.is(store.chunkCount, 1);
  assert.equal(joined(await collect(store.read(6n))), newer);
  assert.equal(await readdir(chunkFolder(folder, 6n)), ["chunk_6_2.data"]);
  assert.is(store.usedBytes, 2500 + trailer(3));
  await rejects(store.createWriter(6n, 1n), "STALE_GENERATION");
  await rejects(store.createWriter(6n, 2n), "EXISTS");
  assert.is(await store.delete(6n), true);
  assert.is(await store.delete(6n), false);
  assert.equal(await readdir(chunkFolder(folder, 6n)), []);
  await rejects(collect(store.read(6n)), "NOT_FOUND");
  assert.is(store.usedBytes, 0);
});

test("2000 small chunks are all listed after a restart", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const ids = Array.from({ length: 2000 }, (_, index) => BigInt(index) * 7919n + 1n);
  for (let start = 0; start < ids.length; start += 100) {
    await Promise.all(
      ids.slice(start, start + 100).map((id) => put(store, id, Buffer.from(`chunk ${id}`))),
    );
  }
  assert.is(store.chunkCount, 2000);
  const reopened = await open(folder);
  assert.is(reopened.chunkCount, 2000);
  const listed = [...reopened.list()].map((info) => info.id).sort((a, b) => (a < b ? -1 : 1));
  assert.equal(listed, ids);
  assert.is(reopened.usedBytes, store.usedBytes);
  assert.equal(joined(await collect(reopened.read(ids[1234]!))), Buffer.from(`chunk ${ids[1234]}`));
});

test("a closed store refuses work and aborts open writers", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const writer = await store.createWriter(1n, 1n);
  await writer.write(randomBytes(10));
  await store.close();
  assert.equal(await readdir(join(folder, "tmp")), []);
  await rejects(store.createWriter(2n, 1n), "UNAVAILABLE");
});

test.after(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

test.run();
