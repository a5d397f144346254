import { randomBytes } from "node:crypto";
import {
  appendFile,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chunkFilePath, chunkFolder, chunksFolderName } from "../../datanode/_chunk_layout.js";
import {
  containersFolderName,
  recordHeaderBytes,
  scanRecords,
} from "../../datanode/_containers.js";
import { ChunkStore, type ReadPiece } from "../../datanode/chunk_store.js";
import { BigFsError, type ErrorCodeName } from "../../protocol/mod.js";
import { flipByte } from "../helpers/bytes.js";
import { waitFor } from "../helpers/wait.js";

const folders: string[] = [];

async function newFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-containers-"));
  folders.push(folder);
  return folder;
}

test.after(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

function open(folder: string, containerBytesMax?: number): Promise<ChunkStore> {
  return ChunkStore.open(folder, {
    capacityBytes: 1 << 30,
    segmentBytes: 1024,
    ...(containerBytesMax === undefined ? {} : { containerBytesMax }),
  });
}

/** Writes chunk `id` in one piece (as a one-frame pipeline write does): it goes to a container. */
async function putWhole(store: ChunkStore, id: bigint, bytes: Uint8Array, generation = 1n) {
  const writer = await store.createWriter(id, generation);
  return writer.finalize([bytes]);
}

/** Writes chunk `id` in several writes: it gets a file of its own. */
async function putInPieces(store: ChunkStore, id: bigint, bytes: Uint8Array, generation = 1n) {
  const writer = await store.createWriter(id, generation);
  await writer.write(bytes.subarray(0, 1000));
  await writer.write(bytes.subarray(1000));
  return writer.finalize();
}

async function readAll(store: ChunkStore, id: bigint): Promise<Buffer> {
  const pieces: ReadPiece[] = [];
  for await (const piece of store.read(id)) pieces.push(piece);
  return Buffer.concat(pieces.map((piece) => piece.bytes));
}

async function rejects(promise: Promise<unknown>, code: ErrorCodeName) {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, BigFsError);
    assert.is((error as BigFsError).code, code, (error as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

/** Every file under `folder`, recursively. */
async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
}

async function containerFiles(folder: string): Promise<string[]> {
  return (await readdir(join(folder, containersFolderName))).sort();
}

/** Bytes of every container file in `folder`'s store. */
async function containerBytesOnDisk(folder: string): Promise<number> {
  let total = 0;
  for (const name of await containerFiles(folder)) {
    total += (await stat(join(folder, containersFolderName, name))).size;
  }
  return total;
}

/**
 * Waits until the store's live and dead container bytes add up to the container files on
 * disk: once queued tombstones (not waited for by a delete) are written, nothing is appending.
 */
async function untilCountsMatchDisk(store: ChunkStore, folder: string): Promise<void> {
  await waitFor(
    async () => store.usedBytes + store.deadContainerBytes === (await containerBytesOnDisk(folder)),
    5_000,
    { what: "live and dead bytes to add up to the container files" },
  );
}

/**
 * A store of 16 KiB containers holding chunks 1..`last` of 3,000 bytes each: six fill the
 * first container, the rest go to the second (the active one). Returns both names.
 */
async function twoContainers(last: bigint) {
  const folder = await newFolder();
  const store = await open(folder, 16 * 1024);
  for (let id = 1n; id <= last; id++) await putWhole(store, id, randomBytes(3000));
  const [first, second] = await containerFiles(folder);
  assert.ok(second, "two containers");
  return { folder, store, first: first!, second: second! };
}

test("a replica written in one piece goes to a container, reads back, and survives a restart", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const bytes = randomBytes(4000);
  const info = await putWhole(store, 1n, bytes);
  assert.is(info.size, 4000);
  assert.equal(await filesUnder(join(folder, chunksFolderName)), [], "no file of its own");
  assert.equal(await readdir(join(folder, "tmp")), [], "no temp file either");
  const [container] = await containerFiles(folder);
  assert.ok((await stat(join(folder, containersFolderName, container!))).size > 4000);
  assert.equal(await readAll(store, 1n), bytes);
  await store.verify(1n);
  assert.equal([...store.list()], [info]);
  assert.ok(store.usedBytes >= 4000 + recordHeaderBytes);
  await store.close();

  const again = await open(folder);
  assert.equal(again.get(1n), info);
  assert.equal(await readAll(again, 1n), bytes);
  await again.verify(1n);
  await again.close();
});

test("replicas finalised at once share fdatasyncs, and all of them survive a restart", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const all = Array.from({ length: 64 }, (_, index) => randomBytes(100 + index * 50));
  await Promise.all(all.map((bytes, index) => putWhole(store, BigInt(100 + index), bytes)));
  assert.ok(store.containerSyncs >= 1);
  assert.ok(store.containerSyncs < 64, `${store.containerSyncs} fdatasyncs for 64 replicas`);
  await store.close();
  const again = await open(folder);
  assert.is(again.chunkCount, 64);
  for (const [index, bytes] of all.entries()) {
    assert.equal(await readAll(again, BigInt(100 + index)), bytes);
  }
  await again.close();
});

