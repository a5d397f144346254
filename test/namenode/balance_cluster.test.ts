/**
 * The cluster stays even: one NameNode and DataNodes as real processes with small capacities
 * (32 MiB, so a few MiB move their use by percents), balanced after a new DataNode joins and
 * drained by decommissioning, every file checked byte for byte (sha256). Each test is modelled
 * on the HDFS test named in it; they share the cluster and run in order.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { FsckReport } from "#client";
import { HealingCluster, healingDefaults, sha256 } from "../helpers/healing_cluster.js";
import { waitFor } from "../helpers/wait.js";

const chunkBytes = healingDefaults.chunkSizeBytes;
const thresholdPercent = 5;

let cluster: HealingCluster;
/** Every file the tests expect, with its bytes. */
const files = new Map<string, Buffer>();

async function assertAllExact(): Promise<void> {
  for (const [path, bytes] of files) {
    assert.is(sha256(await cluster.read(path)), sha256(bytes), `${path} reads back exact`);
  }
}

/** Each live DataNode's use in percent, from `report()`, and the mean over them all. */
async function usePercents(): Promise<{ mean: number; use: Map<string, number> }> {
  const live = (await cluster.client.report()).datanodes.filter((d) => d.state === "live");
  const used = live.reduce((sum, d) => sum + d.usedBytes, 0);
  const capacity = live.reduce((sum, d) => sum + d.capacityBytes, 0);
  return {
    mean: (100 * used) / capacity,
    use: new Map(live.map((d) => [d.id, (100 * d.usedBytes) / d.capacityBytes])),
  };
}

test.before(async () => {
  cluster = await HealingCluster.start({ datanodes: 3, capacity: "32MiB" });
});

test.after(async () => {
  await cluster?.stop();
});

// HDFS: TestBalancer (testBalancer1: a new empty DataNode joins a full cluster).
test("balance fills a new empty DataNode until every DataNode is within the threshold", async () => {
  // 4 MiB of replication 3 on three DataNodes: each holds all of it, 12.5% of its capacity.
  for (let file = 0; file < 4; file++) {
    const bytes = randomBytes(16 * chunkBytes - file * 1000);
    const path = `/balance/file-${file}.bin`;
    await cluster.client.put(Readable.from([bytes]), path);
    files.set(path, bytes);
  }
  await cluster.waitFsck((r) => r.healthy === r.chunks && r.chunks > 0, 10_000, "healthy");
  const index = await cluster.addDatanode();
  const newcomer = cluster.slots[index]!.id;
  const before = await usePercents();
  assert.ok(
    (before.use.get(newcomer) ?? 0) < before.mean - thresholdPercent,
    `the new DataNode starts below the threshold: ${JSON.stringify([...before.use])}`,
  );

  const deadline = Date.now() + 40_000;
  let result = await cluster.client.balance({ thresholdPercent, waitMs: 5_000 });
  while (result.running && Date.now() < deadline) {
    result = await cluster.client.balance({ thresholdPercent, waitMs: 5_000 });
  }
  assert.not.ok(result.running, "the balancer finished in time");
  assert.ok(result.balanced, `balanced: ${JSON.stringify({ ...result, moved: [] })}`);
  assert.ok(result.movedCount > 0, "replicas were moved");
  assert.ok(
    result.moved.every((move) => move.target === newcomer),
    "every move went to the new DataNode",
  );

  // The DataNodes' own figures catch up with a heartbeat or two.
  let last: Awaited<ReturnType<typeof usePercents>> | undefined;
  await waitFor(
    async () => {
      last = await usePercents();
      const { mean, use } = last;
      return (
        use.size === 4 && [...use.values()].every((p) => Math.abs(p - mean) <= thresholdPercent)
      );
    },
    5_000,
    { what: "every DataNode within the threshold", intervalMs: 50 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${JSON.stringify(last && [last.mean, ...last.use])}`);
  });
  const fsck = await cluster.waitFsck((r) => r.healthy === r.chunks, 10_000, "healthy");
  assert.is(fsck.missing + fsck.underReplicated + fsck.overReplicated, 0);
  await assertAllExact();
});

// HDFS: TestDecommission (testDecommission: replicas copied away, then `Decommissioned`).
test("a decommissioned DataNode is drained with no chunk ever below its target", async () => {
  const victim = cluster.slots[0]!;
  const holds = async () =>
    (await Promise.all([...files.keys()].map((path) => cluster.client.stat(path))))
      .flatMap((status) => status.chunks)
      .filter((chunk) => chunk.replicas.includes(victim.id)).length;
  assert.ok((await holds()) > 0, "the DataNode holds replicas");

  // Watch fsck the whole time: a chunk below target or missing at any moment is a failure.
  // (fsck counts a draining DataNode's replicas, the replication monitor does not: so chunks
  // show as over-replicated while they are copied away, never as under-replicated.)
  const seen: FsckReport[] = [];
  const progress: (number | undefined)[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      seen.push(await cluster.client.fsck("/"));
      const entry = (await cluster.client.report()).datanodes.find((d) => d.id === victim.id);
      if (entry?.state === "decommissioning") progress.push(entry.decommissionRemaining);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    await cluster.client.decommission(victim.id);
    await cluster.waitState(0, "decommissioned", 30_000);
    // Readable all along, and while it drains.
    await assertAllExact();
  } finally {
    watching = false;
    await watcher;
  }
  assert.ok(seen.length > 1, "fsck was watched during the drain");
  assert.ok(progress.length > 0, "report showed the DataNode decommissioning");
  assert.ok(
    progress.some((remaining) => remaining !== undefined && remaining > 0),
    `report showed the chunks still to copy: ${progress.join(", ")}`,
  );
  for (const report of seen) {
    assert.is(report.missing, 0, "no chunk missing during the drain");
    assert.is(report.underReplicated, 0, "no chunk below its target during the drain");
  }
  // Every chunk has its three copies on DataNodes in service.
  for (const path of files.keys()) {
    for (const chunk of (await cluster.client.stat(path)).chunks) {
      const inService = chunk.replicas.filter((id) => id !== victim.id);
      assert.ok(inService.length >= 3, `chunk ${chunk.id} of ${path}: ${chunk.replicas}`);
    }
  }
  await cluster.waitFsck((r) => r.healthy === r.chunks, 10_000, "healthy after the drain");
  await assertAllExact();
});

test.run();
