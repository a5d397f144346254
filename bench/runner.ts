/**
 * Runs the chosen scenarios in order: the ceilings first (every other figure is a ratio of
 * one), then write, read, memory, small, meta, and recovery last because it kills a DataNode;
 * before each scenario after the first, the cluster and the disk settle (`settle.ts`).
 * Everything it starts or creates is registered with a {@linkcode Cleanup} so an error or
 * Ctrl-C removes it too.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatSize } from "#protocol";
import { runClientMemory } from "./client_memory.js";
import { profileDaemonsInto } from "./daemon_process.js";
import { writeGeneratedFile } from "./generated_data.js";
import { measureLimits } from "./limits.js";
import { BenchCluster, startNamenodeProcess } from "./local_cluster.js";
import { machineInfo } from "./machine.js";
import { runMetadataOps } from "./metadata.js";
import { measureNamenodeMemory, metaNamenodeFlags } from "./namenode_memory.js";
import type { BenchSettings } from "./options.js";
import type { Progress } from "./progress.js";
import { runRecovery } from "./recovery.js";
import {
  type BenchReport,
  type ScenarioName,
  type ScenarioReport,
  scenarioNames,
} from "./result.js";
import { settle } from "./settle.js";
import { runSmallFiles } from "./small_files.js";
import { runRead, runWrite, type ThroughputOptions } from "./throughput.js";

/** Longest wait between scenarios for the cluster to settle. */
const settleTimeoutMs = 60_000;

/** Undo steps, run newest first, each once. */
export class Cleanup {
  readonly #steps: (() => Promise<void>)[] = [];
  #running: Promise<void> | undefined;

  add(step: () => Promise<void>): void {
    this.#steps.push(step);
  }

  /** Runs every step; failures are ignored so the rest still run. */
  run(): Promise<void> {
    this.#running ??= (async () => {
      while (this.#steps.length > 0) await this.#steps.pop()!().catch(() => {});
    })();
    return this.#running;
  }
}

/** Runs the scenarios `settings` asks for and returns the report. */
export async function runBench(
  settings: BenchSettings,
  progress: Progress,
  cleanup: Cleanup,
  command: string,
): Promise<BenchReport> {
  const chosen: readonly ScenarioName[] =
    settings.scenario === "all" ? scenarioNames : [settings.scenario];
  const needsCluster = chosen.some((name) => name !== "limits");
  const report: BenchReport = {
    machine: machineInfo(),
    startedAt: new Date().toISOString(),
    command,
    cluster: {
      owned: settings.namenode === undefined,
      datanodes: settings.datanodes,
      replication: settings.replication,
    },
    scenarios: {},
  };

  if (settings.cpuProfileDir !== undefined) {
    await mkdir(settings.cpuProfileDir, { recursive: true });
    profileDaemonsInto(settings.cpuProfileDir);
  }
  let cluster: BenchCluster | undefined;
  if (needsCluster) {
    if (settings.namenode !== undefined && settings.secretFile !== undefined) {
      progress.stage(
        `attaching to the cluster at ${settings.namenode.host}:${settings.namenode.port}`,
      );
      cluster = await BenchCluster.attach(settings.namenode, settings.secretFile);
    } else {
      progress.stage(`starting a cluster: 1 NameNode, ${settings.datanodes} DataNodes`);
      cluster = await BenchCluster.start(settings);
    }
    const started = cluster;
    cleanup.add(() => started.stop());
  }
  let root = cluster?.root;
  if (root === undefined) {
    const made = await mkdtemp(join(tmpdir(), "bigfs-bench-"));
    cleanup.add(() => rm(made, { recursive: true, force: true }));
    root = made;
  }

  progress.stage(`writing a ${formatSize(settings.sizeBytes)} source file`);
  const sourcePath = join(root, "source");
  await writeGeneratedFile(sourcePath, settings.sizeBytes);
  const measured = await measureLimits(root, {
    sourcePath,
    sizeBytes: settings.sizeBytes,
    replication: settings.replication,
    repeat: settings.repeat,
    warmup: settings.warmup,
    walDurationMs: settings.walDurationMs,
    walBatch: settings.walBatch,
    walRecordBytes: settings.walRecordBytes,
    smallFiles: Math.min(settings.smallFiles, 1_000),
    smallSizeBytes: settings.smallSizeBytes,
    smallConcurrency: settings.smallConcurrency,
    onStage: (text) => progress.stage(text),
  });
  const { limits } = measured;
  report.scenarios.limits = measured.report;

  const io: ThroughputOptions = {
    sourcePath,
    scratchDir: root,
    sizeBytes: settings.sizeBytes,
    files: settings.ioFiles,
    concurrency: settings.concurrency,
    repeat: settings.repeat,
    warmup: settings.warmup,
    replication: settings.replication,
    ...(settings.chunkSizeBytes === undefined ? {} : { chunkSizeBytes: settings.chunkSizeBytes }),
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
    progress,
  };
  let previous: string | undefined;
  for (const name of chosen) {
    if (name === "limits" || cluster === undefined) continue;
    // Each scenario starts on an idle cluster and disk: see `settle.ts`.
    let unsettled: string | undefined;
    if (previous !== undefined) {
      progress.stage(`letting the cluster settle after ${previous}`);
      const settled = await settle(cluster, {
        heartbeatIntervalMs: settings.heartbeatIntervalMs,
        timeoutMs: settleTimeoutMs,
      });
      if (!settled) {
        unsettled = `The DataNodes' chunk counts still changed ${settleTimeoutMs / 1000} s after ${previous} ended: this ran while the cluster was busy.`;
      }
    }
    const scenario = await runScenario(name, cluster, settings, { io, limits, progress, cleanup });
    if (unsettled !== undefined) scenario.notes = [...(scenario.notes ?? []), unsettled];
    report.scenarios[name] = scenario;
    previous = name;
  }
  progress.stage("stopping the cluster");
  return report;
}

