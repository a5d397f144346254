/**
 * The `bigfs-bench` command line: the scenario, then flags. Defaults depend on `--quick`
 * (tiny sizes that finish in seconds, for the test suite) and otherwise fit `all` in a few
 * minutes on 2 cores.
 */
import { type Config, ConfigError, type HostPort, parseConfig } from "#protocol";
import { type ScenarioName, scenarioNames } from "./result.js";

/** Every flag `bigfs-bench` takes. */
export const benchFlags = {
  namenode: {
    flag: "namenode",
    type: "hostport",
    description: "use this running cluster instead of starting one (needs --secret-file)",
  },
  secretFile: { flag: "secret-file", type: "path", description: "the running cluster's secret" },
  datanodes: {
    flag: "datanodes",
    type: "integer",
    min: 1,
    max: 16,
    default: 3,
    description: "DataNodes of the cluster the bench starts",
  },
  replication: {
    flag: "replication",
    type: "integer",
    min: 1,
    max: 16,
    default: 3,
    description: "replicas per chunk for write, read and small",
  },
  chunkSize: { flag: "chunk-size", type: "size", description: "chunk size of bench files" },
  size: { flag: "size", type: "size", description: "bytes per file for limits, write, read" },
  memorySize: {
    flag: "memory-size",
    type: "size",
    description: "bytes of the file the memory scenario puts and gets with the bigfs CLI",
  },
  ioFiles: { flag: "io-files", type: "integer", min: 1, description: "files per write/read run" },
  concurrency: {
    flag: "concurrency",
    type: "integer",
    min: 1,
    description: "concurrent streams for write/read",
  },
  repeat: { flag: "repeat", type: "integer", min: 1, description: "runs of write and read" },
  warmup: {
    flag: "warmup",
    type: "integer",
    min: 0,
    description:
      "untimed runs first: of write, read, ceilings (a), (a′), (b); of a quarter of small's files",
  },
  smallFiles: { flag: "small-files", type: "integer", min: 1, description: "files for small" },
  smallSize: { flag: "small-size", type: "size", description: "bytes per small file" },
  smallConcurrency: {
    flag: "small-concurrency",
    type: "integer",
    min: 1,
    description: "concurrent clients for small",
  },
  metaOps: { flag: "meta-ops", type: "integer", min: 1, description: "operations per meta op" },
  metaConcurrency: {
    flag: "meta-concurrency",
    type: "integer",
    min: 1,
    default: 32,
    description: "metadata requests in flight",
  },
  metaConnections: {
    flag: "meta-connections",
    type: "integer",
    min: 1,
    default: 4,
    description: "connections the metadata requests share",
  },
  files: {
    flag: "files",
    type: "integer",
    min: 1,
    description: "one-chunk files created to measure NameNode memory and restart",
  },
  recoverySize: { flag: "recovery-size", type: "size", description: "dataset for recovery" },
  recoveryTimeout: {
    flag: "recovery-timeout",
    type: "duration",
    description: "give up waiting for full replication after this long (default 120s)",
  },
  recoveryStall: {
    flag: "recovery-stall",
    type: "duration",
    description: "give up when no chunk is re-replicated for this long after the death",
  },
  deadAfter: {
    flag: "dead-after",
    type: "duration",
    description: "NameNode --dead-after of the cluster the bench starts",
  },
  walDuration: { flag: "wal-duration", type: "duration", description: "how long limits (c) runs" },
  json: {
    flag: "json",
    type: "boolean",
    description: "print one JSON document instead of a table",
  },
  report: { flag: "report", type: "path", description: "also write a self-contained HTML page" },
  quick: { flag: "quick", type: "boolean", description: "tiny sizes: everything in seconds" },
  quiet: { flag: "quiet", type: "boolean", description: "no progress on stderr" },
  cpuProfDir: {
    flag: "cpu-prof-dir",
    type: "path",
    description: "daemons the bench starts write node --cpu-prof profiles here",
  },
} as const;

/** The settings a run uses, every default filled in. */
export interface BenchSettings {
  scenario: ScenarioName | "all";
  namenode?: HostPort;
  secretFile?: string;
  datanodes: number;
  replication: number;
  chunkSizeBytes?: number;
  sizeBytes: number;
  memorySizeBytes: number;
  ioFiles: number;
  concurrency: number;
  repeat: number;
  /** Untimed runs first: of write, read, the (a), (a′), (b) ceilings, a quarter of small's files. */
  warmup: number;
  smallFiles: number;
  smallSizeBytes: number;
  smallConcurrency: number;
  metaOps: number;
  metaConcurrency: number;
  metaConnections: number;
  files: number;
  recoverySizeBytes: number;
  recoveryTimeoutMs: number;
  recoveryStallMs: number;
  heartbeatIntervalMs: number;
  deadAfterMs: number;
  walDurationMs: number;
  walBatch: number;
  walRecordBytes: number;
  json: boolean;
  report?: string;
  quick: boolean;
  quiet: boolean;
  cpuProfileDir?: string;
}

const quickDefaults = {
  chunkSizeBytes: 64 * 1024,
  sizeBytes: 256 * 1024,
  memorySizeBytes: 1024 * 1024,
  ioFiles: 2,
  concurrency: 2,
  repeat: 1,
  warmup: 1,
  smallFiles: 40,
  smallConcurrency: 4,
  metaOps: 200,
  files: 500,
  recoverySizeBytes: 512 * 1024,
  recoveryTimeoutMs: 20_000,
  recoveryStallMs: 5_000,
  heartbeatIntervalMs: 200,
  deadAfterMs: 1_000,
  walDurationMs: 300,
};

