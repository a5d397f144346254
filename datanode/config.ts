/**
 * The `bigfs-datanode` flags, parsed and checked once at start-up into one typed object.
 */
import { type Config, parseConfig } from "#protocol";

/** The DataNode's flags; {@linkcode parseDataNodeConfig} turns argv into a {@linkcode DataNodeConfig}. */
export const dataNodeConfigSpec = {
  dataDir: {
    flag: "data-dir",
    type: "path",
    required: true,
    description: "folder for the chunk store and the DataNode id; kept across restarts",
  },
  host: { flag: "host", type: "string", default: "127.0.0.1", description: "address to bind" },
  port: { flag: "port", type: "port", default: 9866, description: "data port; 0 picks a free one" },
  namenode: {
    flag: "namenode",
    type: "hostport",
    required: true,
    description: "the NameNode to register with",
  },
  advertise: {
    flag: "advertise",
    type: "hostport",
    description:
      "address clients and peers reach this DataNode at (default: --host and the bound port)",
  },
  secretFile: {
    flag: "secret-file",
    type: "path",
    description: "cluster secret file (default: $BIGFS_SECRET_FILE)",
  },
  capacity: {
    flag: "capacity",
    type: "size",
    default: 100 * 1024 ** 3,
    description: "bytes of chunk data this DataNode may hold",
  },
  rack: { flag: "rack", type: "string", description: "rack name for placement, such as /rack-a" },
  httpPort: {
    flag: "http-port",
    type: "port",
    default: 9864,
    description: "HTTP side port for /metrics and /health (0 picks one)",
  },
  scrubRate: {
    flag: "scrub-rate",
    type: "size",
    default: 8 * 1024 ** 2,
    description: "bytes per second the background scrubber re-verifies; 0 turns it off",
  },
  scrubInterval: {
    flag: "scrub-interval",
    type: "duration",
    default: 3_600_000,
    description: "pause between two full scrubber passes",
  },
  writeBuffer: {
    flag: "write-buffer",
    type: "size",
    default: 32 * 1024 ** 2,
    description:
      "bytes the writes' senders may have on their way to this DataNode at once, shared among the writes under way (each gets 256 KiB to 4 MiB)",
  },
  directIo: {
    flag: "direct-io",
    type: "boolean",
    default: true,
    description:
      "write and read chunk data past the page cache (O_DIRECT) when the disk takes it; --direct-io=false turns it off",
  },
  help: { flag: "help", type: "boolean", description: "show this help and exit" },
} as const;

/** The DataNode's parsed configuration. */
export type DataNodeConfig = Config<typeof dataNodeConfigSpec>;

/**
 * Parses `bigfs-datanode` flags.
 *
 * @throws {ConfigError} naming the flag and the value at fault.
 */
export function parseDataNodeConfig(argv: readonly string[]): DataNodeConfig {
  return parseConfig(dataNodeConfigSpec, argv);
}
