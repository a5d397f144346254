#!/usr/bin/env node
/**
 * `bigfs-cluster`: a NameNode and N DataNodes on this machine under one data folder, with
 * the client settings written to `./bigfs-cluster.json` so `bigfs` finds the cluster with no
 * flags. Ctrl-C or SIGTERM stops every daemon cleanly; a daemon that exits on its own stops
 * the rest. Exit codes: 0 after a clean stop, 1 when start-up fails or a daemon died, 2 for
 * a bad command line.
 */
import { relative, resolve } from "node:path";
import { ConfigError, formatUsage, parseConfig } from "#protocol";
import { describeExit, LocalCluster, localDataNodesMax } from "./local_cluster.js";

const clusterFlags = {
  dataDir: {
    flag: "data-dir",
    type: "path",
    description: "folder for every daemon's data, logs and the secret (default: ./.bigfs)",
  },
  dataNodes: {
    flag: "datanodes",
    type: "integer",
    default: 3,
    min: 1,
    max: localDataNodesMax,
    description: "how many DataNodes",
  },
  basePort: {
    flag: "base-port",
    type: "integer",
    default: 9000,
    min: 1,
    max: 65_535 - 870 - localDataNodesMax,
    description: "NameNode port; DataNode i listens on base+10+i, HTTP ports on base+870(+i)",
  },
  help: { flag: "help", type: "boolean", description: "show this help and exit" },
} as const;

const usage = `Usage: bigfs-cluster [--data-dir DIR] [--datanodes N] [--base-port PORT]

Runs a BigFS cluster on this machine (127.0.0.1): one NameNode and N DataNodes, each a child
process with its own folder under the data folder. A second start reuses the data.

Flags:
${formatUsage(clusterFlags)}`;

function fail(message: string, exitCode: number): never {
  process.stderr.write(`bigfs-cluster: ${message}\n`);
  if (exitCode === 2) process.stderr.write("Run bigfs-cluster --help for the flags.\n");
  process.exit(exitCode);
}

/** A path as short as it can be said from here. */
function shown(path: string): string {
  const fromHere = relative(process.cwd(), path);
  return fromHere === "" ? "." : fromHere.startsWith("..") ? path : `./${fromHere}`;
}

function summary(cluster: LocalCluster): string {
  const { namenode, dataNodes } = cluster;
  const rows = [
    `BigFS cluster running on 127.0.0.1 with ${dataNodes.length} DataNode(s)`,
    `  NameNode      127.0.0.1:${namenode.port}  (http ${namenode.httpPort})  ${shown(namenode.dataDir)}`,
    ...dataNodes.map(
      (node, index) =>
        `  DataNode ${String(index + 1).padEnd(4)} 127.0.0.1:${node.port}  (http ${node.httpPort})  ${shown(node.dataDir)}`,
    ),
    `  data folder   ${cluster.dataDir}`,
    `  logs          ${shown(`${cluster.dataDir}/logs`)}/<name>.log`,
    `  secret        ${shown(cluster.secretFile)}`,
    `  settings      ${cluster.settingsFile}  (bigfs finds the cluster from this folder)`,
    "",
    "Try: npx bigfs put package.json /package.json && npx bigfs ls /",
    "Ctrl-C to stop.",
  ];
  return `${rows.join("\n")}\n`;
}

async function main(argv: readonly string[]): Promise<void> {
  let config: ReturnType<typeof parseConfig<typeof clusterFlags>>;
  try {
    config = parseConfig(clusterFlags, argv);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    throw error;
  }
  if (config.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({
      dataDir: config.dataDir ?? resolve(".bigfs"),
      dataNodes: config.dataNodes,
      basePort: config.basePort,
    });
  } catch (error) {
    fail((error as Error).message, 1);
  }
  process.stdout.write(summary(cluster));

  let stopping = false;
  const stop = async (why: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${why}: stopping every daemon...\n`);
    const clean = await cluster.stop();
    process.stdout.write(clean ? "Stopped.\n" : "Stopped, but not every daemon exited cleanly.\n");
    process.exit(clean ? exitCode : 1);
  };
  process.on("SIGINT", () => void stop("SIGINT", 0));
  process.on("SIGTERM", () => void stop("SIGTERM", 0));
  cluster.unexpectedExit.then((exit) => {
    if (stopping) return;
    process.stderr.write(
      `\nbigfs-cluster: ${exit.daemon.name} EXITED UNEXPECTEDLY with ${describeExit(exit)}\nNothing is restarted: stopping the others.\n`,
    );
    void stop(`${exit.daemon.name} died`, 1);
  });
}

await main(process.argv.slice(2));
