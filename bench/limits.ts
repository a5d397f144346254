/**
 * `limits`: this machine's own ceilings, measured now, that the other scenarios are
 * compared to:
 *
 * - (a) disk copy: a file of the bench size read from disk and written into R files, each
 *   made durable with fdatasync — what an upload with replication R on one machine must at
 *   least do.
 * - (a′) the same copy written with `O_DIRECT`, as DataNodes write chunks where the disk
 *   takes it: past the page cache, whose first touch of fresh pages can cost a virtual
 *   machine more than the disk does. Shown beside (a), so a write faster than (a) can be
 *   read against what the disk allows that way too.
 * - (b) loopback: a file sent through a loopback TCP socket into another file, made durable —
 *   what a download must at least do.
 * - (c) write-ahead log: small appends, one fdatasync per batch — what durable metadata
 *   changes with group commit must at least do.
 * - (d) small files: R durable files of the small-file size per file, C at a time — what a
 *   small upload must at least do on the DataNodes' side.
 *
 * The copies use synchronous calls in one loop: the cheapest way Node.js has to move the
 * bytes, so the figure is a ceiling rather than another program's speed.
 */
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fdatasyncSync,
  openSync,
  readSync,
  writeSync,
} from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { connect as connectTcp, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { alignDown, DirectBuffers, directWriteFlags } from "#datanode";
import { formatSize } from "#protocol";
import { blockBytes, generatedBytes } from "./generated_data.js";
import type { ScenarioReport } from "./result.js";
import { elapsedMs, mibPerSecond, perSecond, runPool, spreadOf } from "./stats.js";

/** The ceilings, for the other scenarios to compare with. */
export interface Limits {
  diskCopyMiBps: number;
  /** (a′); undefined where the file system does not take `O_DIRECT`. */
  diskCopyDirectMiBps: number | undefined;
  loopbackMiBps: number;
  walAppendsPerSecond: number;
  smallFileWritesPerSecond: number;
  replication: number;
}

/** Options for {@linkcode measureLimits}. */
export interface LimitsOptions {
  /** A file of the bench size, already on disk. */
  sourcePath: string;
  sizeBytes: number;
  replication: number;
  repeat: number;
  /** Untimed runs of (a), (a′) and (b) before the measured ones. */
  warmup: number;
  walDurationMs: number;
  walBatch: number;
  walRecordBytes: number;
  smallFiles: number;
  smallSizeBytes: number;
  smallConcurrency: number;
  onStage?: (text: string) => void;
}

/**
 * (a) Copies `source` into `replication` files with fdatasync; returns the duration. (a′),
 * `direct`: the same, written with `O_DIRECT` but for a last partial 4 KiB block, which goes
 * through the page cache as the chunk store's does; undefined when the file system refuses
 * `O_DIRECT`.
 */
function diskCopyMs(
  source: string,
  folder: string,
  replication: number,
  direct: boolean,
): number | undefined {
  const buffer = direct ? new DirectBuffers(1).take()! : Buffer.allocUnsafe(blockBytes);
  const startMs = performance.now();
  const input = openSync(source, "r");
  const outputs: number[] = [];
  const directOutputs: number[] = [];
  try {
    for (let index = 0; index < replication; index++) {
      const path = join(folder, `${direct ? "direct" : "copy"}-${index}`);
      outputs.push(openSync(path, "w"));
      if (direct) {
        try {
          directOutputs.push(openSync(path, directWriteFlags));
        } catch {
          return undefined;
        }
      }
    }
    for (let offset = 0; ; ) {
      const read = readSync(input, buffer, 0, buffer.length, offset);
      if (read === 0) break;
      // A file's reads are whole blocks but for its last, so only the end is unaligned.
      const aligned = direct ? alignDown(read) : 0;
      for (let index = 0; index < replication; index++) {
        if (aligned > 0) writeSync(directOutputs[index]!, buffer, 0, aligned, offset);
        if (aligned < read) {
          writeSync(outputs[index]!, buffer, aligned, read - aligned, offset + aligned);
        }
      }
      offset += read;
    }
    for (const output of outputs) fdatasyncSync(output);
  } finally {
    closeSync(input);
    for (const output of [...outputs, ...directOutputs]) closeSync(output);
  }
  return elapsedMs(startMs);
}

/** (b) Sends `source` through a loopback socket into a file made durable; the duration. */
async function loopbackMs(source: string, target: string): Promise<number> {
  const server = createServer();
  const received = new Promise<void>((resolveReceived, reject) => {
    server.once("connection", (socket: Socket) => {
      pipeline(socket, createWriteStream(target, { highWaterMark: blockBytes }))
        .then(async () => {
          const handle = await open(target, "r+");
          try {
            await handle.datasync();
          } finally {
            await handle.close();
          }
        })
        .then(resolveReceived, reject);
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no loopback port");
  try {
    const startMs = performance.now();
    const socket = connectTcp({ host: "127.0.0.1", port: address.port, noDelay: true });
    await pipeline(createReadStream(source, { highWaterMark: blockBytes }), socket);
    await received;
    return elapsedMs(startMs);
  } finally {
    server.close();
  }
}

/** (c) Appends records with one fdatasync per batch for `durationMs`; appends per second. */
function walAppendsPerSecond(path: string, options: LimitsOptions): number {
  const record = generatedBytes(options.walRecordBytes, 1);
  const fd = openSync(path, "w");
  let appends = 0;
  const startMs = performance.now();
  try {
    while (elapsedMs(startMs) < options.walDurationMs) {
      for (let index = 0; index < options.walBatch; index++) writeSync(fd, record);
      fdatasyncSync(fd);
      appends += options.walBatch;
    }
  } finally {
    closeSync(fd);
  }
  return perSecond(appends, elapsedMs(startMs));
}

/** (d) Writes R durable small files per file, C files at a time; files per second. */
async function smallFileWritesPerSecond(folder: string, options: LimitsOptions): Promise<number> {
  const bytes = generatedBytes(options.smallSizeBytes, 2);
  const startMs = performance.now();
  await runPool(options.smallFiles, options.smallConcurrency, async (index) => {
    for (let replica = 0; replica < options.replication; replica++) {
      const handle = await open(join(folder, `small-${index}-${replica}`), "w");
      try {
        await handle.write(bytes, 0, bytes.length, 0);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }
  });
  return perSecond(options.smallFiles, elapsedMs(startMs));
}

/** Measures every ceiling in a scratch folder under `folder`, removed afterwards. */
export async function measureLimits(
  folder: string,
  options: LimitsOptions,
): Promise<{ limits: Limits; report: ScenarioReport }> {
  const scratch = join(folder, "limits");
  await mkdir(scratch, { recursive: true });
  try {
    const copySamples: number[] = [];
    const directSamples: number[] = [];
    const loopbackSamples: number[] = [];
    // Warm-up runs first (run ≤ 0), measured like the others but not kept.
    for (let run = 1 - options.warmup; run <= options.repeat; run++) {
      const counted = run >= 1;
      const of = counted ? `${run}/${options.repeat}` : "warm-up";
      options.onStage?.(`limits (a) disk copy into ${options.replication} files ${of}`);
      const copyMs = diskCopyMs(options.sourcePath, scratch, options.replication, false)!;
      if (counted) copySamples.push(mibPerSecond(options.sizeBytes, copyMs));
      options.onStage?.(`limits (a′) disk copy into ${options.replication} files, O_DIRECT ${of}`);
      const directMs = diskCopyMs(options.sourcePath, scratch, options.replication, true);
      if (counted && directMs !== undefined) {
        directSamples.push(mibPerSecond(options.sizeBytes, directMs));
      }
      options.onStage?.(`limits (b) file → loopback socket → file ${of}`);
      const loopback = await loopbackMs(options.sourcePath, join(scratch, "received"));
      if (counted) loopbackSamples.push(mibPerSecond(options.sizeBytes, loopback));
    }
    options.onStage?.("limits (c) write-ahead log appends");
    const wal = walAppendsPerSecond(join(scratch, "wal"), options);
    options.onStage?.("limits (d) durable small files");
    const small = await smallFileWritesPerSecond(scratch, options);
    const copy = spreadOf(copySamples);
    const direct = directSamples.length > 0 ? spreadOf(directSamples) : undefined;
    const loopback = spreadOf(loopbackSamples);
    const limits: Limits = {
      diskCopyMiBps: copy.median,
      diskCopyDirectMiBps: direct?.median,
      loopbackMiBps: loopback.median,
      walAppendsPerSecond: wal,
      smallFileWritesPerSecond: small,
      replication: options.replication,
    };
    const report: ScenarioReport = {
      settings: {
        sizeBytes: options.sizeBytes,
        replication: options.replication,
        repeat: options.repeat,
        warmup: options.warmup,
        walRecordBytes: options.walRecordBytes,
        walBatch: options.walBatch,
        smallFiles: options.smallFiles,
        smallSizeBytes: options.smallSizeBytes,
        smallConcurrency: options.smallConcurrency,
      },
      results: {
        diskCopy: {
          label: `(a) disk copy into ${options.replication} files, fdatasync`,
          value: copy.median,
          min: copy.min,
          max: copy.max,
          samples: copySamples,
          unit: "MiB/s",
        },
        ...(direct && {
          diskCopyDirect: {
            label: `(a′) disk copy into ${options.replication} files, O_DIRECT, fdatasync`,
            value: direct.median,
            min: direct.min,
            max: direct.max,
            samples: directSamples,
            unit: "MiB/s",
          },
        }),
        loopback: {
          label: "(b) file → loopback TCP → file, fdatasync",
          value: loopback.median,
          min: loopback.min,
          max: loopback.max,
          samples: loopbackSamples,
          unit: "MiB/s",
        },
        walAppends: {
          label: `(c) WAL: ${options.walRecordBytes} B appends, fdatasync per ${options.walBatch}`,
          value: wal,
          unit: "appends/s",
        },
        smallFileWrites: {
          label: `(d) ${options.replication} durable ${formatSize(options.smallSizeBytes)} files per file, ${options.smallConcurrency} at a time`,
          value: small,
          unit: "files/s",
        },
      },
    };
    if (direct === undefined) {
      report.notes = ["(a′) not measured: this file system does not take O_DIRECT"];
    }
    return { limits, report };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
