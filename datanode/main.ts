#!/usr/bin/env -S node --initial-old-space-size=64
/**
 * `bigfs-datanode`: parses the flags, loads the cluster secret, starts a DataNode and stops it
 * cleanly on SIGTERM or SIGINT.
 *
 * Exit codes: 0 after a clean stop (or `--help`), 1 when start-up fails (data folder, port),
 * 2 for bad flags or a missing or unusable secret, with the message on stderr.
 *
 * The first line gives Node.js a flag, which `bigfs-cluster` and `bigfs-bench` pass too (they
 * read it from here: `nodeFlagsOf`); a DataNode started without it works the same, with more
 * garbage collection. `--initial-old-space-size=64`: a DataNode's live heap is small (about
 * 8 MB with an empty store, mostly code), so V8 set the old generation's limit at about 20 MB
 * and, with the garbage the data path leaves (a new buffer for every 64 KiB socket read,
 * frames, promises), ran a full collection for every 20 MB or so received: 51 per GiB in a
 * 1 GiB put with replication 3. With 64 MB allowed from the start, the same put ran none, each
 * DataNode's user CPU per GiB went from about 2.3 s to 0.9 s, and its peak resident memory from
 * about 125 to 145 MiB. It only sets where V8 starts: a live heap that outgrows it (a large
 * chunk index) is sized as usual. It must be given at start-up: `v8.setFlagsFromString` comes
 * too late for the heap's initial size.
 */
import { ConfigError, createLogger, formatUsage, loadSecret } from "#protocol";
import { dataNodeConfigSpec, parseDataNodeConfig } from "./config.js";
import { DataNode } from "./datanode.js";

const usage = `Usage: bigfs-datanode --data-dir <path> --namenode <host:port> [flags]

Stores chunks for a BigFS cluster: registers with the NameNode, serves chunk writes and reads.

Flags:
${formatUsage(dataNodeConfigSpec)}`;

function fail(message: string, exitCode: number): never {
  process.stderr.write(`bigfs-datanode: ${message}\n`);
  if (exitCode === 2) process.stderr.write("Run bigfs-datanode --help for the flags.\n");
  process.exit(exitCode);
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes("--help")) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  let config: ReturnType<typeof parseDataNodeConfig>;
  try {
    config = parseDataNodeConfig(argv);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    throw error;
  }
  const secretFile = config.secretFile ?? process.env.BIGFS_SECRET_FILE;
  if (secretFile === undefined || secretFile === "") {
    fail("Missing --secret-file: give the cluster secret file, or set BIGFS_SECRET_FILE", 2);
  }
  let secret: Uint8Array;
  try {
    secret = await loadSecret(secretFile);
  } catch (error) {
    fail((error as Error).message, 2);
  }
  const logger = createLogger({ name: "datanode" });
  let node: DataNode;
  try {
    node = await DataNode.start(config, { secret, logger });
  } catch (error) {
    logger.fatal({ err: error }, "DataNode failed to start");
    fail(`Cannot start the DataNode: ${(error as Error).message}`, 1);
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting at once");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "stopping");
    node.stop().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.fatal({ err: error }, "DataNode failed to stop cleanly");
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

await main(process.argv.slice(2));
