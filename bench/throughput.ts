/**
 * `write` and `read`, like HDFS's TestDFSIO: F files of S bytes with C concurrent streams
 * (one client each), repeated R times; aggregate MiB/s, median and min–max, compared to the
 * disk-copy ceiling (limits a) for writes and the loopback ceiling (limits b) for reads.
 *
 * Uploads read the same local file the disk-copy ceiling copies, and each run writes into an
 * empty folder (see `clearLastRun`); downloads go to local file paths, which the client makes
 * durable before renaming them into place, as the loopback ceiling's file is made durable.
 *
 * Memory: the peak resident memory of each DataNode during write (the highest of them; see
 * `memory_sampler.ts`), reported in MiB as the highest run, with no ceiling: the target is
 * absolute. The client's memory is measured by `memory` (`client_memory.ts`) in a process of
 * its own: the clients here run inside the bench process, whose memory is not theirs alone.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { BigFsClient } from "#client";
import { formatSize } from "#protocol";
import type { BenchCluster } from "./local_cluster.js";
import { rssSampleIntervalMs, sampleResidentPeaks, toMiB } from "./memory_sampler.js";
import type { Progress } from "./progress.js";
import {
  type BenchResult,
  type Ceiling,
  compared,
  type ScenarioReport,
  withTarget,
} from "./result.js";
import { settle } from "./settle.js";
import { elapsedMs, mibPerSecond, runPool, spreadOf } from "./stats.js";

/** Options for {@linkcode runWrite} and {@linkcode runRead}. */
export interface ThroughputOptions {
  /** The local file uploaded, `sizeBytes` long. */
  sourcePath: string;
  /** Where downloads land; emptied after each run. */
  scratchDir: string;
  sizeBytes: number;
  files: number;
  concurrency: number;
  repeat: number;
  /** Untimed runs before the measured ones. */
  warmup: number;
  replication: number;
  chunkSizeBytes?: number;
  /** The cluster's heartbeat interval, for letting it settle between write runs. */
  heartbeatIntervalMs: number;
  progress: Progress;
}

const streams = (count: number) => (count === 1 ? "1 stream" : `${count} streams`);

/** The folder of write's and read's files. */
const ioFolder = "/bench-io";
/** Where the `index`-th file of write and read lives. */
export const ioFilePath = (index: number) => `${ioFolder}/file-${index}`;
/** Longest wait for the cluster to settle between write runs. */
const settleTimeoutMs = 60_000;

async function withClients<T>(
  cluster: BenchCluster,
  count: number,
  use: (clients: BigFsClient[]) => Promise<T>,
): Promise<T> {
  const clients: BigFsClient[] = [];
  try {
    for (let index = 0; index < count; index++) clients.push(await cluster.client());
    return await use(clients);
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
  }
}

/** The DataNode processes of an owned cluster; none when the bench attached to one. */
const datanodePids = (cluster: BenchCluster) =>
  cluster.owned ? cluster.datanodes.map(({ process }) => process.pid) : [];

/**
 * The progress line of one run of F transfers: `progressOf(index)` is the `onProgress` of the
 * `index`-th, and the line shows the bytes of all of them together.
 */
function transferProgress(options: ThroughputOptions): (index: number) => (bytes: number) => void {
  const total = options.files * options.sizeBytes;
  const done = new Array<number>(options.files).fill(0);
  return (index) => (bytes) => {
    done[index] = bytes;
    options.progress.update(
      done.reduce((sum, value) => sum + value, 0),
      total,
      "bytes",
    );
  };
}

/**
 * Uploads the F files once: the duration in ms, and the peak resident memory in bytes of
 * each of `pids` during the upload, in the same order.
 */
async function writeOnce(
  cluster: BenchCluster,
  options: ThroughputOptions,
  label: string,
  pids: readonly number[] = [],
): Promise<{ durationMs: number; peakBytes: number[] }> {
  const progressOf = transferProgress(options);
  options.progress.stage(label);
  return withClients(cluster, Math.min(options.concurrency, options.files), async (clients) => {
    const startMs = performance.now();
    const { peakBytes } = await sampleResidentPeaks(pids, () =>
      runPool(options.files, clients.length, async (index) => {
        await clients[index % clients.length]!.put(options.sourcePath, ioFilePath(index), {
          replication: options.replication,
          overwrite: true,
          ...(options.chunkSizeBytes === undefined
            ? {}
            : { chunkSizeBytes: options.chunkSizeBytes }),
          onProgress: progressOf(index),
        });
      }),
    );
    return { durationMs: elapsedMs(startMs), peakBytes };
  });
}

