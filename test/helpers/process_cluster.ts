import { join } from "node:path";
import { BigFsClient, type BigFsClientOptions } from "#client";
import { loadSecret } from "#protocol";
import { type Daemon, makeWorkspace, startDaemon } from "./daemon.js";
import { freePort, isFree } from "./ports.js";
import { type ReplicaOnDisk, replicasOnDisk } from "./stored_replicas.js";
import { waitFor } from "./wait.js";

/** Options for {@linkcode ProcessCluster.start}. */
export interface ProcessClusterOptions {
  /** DataNodes to start; default 3. */
  datanodes?: number;
  /** NameNode flags after the defaults (64 KiB chunks, 200 ms heartbeats, dead after 2 s). */
  namenodeFlags?: readonly string[];
  /** More flags for every DataNode, such as `--capacity`; not a default one again (refused). */
  datanodeFlags?: readonly string[];
  /**
   * The NameNode's data folder; default `namenode/` in the cluster's folder. One elsewhere
   * (such as a small file system the test mounted) is left in place by {@linkcode stop}.
   */
  namenodeDataDir?: string;
  /**
   * What to wait for before resolving: `"registered"` (default) until the NameNode counts every
   * DataNode live; `"listening"` until each DataNode process listens; `"nothing"` resolves once
   * the NameNode listens and the DataNode processes are spawned (await
   * {@linkcode ProcessCluster.datanodesListening} before using their ids or folders).
   */
  waitFor?: "registered" | "listening" | "nothing";
}

/** A chunk data file on a DataNode's disk. */
/** A replica on a DataNode's disk: a file of its own, or a record in a container. */
export type ChunkFile = ReplicaOnDisk;

const startAttemptsMax = 5;

/** A running cluster of processes. */
export class ProcessCluster {
  /** The temp folder everything lives in. */
  readonly root: string;
  readonly secret: Uint8Array;
  readonly secretFile: string;
  /** The NameNode's port, kept across restarts. */
  readonly namenodePort: number;
  /** The client every test may use; closed by {@linkcode stop}. */
  client!: BigFsClient;
  /** Resolves once every DataNode process of the start listens. */
  datanodesListening: Promise<void> = Promise.resolve();
  #namenode: Daemon;
  /** The flags the NameNode is started with, its data folder among them. */
  readonly #namenodeFlags: readonly string[];
  readonly #datanodeFlags: readonly string[];
  /** By index; `undefined` while that DataNode is down. */
  readonly #datanodes: (Daemon | undefined)[] = [];
  /** By index: the port each DataNode bound the first time, reused on restart. */
  readonly #datanodePorts: number[] = [];
  /** By index: each DataNode's id, as its "DataNode started" line names it. */
  readonly #datanodeIds: string[] = [];
  readonly #clients: BigFsClient[] = [];
  readonly #removeRoot: () => Promise<void>;

  private constructor(
    workspace: { dir: string; secretFile: string; remove: () => Promise<void> },
    secret: Uint8Array,
    namenode: Daemon,
    namenodePort: number,
    namenodeFlags: readonly string[],
    datanodeFlags: readonly string[],
  ) {
    this.root = workspace.dir;
    this.secret = secret;
    this.secretFile = workspace.secretFile;
    this.#removeRoot = workspace.remove;
    this.#namenode = namenode;
    this.namenodePort = namenodePort;
    this.#namenodeFlags = namenodeFlags;
    this.#datanodeFlags = datanodeFlags;
  }