test("deletes stay deleted across a restart; a container with nothing live is removed", async () => {
  const folder = await newFolder();
  // Small containers: a few replicas each (a container rolls over once it is past 16 KiB), so
  // several fill up.
  const store = await open(folder, 16 * 1024);
  const kept = new Map<bigint, Buffer>();
  for (let id = 1n; id <= 18n; id++) {
    const bytes = randomBytes(3000);
    await putWhole(store, id, bytes);
    kept.set(id, bytes);
  }
  const before = await containerFiles(folder);
  assert.ok(before.length >= 3, `${before.length} containers`);
  // The first replicas fill the first container: deleting them all removes it.
  for (let id = 1n; id <= 6n; id++) {
    assert.ok(await store.delete(id));
    kept.delete(id);
  }
  assert.not.ok(await store.delete(1n), "a second delete finds nothing");
  // One in a container that stays: its tombstone keeps it deleted, and its record is dead
  // bytes on disk until the container goes.
  const deadBefore = store.deadContainerBytes;
  assert.ok(await store.delete(8n));
  kept.delete(8n);
  assert.ok(store.deadContainerBytes >= deadBefore + 3000, "the deleted record is dead bytes");
  const after = await containerFiles(folder);
  assert.not.ok(after.includes(before[0]!), "the first container is gone");
  await store.close();

  const again = await open(folder, 16 * 1024);
  assert.equal([...again.list()].map((info) => info.id).sort(), [...kept.keys()].sort());
  for (const [id, bytes] of kept) assert.equal(await readAll(again, id), bytes);
  await rejects(readAll(again, 3n), "NOT_FOUND");
  await rejects(readAll(again, 8n), "NOT_FOUND");
  await again.close();
});

test("a tombstone outlives its container while an older one may hold what it deleted", async () => {
  // Six replicas fill the first container past 16 KiB; three more start the second.
  const { folder, store, first, second } = await twoContainers(9n);
  // Chunk 2 is in the first container; its tombstone goes to the second, the active one.
  assert.ok(await store.delete(2n));
  // Everything in the second container goes, and the container with it.
  for (let id = 7n; id <= 9n; id++) assert.ok(await store.delete(id));
  await waitFor(async () => !(await containerFiles(folder)).includes(second), 5_000, {
    what: "the second container, with nothing live, to be removed",
  });
  assert.ok((await containerFiles(folder)).includes(first), "the first stays: most is live");
  await store.close();
  const again = await open(folder, 16 * 1024);
  assert.equal(
    [...again.list()].map((info) => info.id).sort(),
    [1n, 3n, 4n, 5n, 6n],
    "chunk 2 stays deleted",
  );
  await again.close();
});

