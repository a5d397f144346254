import { join } from "node:path";
import { BigFsClient, type DatanodeReport, type FsckReport } from "#client";
import { makeWorkspace, type NamenodeProcess, startNamenode } from "./daemon.js";
import { type DataNodeProcess, spawnDataNode } from "./datanode_process.js";
import { type ReplicaOnDisk, replicasOnDisk } from "./stored_replicas.js";
import { waitFor } from "./wait.js";

export { flipByte, sha256 } from "./bytes.js";

/** Options for {@linkcode HealingCluster.start}. */
export interface HealingClusterOptions {
  /** DataNodes started at once; default 4. */
  datanodes?: number;
  /** NameNode flags after the defaults (they win over them). */
  namenodeFlags?: readonly string[];
  /** Flags every DataNode gets after the defaults. */
  datanodeFlags?: readonly string[];
  /** Each DataNode's `--capacity`; default 64 MiB, so a few MiB move its use. */
  capacity?: string;
}

/** The defaults: 64 KiB chunks, a heartbeat every 200 ms, dead after 2 s of silence. */
export const healingDefaults = {
  chunkSizeBytes: 64 * 1024,
  heartbeatIntervalMs: 200,
  deadAfterMs: 2_000,
  capacity: "64MiB",
} as const;

/** One DataNode slot: its folder, and its process while it runs. */
export interface DatanodeSlot {
  readonly index: number;
  readonly dataDir: string;
  /** The DataNode id, the same across restarts. */
  id: string;
  process: DataNodeProcess | undefined;
}

/** A running cluster of processes; see the module doc. */
export class HealingCluster {
  readonly namenode: NamenodeProcess;
  readonly client: BigFsClient;
  readonly slots: DatanodeSlot[] = [];
  readonly #workspace: Awaited<ReturnType<typeof makeWorkspace>>;
  readonly #datanodeFlags: readonly string[];

  private constructor(
    workspace: Awaited<ReturnType<typeof makeWorkspace>>,
    namenode: NamenodeProcess,
    client: BigFsClient,
    datanodeFlags: readonly string[],
  ) {
    this.#workspace = workspace;
    this.namenode = namenode;
    this.client = client;
    this.#datanodeFlags = datanodeFlags;
  }

  /** Starts the NameNode and the DataNodes and waits until every DataNode is live. */
  static async start(options: HealingClusterOptions = {}): Promise<HealingCluster> {
    const workspace = await makeWorkspace();
    let namenode: NamenodeProcess | undefined;
    let cluster: HealingCluster | undefined;
    try {
      const given = options.namenodeFlags ?? [];
      // A flag the test gives replaces the default of the same name (the NameNode refuses
      // a flag given twice).
      const defaults = [
        ["--chunk-size", `${healingDefaults.chunkSizeBytes}`],
        ["--heartbeat-interval", `${healingDefaults.heartbeatIntervalMs}ms`],
        ["--dead-after", `${healingDefaults.deadAfterMs}ms`],
      ].filter(([flag]) => !given.includes(flag!));
      namenode = await startNamenode(join(workspace.dir, "namenode"), workspace.secretFile, [
        ...defaults.flat(),
        ...given,
      ]);
      const client = await BigFsClient.connect({
        namenode: { host: "127.0.0.1", port: namenode.port },
        secret: workspace.secret,
        // Leave room for a pipeline that meets a DataNode that has just died.
        attemptsPerChunk: 8,
        stallTimeoutMs: 10_000,
      });
      cluster = new HealingCluster(workspace, namenode, client, [
        ...["--capacity", options.capacity ?? healingDefaults.capacity],
        ...(options.datanodeFlags ?? []),
      ]);
      const count = options.datanodes ?? 4;
      await Promise.all(Array.from({ length: count }, () => cluster!.addDatanode()));
      return cluster;
    } catch (error) {
      if (cluster) await cluster.stop();
      else {
        await namenode?.kill();
        await workspace.remove();
      }
      throw error;
    }
  }

  /** The `host:port` DataNodes reach the NameNode at. */
  get namenodeAddress(): string {
    return `127.0.0.1:${this.namenode.port}`;
  }