/**
 * A peak-memory result in MiB from per-run peaks in bytes: the value is the highest run, as
 * the targets are limits on the peak; min and max show the spread between runs.
 */
function peakResult(
  label: string,
  runPeakBytes: number[],
  target: string,
  atMostMiB: number,
): BenchResult {
  const samples = runPeakBytes.map(toMiB);
  const spread = spreadOf(samples);
  const runs = samples.length === 1 ? "" : `, highest of ${samples.length} runs`;
  return withTarget(
    {
      label: `${label}${runs}`,
      value: spread.max,
      min: spread.min,
      max: spread.max,
      samples,
      unit: "MiB",
    },
    target,
    { atMost: atMostMiB },
  );
}

const sampling = `VmHWM every ${rssSampleIntervalMs} ms`;

/** The settings the throughput targets are stated for: 1 stream, 1 file of 1 GiB. */
const targetApplies = (options: ThroughputOptions) =>
  options.files === 1 && options.concurrency === 1 && options.sizeBytes === 1024 ** 3;

function summarise(
  label: string,
  samples: number[],
  ceiling: Ceiling,
  target: string,
  options: ThroughputOptions,
  applies: boolean,
): ScenarioReport {
  const settings = settingsOf(options);
  const spread = spreadOf(samples);
  const result: BenchResult = compared(
    { label, value: spread.median, min: spread.min, max: spread.max, samples, unit: "MiB/s" },
    ceiling,
  );
  const judged = withTarget(result, target, {
    atLeast: 0.85,
    ofCeiling: true,
    applies,
  });
  return { settings, results: { throughput: judged } };
}

function settingsOf(options: ThroughputOptions): ScenarioReport["settings"] {
  return {
    files: options.files,
    sizeBytes: options.sizeBytes,
    concurrency: options.concurrency,
    repeat: options.repeat,
    warmup: options.warmup,
    replication: options.replication,
    ...(options.chunkSizeBytes === undefined ? {} : { chunkSizeBytes: options.chunkSizeBytes }),
  };
}

/**
 * Before every write run but the first: deletes the last run's files and lets the cluster
 * settle (`settle.ts`). Overwriting them instead had the DataNodes delete the last run's
 * replicas during the next one, which cost a run about a tenth of its speed: the run then
 * measured a write and a clean-up. As TestDFSIO, each run writes into an empty folder.
 * Returns a note when the cluster did not settle in time.
 */
async function clearLastRun(
  cluster: BenchCluster,
  options: ThroughputOptions,
): Promise<string | undefined> {
  options.progress.stage("write: deleting the last run's files and letting the cluster settle");
  const client = await cluster.client();
  try {
    await client.delete(ioFolder, { recursive: true });
  } finally {
    await client.close();
  }
  const settled = await settle(cluster, {
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    timeoutMs: settleTimeoutMs,
  });
  return settled
    ? undefined
    : `The DataNodes' chunk counts still changed ${settleTimeoutMs / 1000} s after a write run's files were deleted: a later run ran while the cluster was busy.`;
}

