/**
 * `meta`, like HDFS's NNThroughputBenchmark: each kind of namespace operation run N times
 * with C requests in flight over a few connections, as durable operations per second.
 *
 * Ceilings: an operation that changes the namespace is at least one durable edit log record,
 * so mkdir, rename and delete are compared to the WAL ceiling (limits c), and create+complete
 * (two records) to half of it; stat and list change nothing, so they are compared to PING,
 * the same NameNode answering requests that do nothing.
 */
import type { HostPort } from "#protocol";
import type { Limits } from "./limits.js";
import { NamenodeConnections, timedOps } from "./namenode_load.js";
import type { Progress } from "./progress.js";
import { type BenchResult, compared, withTarget } from "./result.js";

/** Options for {@linkcode runMetadataOps}. */
export interface MetadataOptions {
  secret: Uint8Array;
  /** A folder of its own on the NameNode, made here. */
  folder: string;
  ops: number;
  concurrency: number;
  connections: number;
  limits: Limits;
  progress: Progress;
}

/** Runs every metadata operation kind; results by key. */
export async function runMetadataOps(
  namenode: HostPort,
  options: MetadataOptions,
): Promise<Record<string, BenchResult>> {
  const { ops, concurrency, folder, progress, limits } = options;
  const connections = await NamenodeConnections.open(namenode, {
    secret: options.secret,
    count: options.connections,
  });
  const clientName = `bigfs-bench-${process.pid}`;
  const dir = (index: number) => `${folder}/d-${index}`;
  try {
    await connections.for(0).request("MKDIR", { path: folder, parents: true });
    const run = (name: string, operation: (index: number) => Promise<unknown>) => {
      progress.stage(`meta ${name} × ${ops}, ${concurrency} in flight`);
      return timedOps(ops, concurrency, operation, (done) => progress.update(done, ops, "ops"));
    };
    const on = (index: number) => connections.for(index);
    const pingCold = await run("ping", (index) => on(index).request("PING", {}));
    const mkdir = await run("mkdir", (index) => on(index).request("MKDIR", { path: dir(index) }));
    const create = await run("create+complete", async (index) => {
      const path = `${dir(index)}/f`;
      const { fileId } = await on(index).request("CREATE", { path, clientName });
      await on(index).request("COMPLETE", { path, fileId, clientName });
    });
    const stat = await run("stat", (index) =>
      on(index).request("STAT", { path: `${dir(index)}/f` }),
    );
    const list = await run("list", (index) => on(index).request("LIST", { path: dir(index) }));
    const rename = await run("rename", (index) =>
      on(index).request("RENAME", { source: `${dir(index)}/f`, destination: `${dir(index)}/g` }),
    );
    const remove = await run("delete", (index) =>
      on(index).request("DELETE", { path: `${dir(index)}/g` }),
    );
    await connections.for(0).request("DELETE", { path: folder, recursive: true });
    // PING again now the NameNode is warm; the ceiling is the better of the two runs.
    const ping = Math.max(pingCold, await run("ping", (index) => on(index).request("PING", {})));

    const wal = { label: "(c) WAL appends/s", value: limits.walAppendsPerSecond };
    const walHalf = { label: "(c) WAL appends/s ÷ 2 records", value: wal.value / 2 };
    const pingCeiling = { label: "NameNode PING round trips/s", value: ping };
    const result = (label: string, value: number) => ({ label, value, unit: "ops/s" });
    return {
      ping: result(`PING, ${concurrency} in flight (ceiling of reads)`, ping),
      mkdir: withTarget(
        compared(result("mkdir (durable)", mkdir), wal),
        "≥ 20,000 ops/s at 32 in flight",
        { atLeast: 20_000, applies: concurrency === 32 },
      ),
      createComplete: compared(result("create+complete empty file (durable)", create), walHalf),
      stat: withTarget(
        compared(result("stat", stat), pingCeiling),
        "≥ 50,000 ops/s at 32 in flight",
        { atLeast: 50_000, applies: concurrency === 32 },
      ),
      list: compared(result("list (1 entry)", list), pingCeiling),
      rename: compared(result("rename (durable)", rename), wal),
      delete: compared(result("delete file (durable)", remove), wal),
    };
  } finally {
    connections.close();
  }
}
