import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chunkFilePath } from "../../datanode/_chunk_layout.js";
import { ChunkStore, type ReplicaInfo } from "../../datanode/chunk_store.js";
import { Scrubber } from "../../datanode/scrubber.js";
import type { BigFsError } from "../../protocol/mod.js";
import { flipByte } from "../helpers/bytes.js";
import { waitFor } from "../helpers/wait.js";

const segmentBytes = 16 * 1024;
const chunkBytes = 64 * 1024;
const folders: string[] = [];

/** A store of `count` chunks of 64 KiB, ids 1 to `count`. */
async function storeWith(count: number): Promise<{ folder: string; store: ChunkStore }> {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-scrubber-"));
  folders.push(folder);
  const store = await ChunkStore.open(folder, { capacityBytes: 1 << 30, segmentBytes });
  for (let id = 1n; id <= BigInt(count); id++) {
    const writer = await store.createWriter(id, 1n, { sizeBytesMax: chunkBytes });
    await writer.write(randomBytes(chunkBytes));
    await writer.finalize();
  }
  return { folder, store };
}

test("the scrubber finds a flipped byte within its rate budget and goes on", async () => {
  const { folder, store } = await storeWith(8);
  await flipByte(chunkFilePath(folder, 6n, 1n), 40_000);
  const found: Array<{ replica: ReplicaInfo; error: BigFsError }> = [];
  // 512 KiB at 2 MiB/s: a pass takes about a quarter of a second.
  const scrubber = new Scrubber(store, {
    bytesPerSecond: 2 * 1024 * 1024,
    onCorrupt: (replica, error) => found.push({ replica, error }),
  });
  scrubber.start();
  await waitFor(() => found.length > 0, 10_000, { what: "onCorrupt" });
  assert.is(found[0]!.replica.id, 6n);
  assert.is(found[0]!.error.code, "CHECKSUM_MISMATCH");
  assert.match(found[0]!.error.message, /chunk 6 segment 2/);
  await waitFor(() => scrubber.passes >= 1, 10_000, { what: "a full pass" });
  await scrubber.stop();
  assert.is(found.length, 1);
  // Every good chunk and the good segments of the bad one, never more than one pass's bytes.
  assert.ok(scrubber.bytesVerified >= 7 * chunkBytes + 2 * segmentBytes);
  const result = await scrubber.scrubOnce();
  assert.equal(result, { chunks: 8, corrupt: 1 });
  assert.is(found.length, 2);
  assert.is(scrubber.passes, 2);
});

test("the scrubber keeps to its rate and stop() stops it", async () => {
  const { store } = await storeWith(16);
  const totalBytes = 16 * chunkBytes;
  const bytesPerSecond = 256 * 1024;
  const scrubber = new Scrubber(store, { bytesPerSecond, onCorrupt: () => assert.unreachable() });
  const startedMs = performance.now();
  scrubber.start();
  await waitFor(() => scrubber.bytesVerified > 0, 10_000, { what: "the first segment" });
  // The budget forbids reading the whole megabyte at once: four seconds' worth.
  assert.ok(scrubber.bytesVerified < totalBytes);
  await waitFor(() => scrubber.bytesVerified >= 8 * segmentBytes, 10_000);
  const elapsedSeconds = (performance.now() - startedMs) / 1000;
  // A burst of 1/8 s, then at most the rate; generous, and a slow machine only lowers it.
  const allowedBytes = bytesPerSecond / 8 + segmentBytes + 1.5 * bytesPerSecond * elapsedSeconds;
  assert.ok(
    scrubber.bytesVerified <= allowedBytes,
    `${scrubber.bytesVerified} bytes in ${elapsedSeconds.toFixed(3)} s`,
  );
  await scrubber.stop();
  const stoppedAt = scrubber.bytesVerified;
  assert.ok(stoppedAt < totalBytes);
  // A second scrubber at the same rate, started now, shows the time that passes: once it has
  // verified more than the stopped one had left to do, the stopped one would have moved.
  const control = new Scrubber(store, { bytesPerSecond, onCorrupt: () => assert.unreachable() });
  control.start();
  try {
    await waitFor(() => control.bytesVerified >= 4 * segmentBytes, 10_000, {
      what: "the control scrubber's first segments",
    });
  } finally {
    await control.stop();
  }
  assert.is(scrubber.bytesVerified, stoppedAt, "nothing is verified after stop()");
  assert.is(scrubber.passes, 0);
});

test("chunks deleted or replaced while a pass runs are skipped, not reported", async () => {
  const { store } = await storeWith(6);
  const reported: ReplicaInfo[] = [];
  const scrubber = new Scrubber(store, {
    bytesPerSecond: 512 * 1024,
    onCorrupt: (replica) => reported.push(replica),
    intervalMs: 60_000,
  });
  scrubber.start();
  await waitFor(() => scrubber.bytesVerified > 0, 10_000);
  for (const id of [2n, 3n, 5n]) await store.delete(id);
  const writer = await store.createWriter(4n, 2n);
  await writer.write(randomBytes(1000));
  await writer.finalize();
  await waitFor(() => scrubber.passes >= 1, 10_000, { what: "a full pass" });
  await scrubber.stop();
  assert.equal(reported, []);
  assert.equal(await scrubber.scrubOnce(), { chunks: 3, corrupt: 0 });
});

test.after(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

test.run();
