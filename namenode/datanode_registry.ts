/**
 * The DataNodes the NameNode knows: their address, rack, space and load, whether they are
 * alive, and the commands waiting for their next heartbeat.
 *
 * Pure and synchronous: time comes in as `nowMs`, so the server owns the clock and tests are
 * deterministic. Rules:
 * - A DataNode is dead once it has been silent for longer than `deadAfterMs`; silent for
 *   exactly `deadAfterMs` it is still live. A dead DataNode's queued commands are dropped: it
 *   registers again with a full chunk report, from which the work it still needs is derived
 *   anew. Dead DataNodes are remembered (for the report and to tell a return from a newcomer).
 * - Liveness and administration are kept apart, so a decommissioning DataNode that dies and
 *   comes back is still decommissioning. Only a live DataNode in normal service takes writes.
 * - Deletes wait in one set per DataNode, keyed by chunk id (so a delete queued twice is sent
 *   once), and leave in one `delete` command of at most `deletesPerHeartbeatMax` chunks per
 *   heartbeat; the rest wait for the next. Other commands wait in a queue of at most
 *   `commandsQueuedMax` and leave at most `commandsPerHeartbeatMax` at a time.
 * - Placement between heartbeats uses *effective* figures: the reported used bytes and active
 *   transfers plus what was scheduled on the DataNode since its last heartbeat (HDFS's
 *   blocksScheduled), and the reported remaining bytes less it, so back-to-back placements
 *   spread out. A heartbeat reports the real figures and clears what was scheduled.
 * - Remaining bytes are what the DataNode says it can still take: its capacity less its use,
 *   or less when its disk has less free space (the disk is shared, or smaller than the
 *   capacity flag says). A DataNode that sends none is taken to have capacity less use.
 */
import type { datanodeCommand, ResponseOf, schema } from "#protocol";

/** Work for a DataNode, as a heartbeat reply carries it. */
export type DatanodeCommand = schema.Infer<typeof datanodeCommand>;
/** A DataNode's state, as DATANODE_REPORT names it. */
export type DatanodeState = "live" | "dead" | "decommissioning" | "decommissioned";
/** Where a DataNode stands in its administrator's eyes; `normal` takes writes. */
export type AdminState = "normal" | "decommissioning" | "decommissioned";
/** A chunk replica to delete. */
export interface ChunkVersion {
  readonly id: bigint;
  readonly generation: bigint;
}
/** One DataNode as DATANODE_REPORT lists it. */
export type DatanodeReportEntry = ResponseOf<"DATANODE_REPORT">["datanodes"][number];

/** What a DataNode says when it registers. */
export interface DatanodeRegistration {
  datanodeId: string;
  address: string;
  rack?: string;
  capacityBytes: number;
  usedBytes: number;
  /** Room left for chunks; default capacity less use. */
  remainingBytes?: number;
}
/** What a DataNode says in a heartbeat. */
export interface HeartbeatStats {
  capacityBytes: number;
  usedBytes: number;
  /** Room left for chunks; default capacity less use. */
  remainingBytes?: number;
  activeTransfers: number;
}
/** `new`: never seen; `returned`: was dead; `reregistered`: was live (it restarted quickly). */
export type RegisterOutcome = "new" | "returned" | "reregistered";

/** A snapshot of one DataNode; what placement chooses from. */
export interface DatanodeView {
  readonly id: string;
  readonly address: string;
  readonly rack: string | undefined;
  readonly state: DatanodeState;
  readonly capacityBytes: number;
  /** As last reported. */
  readonly usedBytes: number;
  /** Reported plus scheduled since the last heartbeat. */
  readonly effectiveUsedBytes: number;
  /** Room left for chunks, as last reported. */
  readonly remainingBytes: number;
  /** Reported less what was scheduled since the last heartbeat, at least 0. */
  readonly effectiveRemainingBytes: number;
  /** Reported plus scheduled since the last heartbeat. */
  readonly activeTransfers: number;
  readonly lastHeartbeatMs: number;
}

/** Options for {@linkcode DatanodeRegistry}. */
export interface DatanodeRegistryOptions {
  /** A DataNode silent for longer than this is dead. */
  deadAfterMs: number;
  /** Most chunks in the one `delete` command of a heartbeat reply (default 1000). */
  deletesPerHeartbeatMax?: number;
  /** Most other commands in a heartbeat reply (default 100). */
  commandsPerHeartbeatMax?: number;
  /** Most other commands waiting per DataNode; more are refused (default 1000). */
  commandsQueuedMax?: number;
}

interface Datanode {
  id: string;
  address: string;
  rack: string | undefined;
  alive: boolean;
  admin: AdminState;
  capacityBytes: number;
  usedBytes: number;
  remainingBytes: number;
  activeTransfers: number;
  scheduledBytes: number;
  scheduledTransfers: number;
  lastHeartbeatMs: number;
  deletes: Map<bigint, bigint>;
  commands: DatanodeCommand[];
}

