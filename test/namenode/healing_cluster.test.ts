/**
 * The cluster heals itself: one NameNode and four DataNodes as real processes (64 KiB chunks,
 * heartbeats every 200 ms, dead after 2 s), DataNodes killed, stopped, restarted and corrupted
 * on disk, and every file checked byte for byte (sha256) after each blow. Each test is modelled
 * on the HDFS test named in it. The tests share the cluster and run in order; each one ends
 * with the cluster healthy again, so the next starts from a known state.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  bigintAsString,
  HealingCluster,
  healingDefaults,
  sha256,
} from "../helpers/healing_cluster.js";
import { flipReplicaByte, replicaBytes } from "../helpers/stored_replicas.js";
import { waitFor } from "../helpers/wait.js";

const chunkBytes = healingDefaults.chunkSizeBytes;
/** A DataNode is declared dead within this of its last heartbeat (plus a tick or two). */
const deadWithinMs = healingDefaults.deadAfterMs + 3_000;
/** Re-replication of this test's few MiB, on a busy two-core machine. */
const repairWithinMs = 20_000;

let cluster: HealingCluster;
/** Every file the tests expect, with its bytes. */
const files = new Map<string, Buffer>();

async function put(path: string, bytes: Buffer, options: { replication?: number } = {}) {
  await cluster.client.put(Readable.from([bytes]), path, { ...options, overwrite: true });
  files.set(path, bytes);
}

/** Reads every expected file back and compares its sha256. */
async function assertAllExact(): Promise<void> {
  for (const [path, bytes] of files) {
    assert.is(sha256(await cluster.read(path)), sha256(bytes), `${path} reads back exact`);
  }
}

/** Waits until every chunk below `/` is healthy: none under, over, corrupt or missing. */
function waitHealthy(what: string, timeoutMs = repairWithinMs) {
  return cluster.waitFsck(
    (report) => report.chunks > 0 && report.healthy === report.chunks,
    timeoutMs,
    `every chunk healthy (${what})`,
  );
}

/** The replicas of each chunk of a file, as `stat` lists them. */
async function replicasOf(path: string): Promise<{ id: bigint; replicas: string[] }[]> {
  const status = await cluster.client.stat(path);
  return status.chunks.map((chunk) => ({ id: chunk.id, replicas: [...chunk.replicas] }));
}

test.before(async () => {
  cluster = await HealingCluster.start({ datanodes: 4 });
});

test.after(async () => {
  await cluster?.stop();
});

// HDFS: TestReplicationPolicy (even spread of new blocks by the default placement policy).
test("100 chunks of replication 1 land within ±20% of even on four DataNodes", async () => {
  const perDatanode = new Map(cluster.slots.map((slot) => [slot.id, 0]));
  try {
    for (let file = 0; file < 4; file++) {
      const path = `/placement/file-${file}.bin`;
      await cluster.client.put(Readable.from([randomBytes(25 * chunkBytes)]), path, {
        replication: 1,
      });
      for (const chunk of await replicasOf(path)) {
        assert.is(chunk.replicas.length, 1, `chunk ${chunk.id} has one replica`);
        const id = chunk.replicas[0]!;
        perDatanode.set(id, (perDatanode.get(id) ?? 0) + 1);
      }
    }
    const counts = [...perDatanode.values()];
    assert.is(
      counts.reduce((a, b) => a + b, 0),
      100,
    );
    for (const count of counts) {
      assert.ok(count >= 20 && count <= 30, `replicas per DataNode: ${counts.join(", ")}`);
    }
  } finally {
    // Chunks of one replica would be lost with the DataNodes the next tests stop.
    await cluster.client.delete("/placement", { recursive: true });
  }
});

// HDFS: TestSetrepIncreasing / TestSetrepDecreasing.
test("setrep 2 → 3 adds a copy of every chunk, 3 → 1 removes two", async () => {
  const path = "/setrep/file.bin";
  await put(path, randomBytes(4 * chunkBytes + 1234), { replication: 2 });
  const everyChunkHas = (count: number) => async () =>
    (await replicasOf(path)).every((chunk) => chunk.replicas.length === count);
  await waitFor(everyChunkHas(2), 5_000, { what: "2 replicas per chunk", intervalMs: 50 });

  await cluster.client.setReplication(path, 3);
  await waitFor(everyChunkHas(3), repairWithinMs, { what: "3 replicas per chunk" });
  assert.is((await cluster.client.stat(path)).entry.replication, 3);

  await cluster.client.setReplication(path, 1);
  await waitFor(everyChunkHas(1), repairWithinMs, { what: "1 replica per chunk" });
  assert.is((await cluster.client.stat(path)).entry.replication, 1);
  await cluster.waitFsck((report) => report.healthy === report.chunks, 5_000, "healthy", path);
  await assertAllExact();
  // The tests below kill DataNodes: a file of one replica would be lost, as it should.
  await cluster.client.delete(path);
  files.delete(path);
});

