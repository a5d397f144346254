/**
 * A whole BigFS cluster on this machine, for trying BigFS out and for tests: one NameNode and
 * N DataNodes on 127.0.0.1, each a child process (`node dist/<daemon>/main.js`) with its own
 * folder under one data folder:
 *
 * ```text
 * <data-dir>/secret          the cluster secret: 32 random bytes, mode 0600, made once
 * <data-dir>/namenode/       the NameNode's edit log and images
 * <data-dir>/datanode-<i>/   DataNode i's chunks and id
 * <data-dir>/logs/<name>.log each daemon's JSON log lines and its stderr
 * ```
 *
 * Ports, from the base port B: the NameNode on B (HTTP B+870), DataNode i (from 1) on B+10+i
 * (HTTP B+870+i); so the defaults are 9000/9870 and 9011.., 9871.., like HDFS's 9000/9870.
 * Every port is checked free before anything starts, so a clash is named up front.
 *
 * Nothing is restarted behind the operator's back: a daemon that exits on its own is
 * reported through {@linkcode LocalCluster.unexpectedExit} and the owner decides.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, createWriteStream, openSync, readSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The name of the settings file that `bigfs` looks for in the current folder and above. */
export const clusterSettingsFileName = "bigfs-cluster.json";

/** The largest number of DataNodes a local cluster runs. */
export const localDataNodesMax = 50;

const host = "127.0.0.1";
const httpPortOffset = 870;
const dataNodePortOffset = 10;
const readyTimeoutMs = 30_000;
const stopTimeoutMs = 15_000;
const stderrTailBytesMax = 4096;
const secretBytes = 32;

/** Options for {@linkcode LocalCluster.start}. */
export interface LocalClusterOptions {
  /** The folder every daemon keeps its data under; made when missing. */
  dataDir: string;
  /** How many DataNodes; default 3. */
  dataNodes?: number;
  /** The NameNode's port; the others follow from it (see the module doc). Default 9000. */
  basePort?: number;
  /** Where to write the client settings; default `./bigfs-cluster.json`. */
  settingsFile?: string;
  /** The `dist/` folder holding `namenode/main.js` and `datanode/main.js`. */
  distDir?: string;
}

/** One daemon of a local cluster. */
export interface LocalDaemon {
  /** `namenode` or `datanode-<i>`. */
  readonly name: string;
  readonly port: number;
  readonly httpPort: number;
  /** The daemon's own data folder. */
  readonly dataDir: string;
  readonly logFile: string;
}

/** How a daemon ended. */
export interface DaemonExit {
  readonly daemon: LocalDaemon;
  /** The exit code, or `undefined` when a signal ended it. */
  readonly code: number | undefined;
  readonly signal: string | undefined;
  /** The end of what it wrote to stderr. */
  readonly stderr: string;
}

interface Running {
  readonly daemon: LocalDaemon;
  readonly child: ChildProcess;
  readonly exited: Promise<DaemonExit>;
  /** Resolves on the first stdout log line whose `msg` is one of the given ones. */
  waitForLog(messages: readonly string[], timeoutMs: number): Promise<void>;
}

// Daemons still running when this process exits (a crash, an uncaught error) are asked to
// stop, since being in their own process groups they would otherwise outlive it unnoticed.
const liveChildren = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of liveChildren) child.kill("SIGTERM");
});

/** Throws when `port` on 127.0.0.1 cannot be bound; the message names it and its owner. */
async function checkPortFree(port: number, owner: string): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const reason = error.code === "EADDRINUSE" ? "already in use" : (error.code ?? error.message);
      reject(new Error(`port ${port} (for ${owner}) on ${host} is ${reason}`));
    });
    server.listen(port, host, () => resolveListen());
  });
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
}

