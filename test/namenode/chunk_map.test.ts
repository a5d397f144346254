import { test } from "uvu";
import * as assert from "uvu/assert";
import { ChunkMap, type ChunkMapOptions, type ReplicaReport } from "../../namenode/chunk_map.js";
import { Namespace } from "../../namenode/namespace.js";

const gen = 5n;

/** A chunk map with committed chunks 1..count (3 replicas wanted, 100 bytes each). */
function map(count: number, options: ChunkMapOptions = {}): ChunkMap {
  const chunks = new ChunkMap(options);
  for (let id = 1n; id <= BigInt(count); id++) {
    chunks.addChunk({
      id,
      generation: gen,
      expectedReplication: 3,
      size: 100,
      committed: true,
    });
  }
  return chunks;
}

const replica = (id: bigint, generation = gen, size = 100): ReplicaReport => ({
  id,
  generation,
  size,
});

/** Writes files through a namespace, as the NameNode would, mirroring them in `chunks`. */
function writeFiles(namespace: Namespace, chunks: ChunkMap, files: number[][]): void {
  for (const [index, sizes] of files.entries()) {
    const fileId = namespace.highestFileId + 1n;
    namespace.apply({
      op: "create",
      path: `/dir/file-${index}`,
      fileId,
      clientName: "client",
      replication: 3,
      chunkSizeBytes: 1000,
      overwrite: false,
      mtimeMs: 1,
    });
    for (const size of sizes) {
      const chunkId = namespace.highestChunkId + 1n;
      const generation = namespace.highestGeneration + 1n;
      namespace.apply({ op: "addChunk", fileId, chunkId, generation, replaces: 0n });
      chunks.addChunk({
        id: chunkId,
        generation,
        expectedReplication: 3,
        size: 0,
        committed: false,
      });
      namespace.apply({ op: "commitChunk", fileId, chunkId, generation, size, xxh64: 1n });
      chunks.commitChunk(chunkId, size);
    }
    namespace.apply({ op: "complete", fileId, mtimeMs: 2 });
  }
}

test("after a NameNode restart, full reports rebuild the same locations", () => {
  const namespace = new Namespace();
  const before = new ChunkMap();
  writeFiles(namespace, before, [[1000, 1000, 10], [500], [1000, 7]]);
  // Each DataNode's disk, as the writes left it: chunk i on dn-(i % 4), dn-((i+1) % 4), ...
  const disks = new Map<string, ReplicaReport[]>();
  for (const file of namespace.walkFiles("/")) {
    for (const chunk of file.chunks) {
      for (let copy = 0n; copy < 3n; copy++) {
        const datanodeId = `dn-${(chunk.id + copy) % 4n}`;
        before.reportReplica(datanodeId, chunk);
        disks.set(datanodeId, [...(disks.get(datanodeId) ?? []), chunk]);
      }
    }
  }

  const after = new ChunkMap();
  for (const file of namespace.walkFiles("/")) {
    for (const chunk of file.chunks) {
      after.addChunk({ ...chunk, expectedReplication: file.entry.replication });
    }
  }
  assert.equal(after.chunksWithReplicaCount(), { reported: 0, total: 6 });
  for (const [datanodeId, reports] of disks) {
    const result = after.fullReport(datanodeId, reports);
    assert.equal(result, { stored: reports.length, problems: [] });
  }
  for (const file of namespace.walkFiles("/")) {
    for (const chunk of file.chunks) {
      assert.equal(after.liveReplicas(chunk.id).sort(), before.liveReplicas(chunk.id).sort());
      assert.is(after.liveReplicas(chunk.id).length, 3);
    }
  }
  assert.equal(after.chunksWithReplicaCount(), { reported: 6, total: 6 });
  assert.equal(after.health(), {
    chunks: 6,
    healthy: 6,
    underReplicated: 0,
    overReplicated: 0,
    corrupt: 0,
    missing: 0,
  });
});

test("an older generation is stale and not stored; it replaces a good replica it overwrote", () => {
  const chunks = map(1);
  assert.is(chunks.reportReplica("dn-1", replica(1n, gen - 1n)), "stale");
  assert.equal(chunks.liveReplicas(1n), []);
  assert.is(chunks.reportReplica("dn-2", replica(1n)), "stored");
  assert.is(chunks.reportReplica("dn-2", replica(1n, gen - 1n)), "stale");
  assert.equal(chunks.liveReplicas(1n), []);
});