// HDFS: TestDatanodeDeath / TestDeadDatanode.
test("a DataNode killed with SIGKILL is declared dead and its chunks are copied elsewhere", async () => {
  await put("/data/a.bin", randomBytes(10 * chunkBytes));
  await put("/data/b.bin", randomBytes(5 * chunkBytes + 777));
  await put("/data/c.bin", randomBytes(10_000));
  await waitHealthy("after the writes");
  const victim = cluster.slots[0]!;
  const held = (await Promise.all([...files.keys()].map(replicasOf)))
    .flat()
    .filter((chunk) => chunk.replicas.includes(victim.id)).length;
  assert.ok(held > 0, "the victim holds replicas");

  await cluster.killDatanode(0);
  await cluster.waitState(0, "dead", deadWithinMs);
  await waitHealthy("after the death", repairWithinMs);
  for (const path of files.keys()) {
    for (const chunk of await replicasOf(path)) {
      assert.not.ok(chunk.replicas.includes(victim.id), `chunk ${chunk.id} not on the dead one`);
    }
  }
  await assertAllExact();
});

// HDFS: TestOverReplicatedBlocks.
test("a dead DataNode that returns brings extra copies, and they are removed", async () => {
  const excessBefore = cluster.namenodeLines("deleting an excess replica").length;
  await cluster.startDatanode(0);
  await waitFor(
    () => cluster.namenodeLines("deleting an excess replica").length > excessBefore,
    10_000,
    { what: "excess replicas to be deleted", intervalMs: 50 },
  );
  const report = await waitHealthy("after the return");
  assert.is(report.overReplicated, 0);
  for (const [path] of files) {
    const expected = (await cluster.client.stat(path)).entry.replication;
    for (const chunk of await replicasOf(path)) {
      assert.is(chunk.replicas.length, expected, `chunk ${chunk.id} of ${path}`);
    }
  }
  await assertAllExact();
});

// HDFS: TestDatanodeRestart / TestBlockReport (a restarted DataNode's out-of-date replicas).
test("a DataNode that missed a rewrite returns: its old replicas are never served and are deleted", async () => {
  const path = "/data/b.bin";
  const old = await replicasOf(path);
  const index = cluster.indexOf(old[0]!.replicas[0]!);
  const slot = cluster.slots[index]!;
  const oldChunks = old.filter((chunk) => chunk.replicas.includes(slot.id));
  const oldFiles = (
    await Promise.all(oldChunks.map((chunk) => cluster.replicasOf(index, chunk.id)))
  ).flat();
  assert.ok(oldFiles.length > 0, "the DataNode holds old chunk files on disk");

  await cluster.stopDatanode(index);
  await cluster.waitState(index, "dead", deadWithinMs);
  await put(path, randomBytes(6 * chunkBytes + 99));
  await cluster.startDatanode(index);
  // Right after its return, while its old replicas are still on its disk.
  for (let round = 0; round < 3; round++) {
    assert.is(sha256(await cluster.read(path)), sha256(files.get(path)!), "the new content");
  }
  const newIds = new Set((await replicasOf(path)).map((chunk) => chunk.id));
  assert.ok(
    oldChunks.every((chunk) => !newIds.has(chunk.id)),
    "the rewrite has chunks of its own",
  );
  await waitFor(
    async () => {
      const left = await Promise.all(oldChunks.map((chunk) => cluster.replicasOf(index, chunk.id)));
      return left.every((found) => found.length === 0);
    },
    10_000,
    { what: "the old chunk files to be deleted", intervalMs: 50 },
  );
  await waitHealthy("after the stale DataNode returned");
  await assertAllExact();
});