  /** Starts the NameNode, then the DataNodes (all at once), and connects the client. */
  static async start(options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    const workspace = await makeWorkspace();
    // What the daemons read from the file, which is not always what was written: a trailing
    // newline byte is trimmed.
    const secret = await loadSecret(workspace.secretFile);
    const namenodeFlags = [
      ...["--data-dir", options.namenodeDataDir ?? join(workspace.dir, "namenode")],
      "--chunk-size",
      "64KiB",
      "--heartbeat-interval",
      "200ms",
      "--dead-after",
      "2s",
      ...(options.namenodeFlags ?? []),
    ];
    let cluster: ProcessCluster | undefined;
    try {
      let started: { daemon: Daemon; port: number } | undefined;
      for (let attempt = 1; started === undefined; attempt++) {
        const port = await freePort();
        const daemon = await spawnNamenode(workspace.secretFile, port, namenodeFlags);
        if (daemon !== "port in use") started = { daemon, port };
        else if (attempt >= startAttemptsMax) {
          throw new Error(`Cannot start the NameNode: ${attempt} free ports were taken`);
        }
      }
      cluster = new ProcessCluster(
        workspace,
        secret,
        started.daemon,
        started.port,
        namenodeFlags,
        options.datanodeFlags ?? [],
      );
      const count = options.datanodes ?? 3;
      const spawning = Array.from({ length: count }, (_, index) => cluster!.#spawn(index, 0));
      cluster.datanodesListening = Promise.all(spawning).then(() => {});
      cluster.datanodesListening.catch(() => {});
      const readiness = options.waitFor ?? "registered";
      if (readiness !== "nothing") await cluster.datanodesListening;
      cluster.client = await cluster.connect();
      if (readiness === "registered") await cluster.waitForLive(count);
      return cluster;
    } catch (error) {
      if (cluster) await cluster.stop();
      else await workspace.remove();
      throw error;
    }
  }

  /** The NameNode process. */
  get namenode(): Daemon {
    return this.#namenode;
  }

  /** DataNodes started so far, up or down. */
  get datanodeCount(): number {
    return this.#datanodeIds.length;
  }

  /** The DataNode process at `index`, if it is running. */
  datanode(index: number): Daemon | undefined {
    return this.#datanodes[index];
  }

  /** The id of the DataNode at `index`. */
  idOf(index: number): string {
    const id = this.#datanodeIds[index];
    if (id === undefined) throw new RangeError(`No DataNode ${index} in this cluster`);
    return id;
  }

  /** The index of the DataNode with this id. */
  indexOf(datanodeId: string): number {
    const index = this.#datanodeIds.indexOf(datanodeId);
    if (index < 0) throw new RangeError(`No DataNode ${datanodeId} in this cluster`);
    return index;
  }

  /** The data folder of the DataNode at `index`. */
  dataDirOf(index: number): string {
    return join(this.root, `datanode-${index}`);
  }

  /** Another client of this cluster, closed by {@linkcode stop}. */
  async connect(options: Partial<BigFsClientOptions> = {}): Promise<BigFsClient> {
    const client = await BigFsClient.connect({
      namenode: { host: "127.0.0.1", port: this.namenodePort },
      secret: this.secret,
      ...options,
    });
    this.#clients.push(client);
    return client;
  }

  /** How many DataNodes the NameNode counts live now. */
  async liveCount(): Promise<number> {
    const report = await this.client.report();
    return report.datanodes.filter((datanode) => datanode.state === "live").length;
  }

  /** Waits until the NameNode counts `count` DataNodes live. */
  async waitForLive(count: number, timeoutMs = 15_000): Promise<void> {
    await waitFor(async () => (await this.liveCount()) === count, timeoutMs, {
      what: `${count} live DataNodes`,
      intervalMs: 50,
    });
  }

  /** SIGKILL the DataNode at `index`: a crash. */
  async killDatanode(index: number): Promise<void> {
    const daemon = this.#running(index);
    this.#datanodes[index] = undefined;
    await daemon.kill();
  }

  /** SIGTERM the DataNode at `index` and wait until it has exited. */
  async stopDatanode(index: number): Promise<void> {
    const daemon = this.#running(index);
    this.#datanodes[index] = undefined;
    await daemon.stop();
  }

  /** Starts the DataNode at `index` again, on its data folder and port; waits until it listens. */
  async startDatanode(index: number): Promise<void> {
    if (this.#datanodes[index] !== undefined) {
      throw new Error(`Cannot start DataNode ${index}: it is running`);
    }
    const port = this.#datanodePorts[index];
    if (port === undefined) throw new RangeError(`No DataNode ${index} in this cluster`);
    await this.#spawn(index, port);
  }

  /** Stops (SIGTERM) and starts the DataNode at `index`. */
  async restartDatanode(index: number): Promise<void> {
    await this.stopDatanode(index);
    await this.startDatanode(index);
  }

  /**
   * Stops (SIGTERM) the NameNode and starts it again on the same port and folder, after
   * `whileStopped` (such as freeing its disk) when given.
   */
  async restartNamenode(whileStopped?: () => Promise<void>): Promise<void> {
    await this.#namenode.stop();
    await whileStopped?.();
    // The port was ours a moment ago; someone may take it in between, but only briefly.
    const started = await waitFor(
      async () => {
        const daemon = await spawnNamenode(this.secretFile, this.namenodePort, this.#namenodeFlags);
        return daemon === "port in use" ? undefined : daemon;
      },
      10_000,
      { what: `the NameNode to bind port ${this.namenodePort} again`, intervalMs: 100 },
    );
    this.#namenode = started;
  }

  /** Every finalised replica in the DataNode's folder: files under `chunks/`, and containers'. */
  async chunkFiles(index: number): Promise<ChunkFile[]> {
    return replicasOnDisk(this.dataDirOf(index));
  }

  /** Bytes of chunk data (without their checksums) on the DataNode at `index`. */
  async chunkBytesOn(index: number): Promise<number> {
    const files = await this.chunkFiles(index);
    return files.reduce((sum, file) => sum + file.sizeBytes, 0);
  }

  /**
   * Bytes of finalised replicas (data and checksums, and a contained one's record header) on
   * the DataNode at `index`: what it counts as used and reports.
   */
  async footprintBytesOn(index: number): Promise<number> {
    const files = await this.chunkFiles(index);
    return files.reduce((sum, file) => sum + file.footprintBytes, 0);
  }

  /** Closes the clients, stops every process (SIGTERM, then SIGKILL), removes the folder. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#clients.map((client) => client.close()));
    await this.datanodesListening.catch(() => {});
    await Promise.allSettled(
      this.#datanodes.map((datanode) => datanode?.stop(5_000) ?? Promise.resolve()),
    );
    await this.#namenode.stop(5_000).catch(() => {});
    await this.#removeRoot();
  }

  #running(index: number): Daemon {
    const daemon = this.#datanodes[index];
    if (daemon === undefined) throw new Error(`DataNode ${index} is not running`);
    return daemon;
  }

  /** Spawns DataNode `index` on `port` (0: any) and waits for its "DataNode started" line. */
  async #spawn(index: number, port: number): Promise<void> {
    const args = [
      ...["--data-dir", this.dataDirOf(index), "--port", String(port)],
      ...["--namenode", `127.0.0.1:${this.namenodePort}`, "--secret-file", this.secretFile],
      ...["--http-port", "0", "--scrub-rate", "0"],
      ...this.#datanodeFlags,
    ];
    // A port we bound before may be taken by the time we restart: wait for it to come free.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const daemon = startDaemon("datanode/main.js", args);
      // Known at once, so that stop() stops it even while it starts.
      this.#datanodes[index] = daemon;
      try {
        const line = await daemon.waitForLine((entry) => entry.msg === "DataNode started");
        this.#datanodePorts[index] = Number(line.port);
        this.#datanodeIds[index] = String(line.datanode);
        return;
      } catch (error) {
        this.#datanodes[index] = undefined;
        await daemon.kill();
        await closed(daemon);
        const inUse = daemon.stderr().includes("already in use");
        if (!inUse || Date.now() >= deadline) throw error;
        await waitFor(() => isFree(port), 10_000, { what: `port ${port} to come free` });
      }
    }
  }
}

/** Starts a NameNode on `port`; "port in use" when it lost a race for the port. */
async function spawnNamenode(
  secretFile: string,
  port: number,
  flags: readonly string[],
): Promise<Daemon | "port in use"> {
  const daemon = startDaemon("namenode/main.js", [
    ...["--secret-file", secretFile, "--port", String(port), "--http-port", "0", ...flags],
  ]);
  try {
    await daemon.waitForLine((line) => line.msg === "NameNode listening");
    return daemon;
  } catch (error) {
    await daemon.kill();
    await closed(daemon);
    if (daemon.stderr().includes("already in use")) return "port in use";
    throw error;
  }
}

/** Resolves once the daemon's output streams are closed, so its stderr is complete. */
function closed(daemon: Daemon): Promise<void> {
  const { child } = daemon;
  const open = [child.stdout, child.stderr].some((stream) => stream && !stream.destroyed);
  return open ? new Promise((resolve) => child.once("close", () => resolve())) : Promise.resolve();
}