test("a container more than half dead is compacted: its live replicas move, the file goes", async () => {
  const folder = await newFolder();
  const store = await open(folder, 16 * 1024);
  const all = new Map<bigint, Buffer>();
  for (let id = 1n; id <= 18n; id++) {
    const bytes = randomBytes(3000);
    await putWhole(store, id, bytes);
    all.set(id, bytes);
  }
  const [first] = await containerFiles(folder);
  // Four of the first container's six replicas go: it is then two-thirds dead.
  for (const id of [1n, 2n, 4n, 6n]) {
    await store.delete(id);
    all.delete(id);
  }
  await waitFor(async () => !(await containerFiles(folder)).includes(first!), 5_000, {
    what: "the sparse container to be compacted away",
  });
  for (const [id, bytes] of all) assert.equal(await readAll(store, id), bytes, `chunk ${id}`);
  const usedBefore = store.usedBytes;
  // Live and dead bytes, as the store keeps them, add up to the container files on disk
  // (once the last delete's tombstone, not waited for, is written).
  await untilCountsMatchDisk(store, folder);
  await store.close();
  const again = await open(folder, 16 * 1024);
  assert.equal([...again.list()].map((info) => info.id).sort(), [...all.keys()].sort());
  for (const [id, bytes] of all) assert.equal(await readAll(again, id), bytes, `chunk ${id}`);
  assert.is(again.usedBytes, usedBefore, "live bytes count the same after a restart");
  await again.close();
});

test("a replica deleted while compaction copies it stays deleted across a restart", async () => {
  // Six replicas fill the first container; chunk 7 starts the second, which stays live.
  const { folder, store, first, second } = await twoContainers(7n);
  // The fourth delete leaves the first container two-thirds dead: its compaction queues
  // copies of chunks 5 and 6 to the second at once, and they are deleted before the copies
  // are written. The sixth takes the first container with it.
  for (let id = 1n; id <= 6n; id++) assert.ok(await store.delete(id));
  assert.not.ok((await containerFiles(folder)).includes(first), "the first container is gone");
  await store.close();
  // The copies were written: the race this test is about did happen.
  const copied = new Set<bigint>();
  const bytes = await readFile(join(folder, containersFolderName, second));
  for (const record of scanRecords(bytes)) {
    if (record.kind === "replica" && record.id !== 7n) copied.add(record.id);
  }
  assert.equal([...copied].sort(), [5n, 6n], "copies of chunks 5 and 6 in the second container");
  const again = await open(folder, 16 * 1024);
  assert.equal(
    [...again.list()].map((info) => info.id),
    [7n],
    "chunks deleted under compaction stay deleted",
  );
  await again.close();
});

test("close waits for a container's removal under way, tombstones it carries included", async () => {
  // Six replicas fill the first container; chunk 7 is alone in the second, the active one.
  const { folder, store, second } = await twoContainers(7n);
  // Chunk 2's tombstone is being written to the second container when chunk 7 goes: once that
  // write ends, the second container, with nothing live, is removed, and chunk 2's tombstone
  // is first carried to a new one (the first container still holds chunk 2). Close comes
  // before any of that.
  assert.ok(await store.delete(2n));
  assert.ok(await store.delete(7n));
  await store.close();
  assert.not.ok((await containerFiles(folder)).includes(second), "the second container is gone");
  const again = await open(folder, 16 * 1024);
  assert.equal(
    [...again.list()].map((info) => info.id).sort(),
    [1n, 3n, 4n, 5n, 6n],
    "chunk 2 stays deleted",
  );
  await again.close();
});

test("a newer generation replaces an older one in a container or a file, and after a restart", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const newest = new Map<bigint, Buffer>();
  // Contained, then contained.
  await putWhole(store, 5n, randomBytes(2000), 1n);
  newest.set(5n, randomBytes(2100));
  await putWhole(store, 5n, newest.get(5n)!, 2n);
  // Contained, then a file.
  await putWhole(store, 6n, randomBytes(2000), 1n);
  newest.set(6n, randomBytes(5000));
  await putInPieces(store, 6n, newest.get(6n)!, 2n);
  // A file, then contained: the file goes.
  await putInPieces(store, 7n, randomBytes(5000), 1n);
  newest.set(7n, randomBytes(2200));
  await putWhole(store, 7n, newest.get(7n)!, 2n);
  assert.equal(await filesUnder(join(folder, chunksFolderName)), ["chunk_6_2.data"]);
  await rejects(putWhole(store, 5n, randomBytes(10), 1n), "STALE_GENERATION");
  await rejects(putWhole(store, 5n, randomBytes(10), 2n), "EXISTS");
  for (const [id, bytes] of newest) {
    assert.is(store.get(id)?.generation, 2n);
    assert.equal(await readAll(store, id), bytes);
  }
  await store.close();
  const again = await open(folder);
  for (const [id, bytes] of newest) {
    assert.is(again.get(id)?.generation, 2n, `chunk ${id}`);
    assert.equal(await readAll(again, id), bytes);
  }
  await again.close();
});