/** Reads the secret at `path`, or makes one (32 random bytes, mode 0600) when there is none. */
async function loadOrCreateSecret(path: string): Promise<void> {
  try {
    await writeFile(path, randomBytes(secretBytes), { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    await readFile(path); // fails clearly when it is not readable
  }
}

/** Writes the client settings to a temp name, then renames, so a reader never sees half. */
async function writeSettings(path: string, namenodePort: number, secretFile: string) {
  const settings = { namenode: `${host}:${namenodePort}`, secretFile };
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(settings, null, 2)}\n`);
  await rename(temp, path);
}

/**
 * The Node.js flags a bin's first line gives `node` (`#!/usr/bin/env -S node --flag ...`), for
 * starting it as `node <flags> <script>` with the same flags as running the bin itself.
 */
export function nodeFlagsOf(script: string): string[] {
  const prefix = "#!/usr/bin/env -S node ";
  const head = Buffer.alloc(256);
  const fd = openSync(script, "r");
  let read: number;
  try {
    read = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const firstLine = head.toString("utf8", 0, read).split("\n", 1)[0]!;
  if (!firstLine.startsWith(prefix)) return [];
  return firstLine.slice(prefix.length).trim().split(/\s+/);
}

function startDaemon(script: string, args: readonly string[], daemon: LocalDaemon): Running {
  const log = createWriteStream(daemon.logFile, { flags: "a" });
  // Each daemon leads its own process group, so the terminal's Ctrl-C reaches only us and each
  // daemon gets exactly one SIGTERM from stop() (a second signal makes a daemon exit at once).
  const child = spawn(process.execPath, [...nodeFlagsOf(script), script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: process.env,
    detached: true,
  });
  liveChildren.add(child);
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    stderr = (stderr + text).slice(-stderrTailBytesMax);
  });
  const exited = new Promise<DaemonExit>((resolveExit) => {
    child.once("close", (code, signal) => {
      liveChildren.delete(child);
      log.end();
      resolveExit({ daemon, code: code ?? undefined, signal: signal ?? undefined, stderr });
    });
  });
  let partial = "";
  const seen = new Set<string>();
  const wakers = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!.slice(-65_536);
    for (const line of lines) {
      try {
        const message = (JSON.parse(line) as { msg?: unknown }).msg;
        if (typeof message === "string") seen.add(message);
      } catch {}
    }
    for (const wake of wakers) wake();
  });
  const waitForLog = (messages: readonly string[], timeoutMs: number) =>
    new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${daemon.name} was not ready after ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (!messages.some((message) => seen.has(message))) return;
        finish();
        resolveReady();
      };
      const finish = () => {
        clearTimeout(timer);
        wakers.delete(check);
      };
      exited.then((exit) => {
        finish();
        reject(new Error(`${daemon.name} exited during start-up: ${describeExit(exit)}`));
      });
      wakers.add(check);
      check();
    });
  return { daemon, child, exited, waitForLog };
}

/** How a daemon ended, with the last line of its stderr when it wrote any, and its log. */
export function describeExit(exit: DaemonExit): string {
  const how = exit.signal === undefined ? `exit code ${exit.code}` : `signal ${exit.signal}`;
  const lastLine = exit.stderr.trim().split("\n").at(-1)?.trim();
  return `${how}${lastLine ? ` (${lastLine})` : ""}; log: ${exit.daemon.logFile}`;
}

/** A running local cluster. */
export class LocalCluster {
  readonly dataDir: string;
  readonly secretFile: string;
  readonly settingsFile: string;
  readonly namenode: LocalDaemon;
  readonly dataNodes: readonly LocalDaemon[];
  /** Resolves when a daemon exits while the cluster is not stopping. */
  readonly unexpectedExit: Promise<DaemonExit>;
  readonly #running: Running[];
  readonly #state: { stopping: boolean };
  #stopped: Promise<boolean> | undefined;

  private constructor(plan: ClusterPlan, running: Running[], state: { stopping: boolean }) {
    this.dataDir = plan.dataDir;
    this.secretFile = plan.secretFile;
    this.settingsFile = plan.settingsFile;
    this.namenode = plan.namenode;
    this.dataNodes = plan.dataNodes;
    this.#running = running;
    this.#state = state;
    this.unexpectedExit = new Promise((resolveExit) => {
      for (const { exited } of running) {
        exited.then((exit) => {
          if (!state.stopping) resolveExit(exit);
        });
      }
    });
  }

