/**
 * Real `bigfs-datanode` processes for cluster tests: spawned from the built bin with
 * `--port 0`, their bound address read from their "DataNode started" log line, and every one
 * killed when the test process exits, however it exits.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "datanode", "main.js");
const running = new Set<ChildProcess>();

process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A running DataNode process. */
export interface DataNodeProcess {
  readonly child: ChildProcess;
  readonly id: string;
  /** The advertised `host:port`. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** Its log lines so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Its stderr so far. */
  readonly stderr: () => string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Sends `signal` and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
}

/** Options for {@linkcode spawnDataNode}. */
export interface SpawnDataNodeOptions {
  dataDir: string;
  /** The NameNode's `host:port`. */
  namenode: string;
  secretFile: string;
  /** More flags. */
  flags?: string[];
  /** Deadline for the "DataNode started" line; default 15 s. */
  startTimeoutMs?: number;
}

/** Spawns `bigfs-datanode` and waits until it is listening. */
export async function spawnDataNode(options: SpawnDataNodeOptions): Promise<DataNodeProcess> {
  const args = [
    ...["--data-dir", options.dataDir, "--port", "0", "--namenode", options.namenode],
    // Several DataNodes run on one machine: each takes a free HTTP port unless told one.
    ...(options.flags?.some((flag) => flag.startsWith("--http-port")) ? [] : ["--http-port", "0"]),
    ...["--secret-file", options.secretFile, ...(options.flags ?? [])],
  ];
  const child = spawn(process.execPath, ["--enable-source-maps", bin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, BIGFS_LOG_LEVEL: "info" },
  });
  running.add(child);
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve(signal ?? code ?? -1);
    });
  });
  const logs: Record<string, unknown>[] = [];
  let partial = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  const started = await Promise.race([
    waitFor(
      () => logs.find((line) => line.msg === "DataNode started"),
      options.startTimeoutMs ?? 15_000,
      { what: "the DataNode to start" },
    ),
    exited.then((code) => {
      throw new Error(`bigfs-datanode exited with ${code} before starting: ${stderr}`);
    }),
  ]).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  return {
    child,
    id: String(started.datanode),
    address: String(started.address),
    host: String(started.host),
    port: Number(started.port),
    dataDir: options.dataDir,
    logs,
    stderr: () => stderr,
    exited,
    kill(signal = "SIGKILL") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