test("an older contained generation stays gone once its file replacement is deleted, after a restart", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  // Chunk 9 keeps the container live, so the old record stays on disk beside it.
  await putWhole(store, 9n, randomBytes(2000), 1n);
  await putWhole(store, 8n, randomBytes(2000), 1n);
  await putInPieces(store, 8n, randomBytes(5000), 2n);
  assert.ok(await store.delete(8n));
  await store.close();
  // Without a tombstone for generation 1, its record would be live again after the restart.
  const again = await open(folder);
  assert.is(again.get(8n), undefined);
  assert.is(again.get(9n)?.generation, 1n);
  await again.close();
});

test("a tombstone is not carried past a rewrite of its chunk that is still being written", async () => {
  const folder = await newFolder();
  const store = await open(folder, 16 * 1024);
  // Six replicas fill the first container; 7 to 9 start the second, the active one.
  for (let id = 1n; id <= 9n; id++) await putWhole(store, id, randomBytes(3000));
  // Chunk 2's record is in the first container, its tombstone goes to the second.
  assert.ok(await store.delete(2n));
  // The second fills up (10 to 12) and 13 starts a third, the active one now.
  for (let id = 10n; id <= 13n; id++) await putWhole(store, id, randomBytes(3000));
  assert.is((await containerFiles(folder)).length, 3);
  for (let id = 7n; id <= 11n; id++) assert.ok(await store.delete(id));
  // Chunk 2 is written again, same generation: its record waits in the active container's
  // batch while the second container loses its last replica and goes. Its tombstone for chunk
  // 2 must not be carried to the active container: after the new record, it would delete it.
  const rewritten = randomBytes(3000);
  const writing = putWhole(store, 2n, rewritten);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(await store.delete(12n));
  await writing;
  // Once the delete's tombstone is written (it is not waited for), the counts match the disk.
  await untilCountsMatchDisk(store, folder);
  await store.close();
  const again = await open(folder, 16 * 1024);
  assert.equal(await readAll(again, 2n), rewritten, "the rewritten chunk 2 survives the restart");
  await again.close();
});

test("a tombstone whose deleted record's container is gone is not carried on", async () => {
  const folder = await newFolder();
  const store = await open(folder, 16 * 1024);
  // The first container holds chunks 1 to 5 and 100; the second 7 to 12; 13 starts a third.
  for (const id of [1n, 2n, 3n, 4n, 5n, 100n]) await putWhole(store, id, randomBytes(3000));
  for (let id = 7n; id <= 13n; id++) await putWhole(store, id, randomBytes(3000));
  const [first, second] = await containerFiles(folder);
  assert.is((await containerFiles(folder)).length, 3);
  // The second container's replicas are deleted (their tombstones go to the third) and it goes.
  for (let id = 7n; id <= 12n; id++) assert.ok(await store.delete(id));
  await waitFor(async () => !(await containerFiles(folder)).includes(second!), 5_000, {
    what: "the second container to be removed",
  });
  // Once those tombstones are written, nothing is being appended.
  await untilCountsMatchDisk(store, folder);
  // When the third goes too, its tombstones delete nothing that is still on disk: none is
  // carried into a container of tombstones alone, which would be carried on at every removal.
  // Nor is chunk 13's own tombstone written: its record goes with the third container.
  assert.ok(await store.delete(13n));
  await waitFor(async () => (await containerFiles(folder)).join() === first, 5_000, {
    what: "only the first container to be left",
  });
  await store.close();
  const again = await open(folder, 16 * 1024);
  assert.equal(
    [...again.list()].map((info) => info.id).sort((a, b) => Number(a - b)),
    [1n, 2n, 3n, 4n, 5n, 100n],
  );
  await again.close();
});