interface ScenarioContext {
  io: ThroughputOptions;
  limits: Awaited<ReturnType<typeof measureLimits>>["limits"];
  progress: Progress;
  cleanup: Cleanup;
}

async function runScenario(
  name: Exclude<ScenarioName, "limits">,
  cluster: BenchCluster,
  settings: BenchSettings,
  context: ScenarioContext,
): Promise<ScenarioReport> {
  const { io, limits, progress } = context;
  switch (name) {
    case "write":
      return runWrite(cluster, io, limits.diskCopyMiBps, limits.diskCopyDirectMiBps);
    case "read":
      return runRead(cluster, io, limits.loopbackMiBps);
    case "memory":
      return runClientMemory(cluster, {
        sizeBytes: settings.memorySizeBytes,
        replication: settings.replication,
        ...(settings.chunkSizeBytes === undefined
          ? {}
          : { chunkSizeBytes: settings.chunkSizeBytes }),
        scratchDir: cluster.root,
        progress,
      });
    case "small":
      return runSmallFiles(cluster, {
        files: settings.smallFiles,
        warmup: settings.warmup,
        sizeBytes: settings.smallSizeBytes,
        concurrency: settings.smallConcurrency,
        replication: settings.replication,
        limits,
        progress,
      });
    case "meta":
      return runMeta(cluster, settings, context);
    case "recovery": {
      if (!cluster.owned || cluster.datanodes.length < 2) {
        return {
          settings: {},
          results: {},
          notes: [
            "skipped: recovery kills a DataNode, so it runs only on a cluster the bench starts, with 2 or more DataNodes",
          ],
        };
      }
      return runRecovery(cluster, {
        datasetBytes: settings.recoverySizeBytes,
        replication: settings.replication,
        ...(settings.chunkSizeBytes === undefined
          ? {}
          : { chunkSizeBytes: settings.chunkSizeBytes }),
        timeoutMs: settings.recoveryTimeoutMs,
        stallMs: settings.recoveryStallMs,
        diskCopyMiBps: limits.diskCopyMiBps,
        diskCopyDirectMiBps: limits.diskCopyDirectMiBps,
        progress,
      });
    }
  }
}

/** `meta` on a NameNode of its own when the bench owns the cluster, else on the given one. */
async function runMeta(
  cluster: BenchCluster,
  settings: BenchSettings,
  context: ScenarioContext,
): Promise<ScenarioReport> {
  const metaSettings = {
    ops: settings.metaOps,
    concurrency: settings.metaConcurrency,
    connections: settings.metaConnections,
    files: settings.files,
  };
  const opsOptions = {
    secret: cluster.secret,
    ops: settings.metaOps,
    concurrency: settings.metaConcurrency,
    connections: settings.metaConnections,
    limits: context.limits,
    progress: context.progress,
  };
  if (!cluster.owned) {
    const results = await runMetadataOps(cluster.namenode, {
      ...opsOptions,
      folder: `/bench-meta-${process.pid}`,
    });
    return {
      settings: metaSettings,
      results,
      notes: ["NameNode memory and restart are measured only on a cluster the bench starts"],
    };
  }
  context.progress.stage("meta: starting a NameNode of its own");
  const dataDir = join(cluster.root, "meta-namenode");
  const running = await startNamenodeProcess(dataDir, cluster.secretFile, {
    flags: metaNamenodeFlags,
    name: "namenode (meta)",
  });
  let current = running.process;
  context.cleanup.add(() => current.stop().then(() => {}));
  const address = { host: "127.0.0.1", port: running.port };
  const results = await runMetadataOps(address, { ...opsOptions, folder: "/bench-meta" });
  const memory = await measureNamenodeMemory(running, {
    secret: cluster.secret,
    secretFile: cluster.secretFile,
    dataDir,
    files: settings.files,
    concurrency: settings.metaConcurrency,
    connections: settings.metaConnections,
    progress: context.progress,
  });
  current = memory.running;
  await current.stop();
  return { settings: metaSettings, results: { ...results, ...memory.results } };
}