test("a replica of an unknown chunk is an orphan", () => {
  const chunks = map(1);
  assert.is(chunks.reportReplica("dn-1", replica(99n)), "orphan");
  assert.is(chunks.markCorrupt("dn-1", 99n, gen), "orphan");
  assert.is(chunks.replicaCountOf("dn-1"), 0);
});

test("a wrong size or a newer generation is corrupt; an uncommitted chunk's size is not checked", () => {
  const chunks = map(2);
  assert.is(chunks.reportReplica("dn-1", replica(1n, gen, 99)), "corrupt");
  assert.is(chunks.reportReplica("dn-2", replica(2n, gen + 1n)), "corrupt");
  assert.equal(chunks.liveReplicas(1n), []);
  assert.equal(chunks.corruptReplicas(1n), ["dn-1"]);
  assert.equal(chunks.corruptReplicas(2n), ["dn-2"]);
  chunks.addChunk({
    id: 3n,
    generation: gen,
    expectedReplication: 3,
    size: 0,
    committed: false,
  });
  assert.is(chunks.reportReplica("dn-1", replica(3n, gen, 12_345)), "stored");
});

test("corrupt replicas are never live; the mark stays until the replica goes", () => {
  const chunks = map(1);
  for (const datanodeId of ["dn-1", "dn-2", "dn-3"]) chunks.reportReplica(datanodeId, replica(1n));
  assert.is(chunks.markCorrupt("dn-2", 1n, gen), "corrupt");
  assert.equal(chunks.liveReplicas(1n), ["dn-1", "dn-3"]);
  assert.is(chunks.reportReplica("dn-2", replica(1n)), "corrupt");
  assert.equal(chunks.liveReplicas(1n), ["dn-1", "dn-3"]);
  assert.equal(chunks.status(1n), { status: "corrupt", liveReplicas: 2 });
  assert.ok(chunks.removeReplica("dn-2", 1n));
  assert.not.ok(chunks.removeReplica("dn-2", 1n));
  assert.equal(chunks.corruptReplicas(1n), []);
  assert.equal(chunks.status(1n), { status: "under-replicated", liveReplicas: 2 });
  assert.is(chunks.reportReplica("dn-2", replica(1n)), "stored");
  assert.equal(chunks.status(1n), { status: "healthy", liveReplicas: 3 });
  assert.is(chunks.markCorrupt("dn-1", 1n, gen - 1n), "stale");
  assert.equal(chunks.liveReplicas(1n), ["dn-3", "dn-2"]);
});

test("replicas on dead DataNodes stop counting, by the isLive filter and by datanodeDead", () => {
  const dead = new Set<string>();
  const chunks = map(2, { isLive: (id) => !dead.has(id) });
  for (const datanodeId of ["dn-1", "dn-2", "dn-3"]) {
    chunks.reportReplica(datanodeId, replica(1n));
    chunks.reportReplica(datanodeId, replica(2n));
  }
  dead.add("dn-1");
  assert.equal(chunks.liveReplicas(1n), ["dn-2", "dn-3"]);
  assert.equal(chunks.status(1n), { status: "under-replicated", liveReplicas: 2 });
  assert.equal(chunks.datanodeDead("dn-1").sort(), [1n, 2n]);
  assert.is(chunks.replicaCountOf("dn-1"), 0);
  dead.clear();
  assert.equal(chunks.liveReplicas(1n), ["dn-2", "dn-3"]);
  // It comes back and registers: its full report puts its replicas back.
  assert.equal(chunks.fullReport("dn-1", [replica(1n), replica(2n)]).stored, 2);
  assert.is(chunks.liveReplicas(1n).length, 3);
  assert.equal(chunks.datanodeDead("dn-unknown"), []);
});

test("a full report replaces what was known and names what to act on", () => {
  const chunks = map(4);
  chunks.reportReplica("dn-1", replica(1n));
  chunks.reportReplica("dn-1", replica(2n));
  chunks.reportReplica("dn-1", replica(3n));
  const result = chunks.fullReport("dn-1", [
    replica(1n),
    replica(2n, gen - 1n),
    replica(4n, gen, 1),
    replica(77n),
  ]);
  assert.is(result.stored, 1);
  const outcomes = result.problems.map((problem) => `${problem.id}:${problem.outcome}`);
  assert.equal(outcomes.sort(), ["2:stale", "3:removed", "4:corrupt", "77:orphan"]);
  assert.equal(chunks.liveReplicas(1n), ["dn-1"]);
  assert.equal(chunks.liveReplicas(2n), []);
  assert.equal(chunks.liveReplicas(3n), []);
  assert.equal(chunks.corruptReplicas(4n), ["dn-1"]);
  assert.is(chunks.replicaCountOf("dn-1"), 2);
});

