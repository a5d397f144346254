#!/usr/bin/env -S node --initial-old-space-size=64
/**
 * `bigfs-namenode`: parses flags, loads the cluster secret, starts the NameNode, and stops it
 * cleanly on SIGTERM or SIGINT. Exit codes: 0 after a clean stop, 1 when start-up fails,
 * 2 for a bad command line.
 */
import { setFlagsFromString } from "node:v8";
import { ConfigError, createLogger, formatUsage, loadSecret } from "#protocol";
import { namenodeFlags, parseNamenodeConfig } from "./config.js";
import { EditLogCorruptError } from "./edit_log.js";
import { NameNode } from "./namenode.js";

// The NameNode's heap is mostly its namespace and chunk map, which only grow, while every
// request leaves garbage that lives just long enough (a group commit's fdatasync) to be
// promoted to the old generation. V8 lets the heap grow up to four times what a full
// collection keeps before collecting again, so at a million files most of the resident memory
// was garbage. Growing by half of what is kept costs a full (mostly concurrent) collection
// more often, and holds resident memory near the live data: 100,000 one-chunk files created
// as `bigfs-bench meta` does took 2.9 KiB of resident memory per file without it, 1.5 with it.
setFlagsFromString("--heap-growing-percent=50");

const argv = process.argv.slice(2);
if (argv.includes("--help")) {
  process.stdout.write(
    `Usage: bigfs-namenode --data-dir DIR [flags]\n\n${formatUsage(namenodeFlags)}\n`,
  );
  process.exit(0);
}

let config: ReturnType<typeof parseNamenodeConfig>;
try {
  config = parseNamenodeConfig(argv);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(
    `bigfs-namenode: ${error.message}\nRun bigfs-namenode --help for the flags.\n`,
  );
  process.exit(2);
}

const logger = createLogger({ name: "namenode" });
const secretFile = config.secretFile ?? process.env.BIGFS_SECRET_FILE;
if (secretFile === undefined || secretFile === "") {
  process.stderr.write(
    "bigfs-namenode: Missing required flag --secret-file (or BIGFS_SECRET_FILE)\n",
  );
  process.exit(2);
}

try {
  const secret = await loadSecret(secretFile);
  const namenode = await NameNode.start(config, { logger, secret });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    namenode.stop().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ err: error }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
} catch (error) {
  logger.fatal({ err: error }, "NameNode failed to start");
  const hint =
    error instanceof EditLogCorruptError
      ? "\nTo start anyway, run with --recover: the log is cut at that offset and the records after it are dropped."
      : "";
  process.stderr.write(`bigfs-namenode: ${(error as Error).message}${hint}\n`);
  process.exit(1);
}
