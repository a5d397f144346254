/**
 * A whole fuzz session against a real daemon: starts a NameNode and a DataNode as processes
 * (replication 1, small chunks), fuzzes the chosen one's protocol and HTTP ports while a real
 * `BigFsClient` uploads and reads back files, then checks the daemons are still up, logged no
 * error, and serve a new client end to end. Used by the test suite and by `npm run fuzz`.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { BigFsClient } from "#client";
import { type MessageName, Messages } from "#protocol";
import { sha256 } from "../helpers/bytes.js";
import type { Daemon } from "../helpers/daemon.js";
import { fetchText } from "../helpers/http_side_port.js";
import { ProcessCluster } from "../helpers/process_cluster.js";
import { fuzzDaemon } from "./daemon_fuzzer.js";
import type { Emphasis } from "./frame_inputs.js";
import type { FuzzCounts } from "./fuzz_counts.js";

/** The daemons a session can fuzz. */
export type FuzzTargetName = "namenode" | "datanode";

/** Options for {@linkcode runClusterFuzz}. */
export interface ClusterFuzzOptions {
  target: FuzzTargetName;
  seed: number;
  /** Inputs to send at least (unless `durationMs` passes first). */
  inputs: number;
  durationMs?: number;
  /** Inputs between two valid client checks; default 5,000. */
  checkEvery?: number;
  onProgress?: (counts: FuzzCounts) => void;
}

const datanodeMessages: MessageName[] = ["WRITE_CHUNK", "READ_CHUNK", "PING"];
const namenodeMessages = (Object.keys(Messages) as MessageName[]).filter(
  (name) => name !== "AUTH" && !datanodeMessages.includes(name),
);

/** Runs one session; resolves with the counts, rejects naming the seed when the daemon failed. */
export async function runClusterFuzz(options: ClusterFuzzOptions): Promise<FuzzCounts> {
  const cluster = await ProcessCluster.start({
    datanodes: 1,
    namenodeFlags: ["--replication", "1"],
  });
  try {
    const namenode = cluster.namenode;
    const datanode = cluster.datanode(0)!;
    const namenodeLine = lineOf(namenode, "NameNode listening");
    const datanodeLine = lineOf(datanode, "DataNode started");
    const [daemon, line] =
      options.target === "namenode" ? [namenode, namenodeLine] : [datanode, datanodeLine];
    const emphasis: Emphasis =
      options.target === "namenode"
        ? { favoured: namenodeMessages, writeStreams: false }
        : { favoured: datanodeMessages, writeStreams: true };
    let round = 0;
    const validCheck = () => roundTrip(cluster.client, `/valid/round-${round++}`);
    await cluster.client.mkdir("/valid");
    const counts = await fuzzDaemon(
      {
        name: options.target === "namenode" ? "NameNode" : "DataNode",
        protocol: { host: "127.0.0.1", port: Number(line.port) },
        http: { host: "127.0.0.1", port: Number(line.httpPort) },
        alive: () => running(daemon),
      },
      {
        seed: options.seed,
        inputs: options.inputs,
        ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
        context: {
          secret: cluster.secret,
          // The DataNode itself (a pipeline to itself), the NameNode, a closed port.
          addresses: [
            String(datanodeLine.address),
            `127.0.0.1:${namenodeLine.port}`,
            "127.0.0.1:1",
          ],
        },
        emphasis,
        validCheck,
        ...(options.checkEvery === undefined ? {} : { checkEvery: options.checkEvery }),
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      },
    );
    await checkStillServing(cluster, [namenode, datanode], Number(line.httpPort));
    return counts;
  } finally {
    await cluster.stop();
  }
}

/** After fuzzing: both processes up, no error logged, and a new client served end to end. */
async function checkStillServing(
  cluster: ProcessCluster,
  daemons: Daemon[],
  httpPort: number,
): Promise<void> {
  for (const daemon of daemons) {
    if (!running(daemon)) throw new Error(`A daemon exited during fuzzing: ${daemon.stderr()}`);
    const errors = daemon.lines.filter((line) => Number(line.level) >= 50);
    if (errors.length > 0) {
      throw new Error(`A daemon logged errors while fuzzed: ${JSON.stringify(errors.slice(0, 5))}`);
    }
    if (daemon.stderr() !== "") throw new Error(`A daemon wrote to stderr: ${daemon.stderr()}`);
  }
  const client = await cluster.connect();
  await roundTrip(client, "/valid/after-fuzzing");
  const listed = await client.list("/valid");
  if (!listed.some((entry) => entry.name === "after-fuzzing")) {
    throw new Error("The file written after fuzzing is not listed");
  }
  const health = await fetchText({ host: "127.0.0.1", port: httpPort }, "/health");
  if (health.status !== 200) throw new Error(`GET /health answered ${health.status}`);
}

/** Uploads a two-chunk file, reads it back and compares; throws on any difference. */
async function roundTrip(client: BigFsClient, path: string): Promise<void> {
  const content = randomBytes(100 * 1024);
  await client.put(Readable.from([content]), path);
  const pieces: Buffer[] = [];
  for await (const piece of client.createReadStream(path)) pieces.push(piece as Buffer);
  const back = Buffer.concat(pieces);
  if (sha256(back) !== sha256(content)) {
    throw new Error(`${path} read back ${back.byteLength} bytes that differ from what was put`);
  }
  const stat = await client.stat(path);
  if (stat.entry.size !== content.byteLength) {
    throw new Error(`${path} has size ${stat.entry.size}, not ${content.byteLength}`);
  }
}

function lineOf(daemon: Daemon, message: string): Record<string, unknown> {
  const line = daemon.lines.find((entry) => entry.msg === message);
  if (line === undefined) throw new Error(`No "${message}" line in the daemon's log`);
  return line;
}

function running(daemon: Daemon): boolean {
  return daemon.child.exitCode === null && daemon.child.signalCode === null;
}
