/**
 * `recovery`: with a dataset loaded, `kill -9` one DataNode and time until `fsck` reports
 * every chunk back at full replication (no under-replicated, no missing chunk). The rate is
 * the bytes that lost a replica over the time from the DataNode being declared dead to full
 * replication, compared to the disk-copy ceiling (limits a), as the target is.
 *
 * Re-replication needs a live DataNode that lacks a copy, so the dataset is written with
 * replication min(R, DataNodes - 1): 2 on the default 3 DataNodes.
 *
 * It never hangs: it gives up after `timeoutMs` in all, or when nothing is re-replicated for
 * `stallMs` after the death was noticed, and says so with `recovered: false`.
 */
import type { BigFsClient } from "#client";
import { formatSize } from "#protocol";
import { generatedStream } from "./generated_data.js";
import type { BenchCluster } from "./local_cluster.js";
import type { Progress } from "./progress.js";
import { compared, type ScenarioReport, withTarget } from "./result.js";
import { mibPerSecond, runPool } from "./stats.js";

/** Options for {@linkcode runRecovery}. */
export interface RecoveryOptions {
  datasetBytes: number;
  replication: number;
  chunkSizeBytes?: number;
  timeoutMs: number;
  stallMs: number;
  diskCopyMiBps: number;
  /** (a′), the disk copy with `O_DIRECT`, when it was measured. */
  diskCopyDirectMiBps?: number | undefined;
  progress: Progress;
}

const folder = "/bench-recovery";
const fileBytesMax = 32 * 1024 * 1024;
const pollMs = 100;
const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

async function loadDataset(client: BigFsClient, options: RecoveryOptions, replication: number) {
  const files = Math.max(1, Math.ceil(options.datasetBytes / fileBytesMax));
  const fileBytes = Math.ceil(options.datasetBytes / files);
  let done = 0;
  options.progress.stage(
    `recovery: loading ${files} × ${formatSize(fileBytes)}, replication ${replication}`,
  );
  await runPool(files, 2, async (index) => {
    await client.put(generatedStream(fileBytes), `${folder}/f-${index}`, {
      replication,
      overwrite: true,
      ...(options.chunkSizeBytes === undefined ? {} : { chunkSizeBytes: options.chunkSizeBytes }),
    });
    done += 1;
    options.progress.update(done, files, "files");
  });
  return { files, bytes: files * fileBytes };
}

