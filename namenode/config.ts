/**
 * The NameNode's flags, parsed and checked once at start-up.
 */
import { type Config, ConfigError, parseConfig } from "#protocol";

/** Every flag `bigfs-namenode` takes. */
export const namenodeFlags = {
  dataDir: {
    flag: "data-dir",
    type: "path",
    required: true,
    description: "folder for the edit log, images and lock",
  },
  host: { flag: "host", type: "string", default: "127.0.0.1", description: "address to bind" },
  port: { flag: "port", type: "port", default: 9000, description: "protocol port (0 picks one)" },
  httpPort: {
    flag: "http-port",
    type: "port",
    default: 9870,
    description: "HTTP side port: status page /, /metrics, /health (0 picks one)",
  },
  secretFile: {
    flag: "secret-file",
    type: "path",
    description: "cluster secret file (default: $BIGFS_SECRET_FILE)",
  },
  replication: {
    flag: "replication",
    type: "integer",
    default: 3,
    min: 1,
    max: 64,
    description: "default replicas per chunk",
  },
  chunkSize: {
    flag: "chunk-size",
    type: "size",
    default: 64 * 1024 * 1024,
    description: "default chunk size",
  },
  heartbeatInterval: {
    flag: "heartbeat-interval",
    type: "duration",
    default: 1_000,
    description: "how often DataNodes heartbeat",
  },
  deadAfter: {
    flag: "dead-after",
    type: "duration",
    default: 10_000,
    description: "a DataNode silent this long is dead",
  },
  leaseTimeout: {
    flag: "lease-timeout",
    type: "duration",
    default: 60_000,
    description: "a writer that does not renew for this long loses its partial file",
  },
  completeWait: {
    flag: "complete-wait",
    type: "duration",
    default: 5_000,
    description: "how long completing a file waits for DataNodes to report its chunks",
  },
  checkpointRecords: {
    flag: "checkpoint-records",
    type: "integer",
    default: 100_000,
    min: 1,
    description: "checkpoint after this many changes",
  },
  checkpointInterval: {
    flag: "checkpoint-interval",
    type: "duration",
    default: 3_600_000,
    description: "checkpoint changes older than this",
  },
  safeModeThreshold: {
    flag: "safe-mode-threshold",
    type: "integer",
    default: 999,
    min: 0,
    max: 1000,
    description: "per mille of chunks that need a reported replica to leave safe mode",
  },
  recover: {
    flag: "recover",
    type: "boolean",
    description: "cut the edit log at the first bad record instead of refusing to start",
  },
} as const;

/** The NameNode's parsed flags. */
export type NamenodeConfig = Config<typeof namenodeFlags>;

/** Parses the NameNode's command line; throws `ConfigError` naming the flag and value. */
export function parseNamenodeConfig(argv: readonly string[]): NamenodeConfig {
  const config = parseConfig(namenodeFlags, argv);
  if (config.deadAfter <= config.heartbeatInterval) {
    throw new ConfigError(
      `Invalid value for --dead-after: ${config.deadAfter} ms must be longer than --heartbeat-interval (${config.heartbeatInterval} ms)`,
      { flag: "dead-after", value: String(config.deadAfter) },
    );
  }
  return config;
}