test("a container found dead at start-up carries its tombstones before it goes", async () => {
  const folder = await newFolder();
  const store = await open(folder, 16 * 1024);
  // Chunks 1 to 6 fill the first container; 7 is in the second, with chunk 2's tombstone.
  for (let id = 1n; id <= 7n; id++) await putWhole(store, id, randomBytes(3000));
  assert.ok(await store.delete(2n));
  await store.close();
  // As after a crash between a newer generation's file and the release of the old record:
  // chunk 7's generation 2 is a file, so at the next start nothing in the second is live.
  const elsewhere = await newFolder();
  const other = await open(elsewhere);
  const newer = randomBytes(5000);
  await putInPieces(other, 7n, newer, 2n);
  await other.close();
  await mkdir(chunkFolder(folder, 7n), { recursive: true });
  await copyFile(chunkFilePath(elsewhere, 7n, 2n), chunkFilePath(folder, 7n, 2n));

  const again = await open(folder, 16 * 1024);
  assert.equal(await readAll(again, 7n), newer);
  await again.close();
  // The second container went at that start; chunk 2's record in the first must stay deleted.
  const later = await open(folder, 16 * 1024);
  assert.equal([...later.list()].map((info) => info.id).sort(), [1n, 3n, 4n, 5n, 6n, 7n]);
  await later.close();
});

test("damage in the middle of a container costs only the damaged record; the file is kept aside when it goes", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  for (let id = 1n; id <= 3n; id++) await putWhole(store, id, randomBytes(3000));
  await store.close();
  const [name] = await containerFiles(folder);
  const path = join(folder, containersFolderName, name!);
  // A flipped byte in the first record's header.
  await flipByte(path, 10);
  const again = await open(folder);
  assert.equal(
    [...again.list()].map((info) => info.id).sort(),
    [2n, 3n],
    "the records after the damage are found",
  );
  // Once nothing in it is live, the damaged container is renamed aside, not removed.
  assert.ok(await again.delete(2n));
  assert.ok(await again.delete(3n));
  await waitFor(async () => (await containerFiles(folder)).includes(`${name}.damaged`), 5_000, {
    what: "the damaged container to be kept aside",
  });
  await again.close();
  const later = await open(folder);
  assert.equal([...later.list()], [], "a container kept aside is not scanned");
  await later.close();
});

test("a torn record at a container's end is left out at start-up; what came before is kept", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const first = randomBytes(3000);
  const second = randomBytes(3000);
  await putWhole(store, 1n, first);
  await putWhole(store, 2n, second);
  await store.close();
  const [name] = await containerFiles(folder);
  const path = join(folder, containersFolderName, name!);
  const { size } = await stat(path);
  // The second record cut in the middle of its payload, then half a header of a third.
  await truncate(path, size - 100);
  await appendFile(path, Buffer.from("BFSR\x01\x00\x00\x00garbage"));

  const again = await open(folder);
  assert.equal(
    [...again.list()].map((info) => info.id),
    [1n],
  );
  assert.equal(await readAll(again, 1n), first);
  // New records go to a new container, after the torn one.
  const third = randomBytes(500);
  await putWhole(again, 3n, third);
  assert.is((await containerFiles(folder)).length, 2);
  await again.close();
  const later = await open(folder);
  assert.equal(await readAll(later, 3n), third);
  assert.equal(await readAll(later, 1n), first);
  await later.close();
});

test("a flipped byte in a contained replica's data is found by read and verify; in the last header, the scan stops there", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  await putWhole(store, 1n, randomBytes(3000));
  await putWhole(store, 2n, randomBytes(3000));
  const [name] = await containerFiles(folder);
  const path = join(folder, containersFolderName, name!);
  // The first record's payload starts after its header: flip a data byte in its third segment.
  await flipByte(path, recordHeaderBytes + 2 * 1024 + 7);
  await rejects(readAll(store, 1n), "CHECKSUM_MISMATCH");
  await rejects(store.verify(1n), "CHECKSUM_MISMATCH");
  await store.close();

  // A flipped byte in the second (last) record's header: no record after it checks out.
  const secondRecord = (await readFile(path)).indexOf("BFSR", 1);
  await flipByte(path, secondRecord + 10);
  const again = await open(folder);
  assert.equal(
    [...again.list()].map((info) => info.id),
    [1n],
  );
  await again.close();
});

test("a writer that never wrote leaves nothing behind when aborted", async () => {
  const folder = await newFolder();
  const store = await open(folder);
  const writer = await store.createWriter(9n, 1n);
  await writer.abort();
  assert.equal(await readdir(join(folder, "tmp")), []);
  assert.is(store.usedBytes, 0);
  await putWhole(store, 9n, randomBytes(10));
  await store.close();
});

test.run();
