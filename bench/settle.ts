/**
 * Between scenarios: lets the cluster and the disk finish what the last scenario left behind,
 * so that no scenario is measured while another's clean-up runs under it. A scenario that
 * deletes gigabytes (`memory` removes a 4 GiB file: 12 GiB of replicas) has the NameNode send
 * the deletions out over the next heartbeats, and the DataNodes' unlinks and the kernel's
 * writeback then compete with whatever runs next; durable metadata operations, which wait for
 * an fdatasync each batch, ran at less than half their rate right after it.
 *
 * So: wait until no deletion waits at the NameNode to be sent, and every DataNode's chunk
 * count, as the NameNode reports it, has held still over three heartbeats (the deletions have
 * been carried out and reported), then have the kernel
 * write back every dirty page (`sync`). Bounded by a deadline: a cluster that never settles
 * (another client writing to an attached cluster) is measured as it is, and the caller notes it.
 */
import { spawn } from "node:child_process";
import type { BenchCluster } from "./local_cluster.js";

/** Waits as above; returns false when the counts still moved at the deadline. */
export async function settle(
  cluster: BenchCluster,
  options: { heartbeatIntervalMs: number; timeoutMs: number },
): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  const client = await cluster.client();
  let settled = false;
  try {
    let last = "";
    let stillSince = Date.now();
    for (;;) {
      const { datanodes } = await client.report();
      const counts = datanodes.map((datanode) => `${datanode.id}:${datanode.chunks}`).join(" ");
      // Deletions the NameNode has not sent out yet: the counts cannot have settled.
      const pending = datanodes.some((datanode) => (datanode.pendingDeletes ?? 0) > 0);
      if (counts !== last || pending) {
        last = counts;
        stillSince = Date.now();
      } else if (Date.now() - stillSince >= 3 * options.heartbeatIntervalMs) {
        settled = true;
        break;
      }
      if (Date.now() > deadline) break;
      await new Promise((resolveSleep) =>
        setTimeout(resolveSleep, options.heartbeatIntervalMs / 2),
      );
    }
  } finally {
    await client.close();
  }
  await syncFileSystems();
  return settled;
}

/** Runs `sync(1)`: every dirty page of every file system written back. */
function syncFileSystems(): Promise<void> {
  return new Promise((resolveSync, reject) => {
    const child = spawn("sync", [], { stdio: "ignore" });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolveSync() : reject(new Error(`sync exited with code ${code}`)),
    );
  });
}