const fullDefaults = {
  chunkSizeBytes: undefined,
  sizeBytes: 256 * 1024 * 1024,
  memorySizeBytes: 4 * 1024 * 1024 * 1024,
  ioFiles: 1,
  concurrency: 1,
  repeat: 3,
  // The first transfer after the daemons start runs at two thirds of the later ones (V8 has
  // not yet optimised the code; the disk's blocks are written for the first time: the first
  // (a) copy is as slow), and of three runs, one slow run can decide the median.
  warmup: 1,
  // Enough operations that a run measures a NameNode, DataNodes and clients whose code V8 has
  // already optimised: 5,000 mkdirs (a quarter of a second) measured mostly the warm-up, and
  // 5,000 small files (758 to 829 files/s) a third less than 20,000 (1,005/s) on 2 cores.
  smallFiles: 20_000,
  smallConcurrency: 16,
  metaOps: 50_000,
  files: 20_000,
  recoverySizeBytes: 256 * 1024 * 1024,
  recoveryTimeoutMs: 120_000,
  recoveryStallMs: 30_000,
  heartbeatIntervalMs: 500,
  deadAfterMs: 4_000,
  walDurationMs: 2_000,
};

/** The help text. */
export const usageText = `Usage: bigfs-bench <scenario> [flags]

Scenarios: ${scenarioNames.join(", ")}, all

Starts a cluster of its own (1 NameNode, --datanodes DataNodes, in a temp folder) unless
--namenode and --secret-file name a running one, and measures this machine's own ceilings
(limits) so every figure is shown as a ratio of what the hardware allows.`;

/**
 * Parses `bigfs-bench <scenario> [flags]`.
 *
 * @throws {ConfigError} for an unknown scenario or a bad flag, naming it.
 */
export function parseBenchArgs(argv: readonly string[]): BenchSettings {
  const [scenario, ...rest] = argv;
  if (scenario === undefined || scenario.startsWith("--")) {
    throw new ConfigError(`Missing scenario: give one of ${scenarioNames.join(", ")}, all`, {});
  }
  if (!(scenarioNames as readonly string[]).includes(scenario) && scenario !== "all") {
    throw new ConfigError(
      `Unknown scenario ${JSON.stringify(scenario)}: expected one of ${scenarioNames.join(", ")}, all`,
      { value: scenario },
    );
  }
  const flags: Config<typeof benchFlags> = parseConfig(benchFlags, rest);
  if ((flags.namenode === undefined) !== (flags.secretFile === undefined)) {
    throw new ConfigError("Invalid flags: --namenode and --secret-file go together", {
      flag: flags.namenode === undefined ? "secret-file" : "namenode",
    });
  }
  const defaults = flags.quick ? quickDefaults : fullDefaults;
  const chunkSizeBytes = flags.chunkSize ?? defaults.chunkSizeBytes;
  const heartbeatIntervalMs = defaults.heartbeatIntervalMs;
  const deadAfterMs = flags.deadAfter ?? defaults.deadAfterMs;
  if (deadAfterMs <= heartbeatIntervalMs) {
    throw new ConfigError(
      `Invalid value for --dead-after: ${deadAfterMs} ms must be longer than the heartbeat interval (${heartbeatIntervalMs} ms)`,
      { flag: "dead-after", value: String(deadAfterMs) },
    );
  }
  return {
    scenario: scenario as ScenarioName | "all",
    ...(flags.namenode === undefined ? {} : { namenode: flags.namenode }),
    ...(flags.secretFile === undefined ? {} : { secretFile: flags.secretFile }),
    datanodes: flags.datanodes,
    replication: flags.replication,
    ...(chunkSizeBytes === undefined ? {} : { chunkSizeBytes }),
    sizeBytes: flags.size ?? defaults.sizeBytes,
    memorySizeBytes: flags.memorySize ?? defaults.memorySizeBytes,
    ioFiles: flags.ioFiles ?? defaults.ioFiles,
    concurrency: flags.concurrency ?? defaults.concurrency,
    repeat: flags.repeat ?? defaults.repeat,
    warmup: flags.warmup ?? defaults.warmup,
    smallFiles: flags.smallFiles ?? defaults.smallFiles,
    smallSizeBytes: flags.smallSize ?? 4 * 1024,
    smallConcurrency: flags.smallConcurrency ?? defaults.smallConcurrency,
    metaOps: flags.metaOps ?? defaults.metaOps,
    metaConcurrency: flags.metaConcurrency,
    metaConnections: flags.metaConnections,
    files: flags.files ?? defaults.files,
    recoverySizeBytes: flags.recoverySize ?? defaults.recoverySizeBytes,
    recoveryTimeoutMs: flags.recoveryTimeout ?? defaults.recoveryTimeoutMs,
    recoveryStallMs: flags.recoveryStall ?? defaults.recoveryStallMs,
    heartbeatIntervalMs,
    deadAfterMs,
    walDurationMs: flags.walDuration ?? defaults.walDurationMs,
    walBatch: 32,
    walRecordBytes: 100,
    json: flags.json,
    ...(flags.report === undefined ? {} : { report: flags.report }),
    quick: flags.quick,
    quiet: flags.quiet,
    ...(flags.cpuProfDir === undefined ? {} : { cpuProfileDir: flags.cpuProfDir }),
  };
}