// HDFS: TestDatanodeDeath (DataNodes dying one after another).
// The second dies right after the first, before the first is even declared dead: nothing is
// repaired in between, so some chunks are left with a single live replica, and none is lost.
test("two of four DataNodes die one right after the other and no file is lost", async () => {
  for (const [path] of files) {
    assert.is((await cluster.client.stat(path)).entry.replication, 3, `${path} has 3 replicas`);
  }
  await cluster.killDatanode(2);
  await cluster.killDatanode(3);
  try {
    await cluster.waitState(2, "dead", deadWithinMs);
    await cluster.waitState(3, "dead", deadWithinMs);
    // Two DataNodes are left, so each chunk ends with two replicas: one on each.
    await cluster.waitFsck(
      (report) =>
        report.missing === 0 &&
        report.problems.every(
          (problem) => problem.status === "under-replicated" && problem.liveReplicas === 2,
        ),
      repairWithinMs,
      "every chunk on both live DataNodes",
    );
    await assertAllExact();
  } finally {
    await Promise.all([cluster.startDatanode(2), cluster.startDatanode(3)]);
  }
  await waitHealthy("after both returned");
  await assertAllExact();
});

// HDFS: TestMissingBlocksAlert.
test("a chunk whose only holder stops is reported missing with its file, and found again", async () => {
  const path = "/missing/lonely.bin";
  await put(path, randomBytes(40_000), { replication: 1 });
  const [chunk] = await replicasOf(path);
  const index = cluster.indexOf(chunk!.replicas[0]!);

  await cluster.stopDatanode(index);
  await cluster.waitState(index, "dead", deadWithinMs);
  const report = await cluster.waitFsck(
    (fsck) => fsck.missing === 1,
    5_000,
    "the chunk reported missing",
    "/missing",
  );
  assert.equal(
    report.problems.map(({ path, chunkId, status }) => ({ path, chunkId, status })),
    [{ path, chunkId: chunk!.id, status: "missing" }],
  );
  const readFailed = await cluster.read(path).then(
    () => false,
    () => true,
  );
  assert.ok(readFailed, "a missing chunk cannot be read");

  await cluster.startDatanode(index);
  await waitHealthy("after the holder returned");
  await assertAllExact();
});

// HDFS: TestFileCorruption / TestProcessCorruptBlocks.
test("a replica corrupted on disk is found by the scrubber, replaced, then removed", async () => {
  const path = "/data/a.bin";
  const chunkIndex = 3;
  const chunk = (await replicasOf(path))[chunkIndex]!;
  const index = cluster.indexOf(chunk.replicas[0]!);
  const [replica] = await cluster.replicasOf(index, chunk.id);
  assert.ok(replica, "the replica on disk");
  const good = files.get(path)!.subarray(chunkIndex * chunkBytes, (chunkIndex + 1) * chunkBytes);

  // The scrubber makes a pass when a DataNode starts: restart it on the corrupted file. (Should
  // the restart take longer than --dead-after, its chunks are copied first for its death.)
  const stoppedAt = cluster.namenode.lines.length;
  await cluster.stopDatanode(index);
  await flipReplicaByte(replica!, 1000);
  await cluster.startDatanode(index, ["--scrub-rate", "64MiB"]);
  await waitFor(
    () => cluster.namenodeLines("corrupt replica reported", chunk.id).length > 0,
    10_000,
    { what: "the corrupt replica to be reported", intervalMs: 50 },
  );
  // Readers are never handed the corrupt replica (or skip it): the bytes are exact.
  await assertAllExact();
  await waitFor(
    () =>
      cluster.namenodeLines("deleting a corrupt replica: enough good copies exist", chunk.id)
        .length > 0,
    repairWithinMs,
    { what: "the corrupt replica to be deleted", intervalMs: 50 },
  );
  // Replaced first: a copy was scheduled before the corrupt replica was deleted.
  const lines = cluster.namenode.lines;
  const isOf = (msg: string) => (line: Record<string, unknown>, at: number) =>
    at >= stoppedAt && line.msg === msg && line.chunkId === String(chunk.id);
  const deletedAt = lines.findIndex(isOf("deleting a corrupt replica: enough good copies exist"));
  const copiedAt = lines.findIndex(isOf("replication scheduled"));
  assert.ok(
    copiedAt >= 0 && copiedAt < deletedAt,
    `copy scheduled (line ${copiedAt}) before the delete (line ${deletedAt})`,
  );
  // The corrupt file is gone from that DataNode (or a good copy took its place).
  await waitFor(
    async () => {
      const found = await cluster.replicasOf(index, chunk.id);
      const contents = await Promise.all(found.map((replica) => replicaBytes(replica)));
      return contents.every((bytes) => sha256(bytes) === sha256(good));
    },
    10_000,
    { what: "the corrupt file to go", intervalMs: 50 },
  );
  const report = await waitHealthy("after the corrupt replica was replaced");
  assert.is(report.corrupt, 0, JSON.stringify(report, bigintAsString));
  await assertAllExact();
});

test.run();