  /**
   * Checks every port, makes the folders and the secret, starts the NameNode, waits until it
   * listens, starts the DataNodes, waits until each registered, and writes the settings file.
   *
   * @throws {Error} naming the port in use, or the daemon that failed and why; whatever had
   * started is stopped first.
   */
  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const plan = planCluster(options);
    for (const daemon of [plan.namenode, ...plan.dataNodes]) {
      const owner =
        daemon.name === "namenode" ? "the NameNode" : `DataNode ${daemon.name.slice(9)}`;
      await checkPortFree(daemon.port, owner).catch(rethrowAsPortError);
      await checkPortFree(daemon.httpPort, `${owner} HTTP`).catch(rethrowAsPortError);
    }
    await mkdir(join(plan.dataDir, "logs"), { recursive: true });
    await loadOrCreateSecret(plan.secretFile);
    const running: Running[] = [];
    const launch = (script: string, args: string[], daemon: LocalDaemon) => {
      const started = startDaemon(join(plan.distDir, script), args, daemon);
      running.push(started);
      return started;
    };
    const common = ["--host", host, "--secret-file", plan.secretFile];
    try {
      const { namenode } = plan;
      await launch(
        "namenode/main.js",
        [
          ...["--data-dir", namenode.dataDir, "--port", String(namenode.port)],
          ...["--http-port", String(namenode.httpPort), ...common],
          ...["--replication", String(Math.min(3, plan.dataNodes.length))],
        ],
        namenode,
      ).waitForLog(["NameNode listening"], readyTimeoutMs);
      const dataNodes = plan.dataNodes.map((daemon) =>
        launch(
          "datanode/main.js",
          [
            ...["--data-dir", daemon.dataDir, "--port", String(daemon.port)],
            ...["--http-port", String(daemon.httpPort), ...common],
            ...["--namenode", `${host}:${namenode.port}`],
          ],
          daemon,
        ),
      );
      await Promise.all(
        dataNodes.map((started) =>
          started.waitForLog(["registered with the NameNode"], readyTimeoutMs),
        ),
      );
      await writeSettings(plan.settingsFile, namenode.port, plan.secretFile);
    } catch (error) {
      await stopAll(running);
      throw error;
    }
    return new LocalCluster(plan, running, { stopping: false });
  }

  /**
   * Stops every daemon with SIGTERM (DataNodes first, then the NameNode), SIGKILL after 15 s.
   * Resolves true when every daemon exited cleanly (code 0). Safe to call more than once.
   */
  stop(): Promise<boolean> {
    this.#state.stopping = true;
    this.#stopped ??= stopAll(this.#running);
    return this.#stopped;
  }
}

function rethrowAsPortError(error: Error): never {
  throw new Error(
    `Cannot start the cluster: ${error.message}; stop whatever holds it, or choose other ports with --base-port`,
  );
}

async function stopAll(running: readonly Running[]): Promise<boolean> {
  const stopOne = async ({ child, exited }: Running) => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
    const exit = await exited;
    clearTimeout(timer);
    return exit.code === 0;
  };
  const [namenode, ...dataNodes] = running;
  const dataNodesClean = await Promise.all(dataNodes.map(stopOne));
  const namenodeClean = namenode === undefined ? true : await stopOne(namenode);
  return namenodeClean && dataNodesClean.every(Boolean);
}

interface ClusterPlan {
  dataDir: string;
  secretFile: string;
  settingsFile: string;
  distDir: string;
  namenode: LocalDaemon;
  dataNodes: LocalDaemon[];
}

function planCluster(options: LocalClusterOptions): ClusterPlan {
  const dataNodeCount = options.dataNodes ?? 3;
  const basePort = options.basePort ?? 9000;
  if (!Number.isInteger(dataNodeCount) || dataNodeCount < 1 || dataNodeCount > localDataNodesMax) {
    throw new RangeError(
      `Cannot plan the cluster: ${dataNodeCount} DataNodes is not a whole number from 1 to ${localDataNodesMax}`,
    );
  }
  const highestPort = basePort + httpPortOffset + dataNodeCount;
  if (!Number.isInteger(basePort) || basePort < 1 || highestPort > 65_535) {
    throw new RangeError(
      `Cannot plan the cluster: base port ${basePort} leaves no room for ports up to base+${httpPortOffset + dataNodeCount} (at most 65535)`,
    );
  }
  const dataDir = resolve(options.dataDir);
  const logs = join(dataDir, "logs");
  const daemon = (name: string, port: number, httpPort: number): LocalDaemon => ({
    name,
    port,
    httpPort,
    dataDir: join(dataDir, name),
    logFile: join(logs, `${name}.log`),
  });
  return {
    dataDir,
    secretFile: join(dataDir, "secret"),
    settingsFile: resolve(options.settingsFile ?? clusterSettingsFileName),
    distDir: options.distDir ?? resolve(dirname(fileURLToPath(import.meta.url)), ".."),
    namenode: daemon("namenode", basePort, basePort + httpPortOffset),
    dataNodes: Array.from({ length: dataNodeCount }, (_, index) =>
      daemon(
        `datanode-${index + 1}`,
        basePort + dataNodePortOffset + index + 1,
        basePort + httpPortOffset + index + 1,
      ),
    ),
  };
}
