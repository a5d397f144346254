/**
 * `small`: many small files (default 4 KiB) put and then got, with C concurrent clients;
 * files per second both ways.
 *
 * Ceilings: a put stores R durable replicas, so it is compared to R durable small files
 * written straight to this disk (limits d); a get needs at least one round trip, so it is
 * compared to PING round trips to the same NameNode at the same concurrency.
 */
import { Readable, Writable } from "node:stream";
import type { BigFsClient } from "#client";
import { formatSize } from "#protocol";
import { generatedBytes } from "./generated_data.js";
import type { Limits } from "./limits.js";
import type { BenchCluster } from "./local_cluster.js";
import { NamenodeConnections, pingRate } from "./namenode_load.js";
import type { Progress } from "./progress.js";
import { compared, type ScenarioReport, withTarget } from "./result.js";
import { elapsedMs, perSecond, runPool } from "./stats.js";

/** Options for {@linkcode runSmallFiles}. */
export interface SmallFilesOptions {
  files: number;
  /** Untimed passes first, each of a quarter as many files (put and got; kept until the end). */
  warmup: number;
  sizeBytes: number;
  concurrency: number;
  replication: number;
  limits: Limits;
  progress: Progress;
}

const smallPath = (index: number) => `/bench-small/f-${index}`;

/** A sink that counts what it is given and keeps nothing. */
function countingSink(): { sink: Writable; bytes: () => number } {
  let bytes = 0;
  const sink = new Writable({
    write(piece: Uint8Array, _encoding, callback) {
      bytes += piece.byteLength;
      callback();
    },
  });
  return { sink, bytes: () => bytes };
}

/** Files `[first, first + count)` through `operation`, `clients.length` at a time: files/s. */
async function timedFiles(
  clients: BigFsClient[],
  options: SmallFilesOptions,
  stage: string,
  files: { first: number; count: number },
  operation: (client: BigFsClient, index: number) => Promise<void>,
): Promise<number> {
  options.progress.stage(stage);
  let done = 0;
  const startMs = performance.now();
  await runPool(files.count, clients.length, async (index) => {
    await operation(clients[index % clients.length]!, files.first + index);
    done += 1;
    options.progress.update(done, files.count, "files");
  });
  return perSecond(files.count, elapsedMs(startMs));
}

/** Runs `small` on `cluster`. */
export async function runSmallFiles(
  cluster: BenchCluster,
  options: SmallFilesOptions,
): Promise<ScenarioReport> {
  const clients: BigFsClient[] = [];
  try {
    for (let index = 0; index < options.concurrency; index++) clients.push(await cluster.client());
    await clients[0]!.mkdir("/bench-small", { parents: true });
    const put = async (client: BigFsClient, index: number) => {
      const bytes = generatedBytes(options.sizeBytes, index);
      await client.put(Readable.from([bytes]), smallPath(index), {
        replication: options.replication,
        overwrite: true,
      });
    };
    const get = async (client: BigFsClient, index: number) => {
      const { sink, bytes } = countingSink();
      await client.get(smallPath(index), sink);
      if (bytes() !== options.sizeBytes) {
        throw new Error(
          `Cannot read ${smallPath(index)} back: got ${bytes()} bytes, expected ${options.sizeBytes}`,
        );
      }
    };
    // Warm-up files come first and stay until the end, so nothing is deleted while measured:
    // the first 5,000 files went at 570-720 files/s, the next ones at 960-1,100.
    const warmup = { first: 0, count: options.warmup * Math.ceil(options.files / 4) };
    const measured = { first: warmup.count, count: options.files };
    const size = formatSize(options.sizeBytes);
    if (warmup.count > 0) {
      const stage = `small: warm-up, ${warmup.count} × ${size}, not counted`;
      await timedFiles(clients, options, `${stage}: put`, warmup, put);
      await timedFiles(clients, options, `${stage}: get`, warmup, get);
    }
    const stage = `small ${options.files} × ${size}`;
    const written = await timedFiles(clients, options, `${stage}: put`, measured, put);
    const read = await timedFiles(clients, options, `${stage}: get`, measured, get);
    options.progress.stage("small: PING ceiling");
    const connections = await NamenodeConnections.open(cluster.namenode, {
      secret: cluster.secret,
      count: options.concurrency,
    });
    let ping: number;
    try {
      ping = await pingRate(connections, options.files, options.concurrency);
    } finally {
      connections.close();
    }
    await clients[0]!.delete("/bench-small", { recursive: true });
    // The targets are stated for 4 KiB files and 16 clients.
    const targetApplies = options.sizeBytes === 4096 && options.concurrency === 16;
    return {
      settings: {
        files: options.files,
        warmupFiles: warmup.count,
        sizeBytes: options.sizeBytes,
        concurrency: options.concurrency,
        replication: options.replication,
      },
      results: {
        put: withTarget(
          compared(
            {
              label: `put ${formatSize(options.sizeBytes)} files, ${options.concurrency} clients`,
              value: written,
              unit: "files/s",
            },
            {
              label: `(d) ${options.replication} durable small files per file`,
              value: options.limits.smallFileWritesPerSecond,
            },
          ),
          "≥ 1,000 files/s (4 KiB, 16 clients)",
          { atLeast: 1_000, applies: targetApplies && options.replication === 3 },
        ),
        get: withTarget(
          compared(
            {
              label: `get ${formatSize(options.sizeBytes)} files, ${options.concurrency} clients`,
              value: read,
              unit: "files/s",
            },
            { label: `NameNode PING round trips/s, ${options.concurrency} in flight`, value: ping },
          ),
          "≥ 3,000 files/s (4 KiB, 16 clients)",
          { atLeast: 3_000, applies: targetApplies },
        ),
      },
    };
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
  }
}