/** Heartbeat replies carry at most 1024 commands and a command at most 10,000 chunks. */
const wireCommandsMax = 1024;
const wireChunksPerCommandMax = 10_000;

/** Every DataNode the NameNode has heard from, live or dead. */
export class DatanodeRegistry {
  readonly #deadAfterMs: number;
  readonly #deletesPerHeartbeatMax: number;
  readonly #commandsPerHeartbeatMax: number;
  readonly #commandsQueuedMax: number;
  readonly #byId = new Map<string, Datanode>();
  #liveCount = 0;

  constructor(options: DatanodeRegistryOptions) {
    this.#deadAfterMs = positive(options.deadAfterMs, "deadAfterMs", Infinity);
    this.#deletesPerHeartbeatMax = positive(
      options.deletesPerHeartbeatMax ?? 1000,
      "deletesPerHeartbeatMax",
      wireChunksPerCommandMax,
    );
    this.#commandsPerHeartbeatMax = positive(
      options.commandsPerHeartbeatMax ?? 100,
      "commandsPerHeartbeatMax",
      wireCommandsMax - 1,
    );
    this.#commandsQueuedMax = positive(options.commandsQueuedMax ?? 1000, "commandsQueuedMax");
  }

  /** DataNodes alive now (decommissioning ones included). */
  get liveCount(): number {
    return this.#liveCount;
  }

  /** Adds a DataNode, or takes a known one back as live with its new address and figures. */
  register(info: DatanodeRegistration, nowMs: number): RegisterOutcome {
    const known = this.#byId.get(info.datanodeId);
    const node: Datanode = known ?? {
      id: info.datanodeId,
      address: info.address,
      rack: undefined,
      alive: false,
      admin: "normal",
      capacityBytes: 0,
      usedBytes: 0,
      remainingBytes: 0,
      activeTransfers: 0,
      scheduledBytes: 0,
      scheduledTransfers: 0,
      lastHeartbeatMs: nowMs,
      deletes: new Map(),
      commands: [],
    };
    const outcome: RegisterOutcome = !known ? "new" : known.alive ? "reregistered" : "returned";
    if (!known) this.#byId.set(node.id, node);
    if (!node.alive) this.#liveCount++;
    node.alive = true;
    node.address = info.address;
    node.rack = info.rack;
    node.capacityBytes = info.capacityBytes;
    node.usedBytes = info.usedBytes;
    node.remainingBytes = remainingOf(info);
    node.activeTransfers = 0;
    node.scheduledBytes = 0;
    node.scheduledTransfers = 0;
    node.lastHeartbeatMs = nowMs;
    return outcome;
  }

  /**
   * Records a heartbeat and hands out the commands waiting for the DataNode, removing them.
   * `undefined` when the DataNode is unknown or dead: the server then tells it to register
   * again, so that its full chunk report puts its replicas back in the chunk map.
   */
  heartbeat(
    datanodeId: string,
    stats: HeartbeatStats,
    nowMs: number,
  ): DatanodeCommand[] | undefined {
    const node = this.#byId.get(datanodeId);
    if (!node?.alive) return undefined;
    node.capacityBytes = stats.capacityBytes;
    node.usedBytes = stats.usedBytes;
    node.remainingBytes = remainingOf(stats);
    node.activeTransfers = stats.activeTransfers;
    node.scheduledBytes = 0;
    node.scheduledTransfers = 0;
    node.lastHeartbeatMs = Math.max(node.lastHeartbeatMs, nowMs);
    const commands = node.commands.splice(0, this.#commandsPerHeartbeatMax);
    if (node.deletes.size > 0) {
      const chunks: ChunkVersion[] = [];
      for (const [id, generation] of node.deletes) {
        if (chunks.length === this.#deletesPerHeartbeatMax) break;
        chunks.push({ id, generation });
      }
      for (const chunk of chunks) node.deletes.delete(chunk.id);
      commands.push({ action: "delete", chunks });
    }
    return commands;
  }

  /** Marks DataNodes silent for longer than `deadAfterMs` dead; returns the newly dead ids. */
  checkLiveness(nowMs: number): string[] {
    const dead: string[] = [];
    for (const node of this.#byId.values()) {
      if (!node.alive || nowMs - node.lastHeartbeatMs <= this.#deadAfterMs) continue;
      node.alive = false;
      node.deletes.clear();
      node.commands.length = 0;
      node.activeTransfers = 0;
      node.scheduledBytes = 0;
      node.scheduledTransfers = 0;
      this.#liveCount--;
      dead.push(node.id);
    }
    return dead;
  }

  /** Queues a replica delete for the next heartbeat; false (dropped) for an unknown or dead DataNode. */
  queueDelete(datanodeId: string, chunk: ChunkVersion): boolean {
    const node = this.#byId.get(datanodeId);
    if (!node?.alive) return false;
    node.deletes.set(chunk.id, chunk.generation);
    return true;
  }

  /**
   * Queues a command for the next heartbeat (a `delete` joins the delete set). False when the
   * DataNode is unknown or dead, or its queue is full: the caller retries later.
   */
  queueCommand(datanodeId: string, command: DatanodeCommand): boolean {
    const node = this.#byId.get(datanodeId);
    if (!node?.alive) return false;
    if (command.action === "delete") {
      for (const chunk of command.chunks) node.deletes.set(chunk.id, chunk.generation);
      return true;
    }
    if (node.commands.length >= this.#commandsQueuedMax) return false;
    node.commands.push(command);
    return true;
  }

  /** Raises a DataNode's effective use and transfers until its next heartbeat reports them. */
  noteChunkScheduled(datanodeId: string, bytes: number): void {
    const node = this.#byId.get(datanodeId);
    if (!node?.alive) return;
    node.scheduledBytes += bytes;
    node.scheduledTransfers++;
  }

  /** Sets a DataNode's administrative state (decommissioning and its end); false if unknown. */
  setAdminState(datanodeId: string, admin: AdminState): boolean {
    const node = this.#byId.get(datanodeId);
    if (!node) return false;
    node.admin = admin;
    return true;
  }

  /** True when the DataNode is live and in normal service, so it may take new replicas. */
  isWritable(datanodeId: string): boolean {
    const node = this.#byId.get(datanodeId);
    return node?.alive === true && node.admin === "normal";
  }

  /** A DataNode's administrative state, dead or alive; `undefined` when unknown. */
  adminState(datanodeId: string): AdminState | undefined {
    return this.#byId.get(datanodeId)?.admin;
  }

  /** True when the DataNode is alive (decommissioning or not). */
  isLive(datanodeId: string): boolean {
    return this.#byId.get(datanodeId)?.alive === true;
  }

  /** A snapshot of one DataNode, or `undefined`. */
  get(datanodeId: string): DatanodeView | undefined {
    const node = this.#byId.get(datanodeId);
    return node && view(node);
  }

  /** Snapshots of every DataNode, dead ones included, for placement. */
  views(): DatanodeView[] {
    return [...this.#byId.values()].map(view);
  }

  /** Every DataNode as DATANODE_REPORT lists it, with its chunk count from `chunksOf`. */
  list(nowMs: number, chunksOf: (datanodeId: string) => number): DatanodeReportEntry[] {
    return [...this.#byId.values()].map((node) => ({
      id: node.id,
      address: node.address,
      ...(node.rack === undefined ? {} : { rack: node.rack }),
      state: stateOf(node),
      capacityBytes: node.capacityBytes,
      usedBytes: node.usedBytes,
      remainingBytes: node.remainingBytes,
      chunks: chunksOf(node.id),
      lastHeartbeatMsAgo: Math.max(0, nowMs - node.lastHeartbeatMs),
      pendingDeletes: node.deletes.size,
    }));
  }

  /** Commands and deletes waiting for a DataNode (0 for an unknown one). */
  pendingCount(datanodeId: string): { commands: number; deletes: number } {
    const node = this.#byId.get(datanodeId);
    return { commands: node?.commands.length ?? 0, deletes: node?.deletes.size ?? 0 };
  }
}

function stateOf(node: Datanode): DatanodeState {
  if (!node.alive) return "dead";
  return node.admin === "normal" ? "live" : node.admin;
}

function view(node: Datanode): DatanodeView {
  return {
    id: node.id,
    address: node.address,
    rack: node.rack,
    state: stateOf(node),
    capacityBytes: node.capacityBytes,
    usedBytes: node.usedBytes,
    effectiveUsedBytes: node.usedBytes + node.scheduledBytes,
    remainingBytes: node.remainingBytes,
    effectiveRemainingBytes: Math.max(0, node.remainingBytes - node.scheduledBytes),
    activeTransfers: node.activeTransfers + node.scheduledTransfers,
    lastHeartbeatMs: node.lastHeartbeatMs,
  };
}

/** What a DataNode says it can still take; without a figure, capacity less use. */
function remainingOf(figures: {
  capacityBytes: number;
  usedBytes: number;
  remainingBytes?: number;
}): number {
  const left = Math.max(0, figures.capacityBytes - figures.usedBytes);
  return figures.remainingBytes === undefined ? left : Math.min(left, figures.remainingBytes);
}

function positive(value: number, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!(value > 0 && value <= max) || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new RangeError(
      `Cannot create the DataNode registry: ${name} ${value} is not in 1..${max}`,
    );
  }
  return value;
}