test("removing a chunk names every DataNode holding a replica, corrupt ones included", () => {
  const chunks = map(1);
  chunks.reportReplica("dn-1", replica(1n));
  chunks.reportReplica("dn-2", replica(1n, gen, 1));
  assert.equal(chunks.removeChunk(1n), ["dn-1", "dn-2"]);
  assert.is(chunks.size, 0);
  assert.is(chunks.replicaCountOf("dn-1"), 0);
  assert.equal(chunks.removeChunk(1n), []);
  assert.is(chunks.reportReplica("dn-1", replica(1n)), "orphan");
});

test("health puts each committed chunk in one bucket; chunks being written are left out", () => {
  const chunks = map(6);
  const hold = (id: bigint, ...datanodes: string[]) => {
    for (const datanodeId of datanodes) chunks.reportReplica(datanodeId, replica(id));
  };
  hold(1n, "a", "b", "c"); // healthy
  hold(2n, "a"); // under-replicated
  hold(3n, "a", "b", "c", "d"); // over-replicated
  hold(4n, "a", "b", "c");
  chunks.markCorrupt("d", 4n, gen); // corrupt (and still 3 good)
  chunks.markCorrupt("a", 5n, gen); // only a corrupt replica: missing
  // 6 has none: missing.
  chunks.addChunk({
    id: 7n,
    generation: gen,
    expectedReplication: 3,
    size: 0,
    committed: false,
  });
  assert.equal(chunks.health(), {
    chunks: 6,
    healthy: 1,
    underReplicated: 1,
    overReplicated: 1,
    corrupt: 1,
    missing: 2,
  });
  const problems = [...chunks.problemChunks()].map((p) => [p.id, p.status, p.liveReplicas]);
  assert.equal(problems, [
    [2n, "under-replicated", 1],
    [3n, "over-replicated", 4],
    [4n, "corrupt", 3],
    [5n, "missing", 0],
    [6n, "missing", 0],
  ]);
  assert.is(chunks.status(7n), undefined);
  chunks.setExpectedReplication(3n, 4);
  chunks.setExpectedReplication(2n, 1);
  assert.is(chunks.health().healthy, 3);
});

test("safe mode counts committed chunks with a live good replica", () => {
  const dead = new Set<string>();
  const chunks = map(4, { isLive: (id) => !dead.has(id) });
  assert.equal(chunks.chunksWithReplicaCount(), { reported: 0, total: 4 });
  chunks.reportReplica("a", replica(1n));
  chunks.reportReplica("b", replica(2n));
  chunks.reportReplica("c", replica(3n, gen, 1)); // corrupt: does not count
  assert.equal(chunks.chunksWithReplicaCount(), { reported: 2, total: 4 });
  dead.add("b");
  assert.equal(chunks.chunksWithReplicaCount(), { reported: 1, total: 4 });
});

test("committing records the size, and unknown chunks are a bug", () => {
  const chunks = new ChunkMap();
  chunks.addChunk({ id: 1n, generation: 1n, expectedReplication: 2 });
  assert.equal(chunks.get(1n)?.committed, false);
  assert.is(chunks.status(1n), undefined);
  assert.throws(
    () =>
      chunks.addChunk({
        id: 1n,
        generation: 1n,
        expectedReplication: 2,
        size: 0,
        committed: false,
      }),
    /already/,
  );
  chunks.commitChunk(1n, 42);
  assert.equal(chunks.get(1n), {
    id: 1n,
    generation: 1n,
    expectedReplication: 2,
    size: 42,
    committed: true,
  });
  assert.is(chunks.reportReplica("a", replica(1n, 1n, 41)), "corrupt");
  assert.throws(() => chunks.commitChunk(2n, 1), /chunk 2/);
  assert.throws(() => chunks.setExpectedReplication(2n, 1), /chunk 2/);
});

test.run();
