/**
 * The cluster a benchmark runs against: either one it starts itself (a NameNode and N
 * DataNodes as child processes in a temp folder, with a fresh secret and ports picked at
 * run time) and removes afterwards, or one that is already running (`--namenode`).
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BigFsClient } from "#client";
import { formatDuration, type HostPort, loadSecret } from "#protocol";
import { DaemonProcess } from "./daemon_process.js";

const readyTimeoutMs = 30_000;

/** A DataNode this bench started. */
export interface BenchDatanode {
  readonly id: string;
  readonly process: DaemonProcess;
}

/** Options for {@linkcode startNamenodeProcess}. */
export interface NamenodeProcessOptions {
  /** Flags after `--data-dir`, `--secret-file` and the ports. */
  flags?: readonly string[];
  name?: string;
}

/** Starts `bigfs-namenode` on a port it picks and waits until it listens. */
export async function startNamenodeProcess(
  dataDir: string,
  secretFile: string,
  options: NamenodeProcessOptions = {},
): Promise<{ process: DaemonProcess; port: number }> {
  const args = [
    ...["--data-dir", dataDir, "--secret-file", secretFile],
    ...["--host", "127.0.0.1", "--port", "0", "--http-port", "0"],
    ...(options.flags ?? []),
  ];
  const daemon = DaemonProcess.start("namenode/main.js", args, {
    name: options.name ?? "namenode",
    logPath: `${dataDir}.log`,
  });
  try {
    const ready = await daemon.waitForLog("NameNode listening", readyTimeoutMs);
    return { process: daemon, port: Number(ready.port) };
  } catch (error) {
    await daemon.kill();
    throw error;
  }
}

/** Options for {@linkcode BenchCluster.start}. */
export interface BenchClusterOptions {
  /** DataNodes to start. */
  datanodes: number;
  /** Default replicas per chunk. */
  replication: number;
  heartbeatIntervalMs: number;
  deadAfterMs: number;
}

/** A running cluster, owned by the bench or not. */
export class BenchCluster {
  readonly namenode: HostPort;
  readonly secret: Uint8Array;
  /** The temp folder of an owned cluster; scratch files of the bench go here too. */
  readonly root: string;
  /** The NameNode process, when the bench started it. */
  readonly namenodeProcess: DaemonProcess | undefined;
  readonly datanodes: BenchDatanode[] = [];
  /** Where `secret` is stored, for daemons the bench starts later. */
  readonly secretFile: string;
  readonly #ownsRoot: boolean;

  private constructor(fields: {
    namenode: HostPort;
    secret: Uint8Array;
    secretFile: string;
    root: string;
    ownsRoot: boolean;
    namenodeProcess?: DaemonProcess;
  }) {
    this.namenode = fields.namenode;
    this.secret = fields.secret;
    this.secretFile = fields.secretFile;
    this.root = fields.root;
    this.#ownsRoot = fields.ownsRoot;
    this.namenodeProcess = fields.namenodeProcess;
  }

  /** True when the bench started the daemons and may kill them. */
  get owned(): boolean {
    return this.namenodeProcess !== undefined;
  }

  /**
   * Starts a NameNode and the DataNodes in a new temp folder and waits until the NameNode
   * counts every DataNode live. On failure, whatever started is stopped and removed.
   */
  static async start(options: BenchClusterOptions): Promise<BenchCluster> {
    const root = await mkdtemp(join(tmpdir(), "bigfs-bench-"));
    const secretFile = join(root, "secret");
    // Hex text: raw bytes could end in "\n", which loadSecret trims, giving daemons a shorter secret.
    const secret = Buffer.from(randomBytes(32).toString("hex"));
    let cluster: BenchCluster | undefined;
    try {
      await writeFile(secretFile, secret, { mode: 0o600 });
      const started = await startNamenodeProcess(join(root, "namenode"), secretFile, {
        flags: [
          ...["--replication", String(options.replication)],
          ...["--heartbeat-interval", formatDuration(options.heartbeatIntervalMs)],
          ...["--dead-after", formatDuration(options.deadAfterMs)],
        ],
      });
      cluster = new BenchCluster({
        namenode: { host: "127.0.0.1", port: started.port },
        secret,
        secretFile,
        root,
        ownsRoot: true,
        namenodeProcess: started.process,
      });
      for (let index = 1; index <= options.datanodes; index++) {
        await cluster.#startDatanode(index);
      }
      await cluster.waitForLiveDatanodes(options.datanodes, readyTimeoutMs);
      return cluster;
    } catch (error) {
      if (cluster) await cluster.stop();
      else await rm(root, { recursive: true, force: true });
      throw error;
    }
  }

  /** A cluster that runs already; the bench neither stops it nor deletes anything but its own. */
  static async attach(namenode: HostPort, secretFile: string): Promise<BenchCluster> {
    const secret = await loadSecret(secretFile);
    const root = await mkdtemp(join(tmpdir(), "bigfs-bench-"));
    return new BenchCluster({ namenode, secret, secretFile, root, ownsRoot: true });
  }

  async #startDatanode(index: number): Promise<void> {
    const dataDir = join(this.root, `datanode-${index}`);
    await mkdir(dataDir, { recursive: true });
    const args = [
      ...["--data-dir", dataDir, "--secret-file", this.secretFile],
      ...["--host", "127.0.0.1", "--port", "0", "--http-port", "0"],
      ...["--namenode", `${this.namenode.host}:${this.namenode.port}`],
      // The scrubber re-reads chunks in the background; off, so runs compare like with like.
      ...["--scrub-rate", "0"],
    ];
    const daemon = DaemonProcess.start("datanode/main.js", args, {
      name: `datanode-${index}`,
      logPath: `${dataDir}.log`,
    });
    this.datanodes.push({ id: "", process: daemon });
    const started = await daemon.waitForLog("DataNode started", readyTimeoutMs);
    this.datanodes[this.datanodes.length - 1] = { id: String(started.datanode), process: daemon };
  }

  /** A new client of this cluster; the caller closes it. */
  client(chunksInFlight?: number): Promise<BigFsClient> {
    return BigFsClient.connect({
      namenode: this.namenode,
      secret: this.secret,
      ...(chunksInFlight === undefined ? {} : { chunksInFlight }),
    });
  }

  /** Waits until the NameNode reports at least `count` live DataNodes. */
  async waitForLiveDatanodes(count: number, timeoutMs: number): Promise<number> {
    const client = await this.client();
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { datanodes } = await client.report();
        const live = datanodes.filter((datanode) => datanode.state === "live").length;
        if (live >= count) return live;
        if (Date.now() > deadline) {
          throw new Error(
            `Cannot start the bench cluster: ${live} of ${count} DataNodes live after ${timeoutMs} ms`,
          );
        }
        await new Promise((resolveSleep) => setTimeout(resolveSleep, 50));
      }
    } finally {
      await client.close();
    }
  }

  /** Stops what the bench started (SIGTERM, SIGKILL after a while) and deletes its folder. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.datanodes.map(({ process }) => process.stop()));
    await this.namenodeProcess?.stop();
    if (this.#ownsRoot) await rm(this.root, { recursive: true, force: true });
  }
}