  /**
   * Starts a DataNode in a new slot with an empty folder (by default one in the cluster's
   * folder; `dataDir` may be elsewhere, such as a small file system the test mounted and
   * unmounts after {@linkcode stop}); resolves with its index once live.
   */
  async addDatanode(options: { dataDir?: string } = {}): Promise<number> {
    const index = this.slots.length;
    const slot: DatanodeSlot = {
      index,
      dataDir: options.dataDir ?? join(this.#workspace.dir, `datanode-${index}`),
      id: "",
      process: undefined,
    };
    this.slots.push(slot);
    await this.startDatanode(index);
    return index;
  }

  /** Starts the DataNode of a slot (again) on its folder and waits until the NameNode has it live. */
  async startDatanode(index: number, extraFlags: readonly string[] = []): Promise<void> {
    const slot = this.#slot(index);
    if (slot.process !== undefined) throw new Error(`DataNode ${index} is already running`);
    slot.process = await spawnDataNode({
      dataDir: slot.dataDir,
      namenode: this.namenodeAddress,
      secretFile: this.#workspace.secretFile,
      flags: [...["--http-port", "0"], ...this.#datanodeFlags, ...extraFlags],
    });
    slot.id = slot.process.id;
    await this.waitState(index, "live");
  }

  /** SIGKILL: the DataNode crashes; resolves once the process is gone. */
  async killDatanode(index: number): Promise<void> {
    const slot = this.#slot(index);
    await slot.process?.kill("SIGKILL");
    slot.process = undefined;
  }

  /** SIGTERM: the DataNode stops cleanly; resolves once the process is gone. */
  async stopDatanode(index: number): Promise<void> {
    const slot = this.#slot(index);
    await slot.process?.kill("SIGTERM");
    slot.process = undefined;
  }

  /** Waits until `report()` shows the slot's DataNode in `state`. */
  async waitState(
    index: number,
    state: DatanodeReport["datanodes"][number]["state"],
    timeoutMs = 15_000,
  ): Promise<void> {
    const { id } = this.#slot(index);
    await waitFor(
      async () =>
        (await this.client.report()).datanodes.some((d) => d.id === id && d.state === state),
      timeoutMs,
      { what: `DataNode ${index} (${id}) to be ${state}`, intervalMs: 50 },
    );
  }

  /** The slot index of a DataNode id. */
  indexOf(datanodeId: string): number {
    const index = this.slots.findIndex((slot) => slot.id === datanodeId);
    if (index < 0) throw new Error(`No DataNode ${datanodeId} in this cluster`);
    return index;
  }

  /** Waits until `fsck(path)` satisfies `predicate`; resolves with that report. */
  async waitFsck(
    predicate: (report: FsckReport) => boolean,
    timeoutMs: number,
    what: string,
    path = "/",
  ): Promise<FsckReport> {
    let last: FsckReport | undefined;
    try {
      return await waitFor(
        async () => {
          last = await this.client.fsck(path);
          return predicate(last) ? last : undefined;
        },
        timeoutMs,
        { what, intervalMs: 50 },
      );
    } catch (error) {
      const summary = last === undefined ? "none" : JSON.stringify(last, bigintAsString);
      throw new Error(`${(error as Error).message}; last fsck: ${summary}`);
    }
  }

  /** The replicas of a chunk (any generation) in a slot's folder: files, or contained. */
  async replicasOf(index: number, chunkId: bigint): Promise<ReplicaOnDisk[]> {
    const all = await replicasOnDisk(this.#slot(index).dataDir);
    return all.filter((replica) => replica.chunkId === chunkId);
  }

  /** NameNode log lines with this message (and, when given, this chunk id). */
  namenodeLines(msg: string, chunkId?: bigint): Record<string, unknown>[] {
    return this.namenode.lines.filter(
      (line) => line.msg === msg && (chunkId === undefined || line.chunkId === String(chunkId)),
    );
  }

  /** Reads a whole file back through the client, every byte verified on the way. */
  async read(path: string): Promise<Buffer> {
    const pieces: Buffer[] = [];
    for await (const piece of this.client.createReadStream(path)) pieces.push(piece as Buffer);
    return Buffer.concat(pieces);
  }

  /** Closes the client, stops every process (SIGTERM, then SIGKILL) and removes the folder. */
  async stop(): Promise<void> {
    await this.client.close().catch(() => {});
    await Promise.allSettled(
      this.slots.map(async (slot) => {
        const running = slot.process;
        if (running === undefined) return;
        const timer = setTimeout(() => running.kill("SIGKILL"), 5_000);
        await running.kill("SIGTERM");
        clearTimeout(timer);
      }),
    );
    await this.namenode.stop(5_000).catch(() => {});
    await this.#workspace.remove();
  }

  #slot(index: number): DatanodeSlot {
    const slot = this.slots[index];
    if (slot === undefined) throw new RangeError(`No DataNode slot ${index}`);
    return slot;
  }
}

/** A `JSON.stringify` replacer for reports holding bigint ids. */
export function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
