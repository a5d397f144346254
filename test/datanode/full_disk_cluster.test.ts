/**
 * A DataNode whose disk fills up, in a cluster of real processes: four DataNodes, replication
 * 3, one of them on a 2 MiB tmpfs that the test fills with a file of its own (the disk is
 * shared, as disks are). An upload larger than that disk goes through, rebuilding its
 * pipeline when the full DataNode answers NO_SPACE; what was stored before stays readable;
 * the NameNode places nothing more there until a heartbeat reports room again.
 *
 * Heartbeats are 5 s apart here, so that the NameNode can be caught not knowing yet that the
 * disk filled: the test fills it just after a heartbeat, then uploads at once.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sha256 } from "../helpers/bytes.js";
import { HealingCluster, healingDefaults } from "../helpers/healing_cluster.js";
import { mountTmpfs, type Tmpfs } from "../helpers/tmpfs.js";
import { waitFor } from "../helpers/wait.js";

const chunkBytes = healingDefaults.chunkSizeBytes;
const heartbeatMs = 5_000;

let cluster: HealingCluster | undefined;
let tmpfs: Tmpfs | undefined;

test.after(async () => {
  // The DataNode on the tmpfs stops before the tmpfs goes.
  await cluster?.stop();
  await tmpfs?.unmount();
});

async function put(path: string, bytes: Buffer): Promise<void> {
  await cluster!.client.put(Readable.from([bytes]), path);
}

/** The DataNode's entry in the NameNode's report. */
async function reportOf(datanodeId: string) {
  const { datanodes } = await cluster!.client.report();
  const entry = datanodes.find((datanode) => datanode.id === datanodeId);
  if (entry === undefined) throw new Error(`DataNode ${datanodeId} is not in the report`);
  return entry;
}

/** Chunk write failures the DataNode logged with NO_SPACE so far. */
function noSpaceFailures(index: number): number {
  const logs = cluster!.slots[index]!.process!.logs;
  return logs.filter(
    (line) =>
      line.msg === "chunk write failed" && (line.err as { code?: unknown })?.code === "NO_SPACE",
  ).length;
}

/** How many chunks of `path` have a replica on the DataNode. */
async function chunksOn(path: string, datanodeId: string): Promise<number> {
  const { chunks } = await cluster!.client.stat(path);
  return chunks.filter((chunk) => chunk.replicas.includes(datanodeId)).length;
}

test("a DataNode whose disk fills during an upload: the upload goes elsewhere, nothing is lost, placement waits for room", async () => {
  cluster = await HealingCluster.start({
    datanodes: 3,
    namenodeFlags: ["--heartbeat-interval", `${heartbeatMs}ms`, "--dead-after", "30s"],
  });
  tmpfs = await mountTmpfs(2 * 1024 * 1024);
  const full = await cluster.addDatanode({ dataDir: tmpfs.path });
  const fullId = cluster.slots[full]!.id;

  // Files stored before the disk fills; placement rotates, so some land on the small disk.
  const before = new Map<string, Buffer>();
  for (let index = 0; index < 3; index++) {
    const bytes = randomBytes(3 * chunkBytes + 100 * index);
    await put(`/before/${index}.bin`, bytes);
    before.set(`/before/${index}.bin`, bytes);
  }
  let storedOnFull = 0;
  for (const path of before.keys()) storedOnFull += await chunksOn(path, fullId);
  assert.ok(storedOnFull > 0, "some chunks stored before are on the DataNode whose disk fills");

  // Just after a heartbeat, the NameNode believes the disk has room for seconds to come.
  await waitFor(async () => (await reportOf(fullId)).lastHeartbeatMsAgo < 1_000, 2 * heartbeatMs, {
    what: "a heartbeat from the DataNode on the small disk",
    intervalMs: 20,
  });
  assert.ok((await reportOf(fullId)).remainingBytes >= chunkBytes, "it reported room");
  const fillerBytes = await tmpfs.fill();
  assert.ok(fillerBytes > 0);
  const large = randomBytes(48 * chunkBytes + 1); // 3 MiB: more than the whole disk
  await put("/large.bin", large);

  assert.ok(noSpaceFailures(full) > 0, "the full DataNode refused a chunk with NO_SPACE");
  assert.is(sha256(await cluster.read("/large.bin")), sha256(large), "the upload reads back");
  assert.is(await chunksOn("/large.bin", fullId), 0, "no chunk of it is on the full disk");
  const health = await cluster.client.fsck("/");
  assert.is(health.chunks, health.healthy, "every chunk is fully replicated");
  for (const [path, bytes] of before) {
    assert.is(sha256(await cluster.read(path)), sha256(bytes), `${path} is intact`);
  }
  let stillOnFull = 0;
  for (const path of before.keys()) stillOnFull += await chunksOn(path, fullId);
  assert.is(stillOnFull, storedOnFull, "the replicas on the full disk are all still there");
  assert.is(cluster.slots[full]!.process!.child.exitCode, null, "the full DataNode runs on");
  assert.is((await reportOf(fullId)).state, "live");

  // The refusal sent a heartbeat at once: the NameNode knows and places nothing there.
  await waitFor(async () => (await reportOf(fullId)).remainingBytes < chunkBytes, 2 * heartbeatMs, {
    what: "the NameNode to learn that the disk is full",
  });
  assert.ok(
    cluster.namenodeLines("DataNode has no room for a chunk: no new chunks are placed on it")
      .length > 0,
  );
  const refusedSoFar = noSpaceFailures(full);
  for (let index = 0; index < 3; index++) {
    await put(`/while-full/${index}.bin`, randomBytes(4 * chunkBytes));
    assert.is(await chunksOn(`/while-full/${index}.bin`, fullId), 0);
  }
  assert.is(noSpaceFailures(full), refusedSoFar, "no pipeline was offered the full DataNode");

  // Space comes back; once a heartbeat says so, the DataNode takes chunks again.
  await tmpfs.free();
  await waitFor(
    async () => (await reportOf(fullId)).remainingBytes >= chunkBytes,
    3 * heartbeatMs,
    {
      what: "a heartbeat reporting room on the small disk",
    },
  );
  assert.ok(cluster.namenodeLines("DataNode has room for chunks again").length > 0);
  const after = randomBytes(4 * chunkBytes);
  await put("/after.bin", after);
  assert.ok((await chunksOn("/after.bin", fullId)) > 0, "placement uses the DataNode again");
  assert.is(sha256(await cluster.read("/after.bin")), sha256(after));
  const healthAfter = await cluster.client.fsck("/");
  assert.is(healthAfter.chunks, healthAfter.healthy);
});

test.run();