/** Waits until fsck of the folder shows every chunk with a reported replica set. */
async function waitHealthy(client: BigFsClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await client.fsck(folder);
    if (report.chunks > 0 && report.healthy === report.chunks) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Cannot start recovery: the dataset is not fully replicated after ${timeoutMs} ms`,
      );
    }
    await sleep(pollMs);
  }
}

/**
 * Checks what fsck said: every chunk has `replication` live replicas again, none of them on
 * the dead DataNode.
 */
async function checkReplicas(
  client: BigFsClient,
  files: number,
  replication: number,
  deadId: string,
): Promise<void> {
  for (let index = 0; index < files; index++) {
    const path = `${folder}/f-${index}`;
    for (const chunk of (await client.stat(path)).chunks) {
      const live = chunk.replicas.filter((id) => id !== deadId);
      if (live.length < replication || live.length !== chunk.replicas.length) {
        throw new Error(
          `Cannot trust the recovery: fsck reports full replication but chunk ${chunk.id} of ${path} has replicas [${chunk.replicas.join(", ")}] (dead: ${deadId}, expected ${replication} live)`,
        );
      }
    }
  }
}

/** Runs `recovery` on a cluster the bench owns. */
export async function runRecovery(
  cluster: BenchCluster,
  options: RecoveryOptions,
): Promise<ScenarioReport> {
  const replication = Math.min(options.replication, cluster.datanodes.length - 1);
  const client = await cluster.client();
  try {
    const dataset = await loadDataset(client, options, replication);
    await waitHealthy(client, 30_000);
    // The victim is the DataNode holding the most bytes; they are what must be copied again.
    const lostBytes = new Map<string, { bytes: number; chunks: number }>();
    for (let index = 0; index < dataset.files; index++) {
      const status = await client.stat(`${folder}/f-${index}`);
      for (const chunk of status.chunks) {
        for (const id of chunk.replicas) {
          const lost = lostBytes.get(id) ?? { bytes: 0, chunks: 0 };
          lost.bytes += chunk.size;
          lost.chunks += 1;
          lostBytes.set(id, lost);
        }
      }
    }
    const victim = [...cluster.datanodes].sort(
      (a, b) => (lostBytes.get(b.id)?.bytes ?? 0) - (lostBytes.get(a.id)?.bytes ?? 0),
    )[0]!;
    const lost = lostBytes.get(victim.id) ?? { bytes: 0, chunks: 0 };
    const settings = {
      datasetBytes: dataset.bytes,
      files: dataset.files,
      replication,
      datanodes: cluster.datanodes.length,
      lostBytes: lost.bytes,
      lostChunks: lost.chunks,
      timeoutMs: options.timeoutMs,
      stallMs: options.stallMs,
    };

    options.progress.stage(
      `recovery: kill -9 ${victim.process.name}, waiting for it to be declared dead`,
    );
    const killedMs = performance.now();
    await victim.process.kill();
    const deadline = killedMs + options.timeoutMs;
    for (;;) {
      const { datanodes } = await client.report();
      if (datanodes.find((datanode) => datanode.id === victim.id)?.state !== "live") break;
      if (performance.now() > deadline) {
        return {
          settings,
          recovered: false,
          results: {},
          notes: [
            `did not recover within ${options.timeoutMs} ms: the DataNode was never declared dead`,
          ],
        };
      }
      await sleep(pollMs);
    }
    const deadMs = performance.now();
    const detect = {
      label: "kill -9 → DataNode declared dead",
      value: deadMs - killedMs,
      unit: "ms",
    };

    options.progress.stage("recovery: waiting for full replication");
    let best = Number.POSITIVE_INFINITY;
    let improvedMs = deadMs;
    for (;;) {
      const report = await client.fsck(folder);
      const damaged = report.underReplicated + report.missing;
      options.progress.update(lost.chunks - Math.min(lost.chunks, damaged), lost.chunks, "chunks");
      if (damaged === 0) break;
      const nowMs = performance.now();
      if (damaged < best) {
        best = damaged;
        improvedMs = nowMs;
      }
      const why =
        nowMs > deadline
          ? `did not recover within ${options.timeoutMs} ms of the kill`
          : nowMs - improvedMs > options.stallMs
            ? `did not recover: no chunk re-replicated for ${options.stallMs} ms (${damaged} of ${report.chunks} chunks still under-replicated or missing)`
            : undefined;
      if (why !== undefined) {
        return { settings, recovered: false, results: { detect }, notes: [why] };
      }
      await sleep(pollMs);
    }
    const recoveredMs = performance.now();
    await checkReplicas(client, dataset.files, replication, victim.id);
    const rate = {
      label: `re-replication of ${lost.chunks} chunks (${formatSize(lost.bytes)})`,
      value: mibPerSecond(lost.bytes, recoveredMs - deadMs),
      unit: "MiB/s",
    };
    return {
      settings,
      recovered: true,
      results: {
        detect,
        reReplicate: {
          label: "declared dead → full replication",
          value: recoveredMs - deadMs,
          unit: "ms",
        },
        total: { label: "kill -9 → full replication", value: recoveredMs - killedMs, unit: "ms" },
        rate: withTarget(
          compared(rate, {
            label: `(a) disk copy into ${options.replication} files`,
            value: options.diskCopyMiBps,
          }),
          "≥ 0.5 of ceiling (a)",
          { atLeast: 0.5, ofCeiling: true },
        ),
        ...(options.diskCopyDirectMiBps !== undefined && {
          rateDirect: compared(
            { ...rate, label: `${rate.label}, against (a′)` },
            {
              label: `(a′) disk copy into ${options.replication} files, O_DIRECT`,
              value: options.diskCopyDirectMiBps,
            },
          ),
        }),
      },
    };
  } finally {
    await client.close();
  }
}