/** `write`: uploads F × S bytes R times into an empty folder; compared to the disk-copy ceiling. */
export async function runWrite(
  cluster: BenchCluster,
  options: ThroughputOptions,
  diskCopyMiBps: number,
  diskCopyDirectMiBps?: number,
): Promise<ScenarioReport> {
  const samples: number[] = [];
  const datanodes = datanodePids(cluster);
  const datanodePeaks: number[] = [];
  // The same note, once, however many runs it concerns.
  const notes = new Set<string>();
  const clear = async () => {
    const note = await clearLastRun(cluster, options);
    if (note !== undefined) notes.add(note);
  };
  for (let run = 1; run <= options.warmup; run++) {
    if (run > 1) await clear();
    await writeOnce(cluster, options, `write: warm-up ${run}/${options.warmup}, not counted`);
  }
  for (let run = 1; run <= options.repeat; run++) {
    if (run > 1 || options.warmup > 0) await clear();
    const { durationMs, peakBytes } = await writeOnce(
      cluster,
      options,
      `write ${run}/${options.repeat}`,
      datanodes,
    );
    samples.push(mibPerSecond(options.files * options.sizeBytes, durationMs));
    if (datanodes.length > 0) datanodePeaks.push(Math.max(...peakBytes));
  }
  const report = summarise(
    `write ${options.files} × ${formatSize(options.sizeBytes)}, ${streams(options.concurrency)}, replication ${options.replication}`,
    samples,
    { label: `(a) disk copy into ${options.replication} files`, value: diskCopyMiBps },
    "≥ 0.85 of ceiling (1 stream, 1 GiB)",
    options,
    targetApplies(options) && options.replication === 3,
  );
  const throughput = report.results.throughput!;
  if (diskCopyDirectMiBps !== undefined) {
    // The same figure against the copy that skips the page cache, as the DataNodes do.
    const {
      target: _target,
      targetMet: _met,
      ratio: _ratio,
      ceiling: _ceiling,
      ...figure
    } = throughput;
    report.results.throughputDirect = compared(
      { ...figure, label: `${throughput.label}, against (a′)` },
      {
        label: `(a′) disk copy into ${options.replication} files, O_DIRECT`,
        value: diskCopyDirectMiBps,
      },
    );
  }
  if (datanodePeaks.length > 0) {
    report.results.datanodeRss = peakResult(
      `DataNode peak RSS during write, highest of ${datanodes.length} DataNodes, ${sampling}`,
      datanodePeaks,
      "≤ 256 MiB (each DataNode, during write)",
      256,
    );
  } else {
    report.notes = [
      ...(report.notes ?? []),
      "DataNode memory is measured only on a cluster the bench starts",
    ];
  }
  if (notes.size > 0) report.notes = [...(report.notes ?? []), ...notes];
  return report;
}

/** Makes sure the files `read` reads exist, uploading them (untimed) when they do not. */
async function ensureFiles(cluster: BenchCluster, options: ThroughputOptions): Promise<void> {
  const client = await cluster.client();
  try {
    const present = await Promise.all(
      Array.from({ length: options.files }, (_, index) =>
        client.stat(ioFilePath(index)).then(
          (status) => status.entry.size === options.sizeBytes,
          () => false,
        ),
      ),
    );
    if (present.every(Boolean)) return;
  } finally {
    await client.close();
  }
  await writeOnce(cluster, options, "read: uploading the files to read");
}

/** `read`: downloads F × S bytes R times into durable local files; compared to loopback. */
export async function runRead(
  cluster: BenchCluster,
  options: ThroughputOptions,
  loopbackMiBps: number,
): Promise<ScenarioReport> {
  await ensureFiles(cluster, options);
  const samples: number[] = [];
  // Warm-up runs first (run ≤ 0), timed like the others but not kept.
  for (let run = 1 - options.warmup; run <= options.repeat; run++) {
    options.progress.stage(
      run >= 1 ? `read ${run}/${options.repeat}` : "read: warm-up, not counted",
    );
    const progressOf = transferProgress(options);
    const durationMs = await withClients(
      cluster,
      Math.min(options.concurrency, options.files),
      async (clients) => {
        const startMs = performance.now();
        await runPool(options.files, clients.length, async (index) => {
          await clients[index % clients.length]!.get(
            ioFilePath(index),
            join(options.scratchDir, `read-${index}`),
            { onProgress: progressOf(index) },
          );
        });
        return elapsedMs(startMs);
      },
    );
    if (run >= 1) samples.push(mibPerSecond(options.files * options.sizeBytes, durationMs));
    await Promise.all(
      Array.from({ length: options.files }, (_, index) =>
        rm(join(options.scratchDir, `read-${index}`), { force: true }),
      ),
    );
  }
  const report = summarise(
    `read ${options.files} × ${formatSize(options.sizeBytes)}, ${streams(options.concurrency)}`,
    samples,
    { label: "(b) file → loopback TCP → file", value: loopbackMiBps },
    "≥ 0.85 of ceiling (1 stream, 1 GiB)",
    options,
    targetApplies(options),
  );
  return report;
}
