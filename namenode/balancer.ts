/**
 * The balancer (HDFS's Balancer, inside the NameNode): moves replicas from over-used to
 * under-used DataNodes until every DataNode in service is within `thresholdPercent`
 * percentage points of the mean use.
 *
 * - Use is the bytes of the replicas the NameNode knows a DataNode holds over its capacity;
 *   the mean is their total over total capacity (as HDFS's average utilisation). Moves under
 *   way count as done when deciding the next ones, so planning does not overshoot.
 * - Sources are the DataNodes above mean + threshold, targets the ones below mean - threshold.
 *   When only one side exists, the other is every DataNode below (or above) the mean, as HDFS
 *   pairs them. A move never takes a source below mean - threshold nor a target above mean +
 *   threshold, nor fills a target past 95%.
 * - A movable replica: a committed, non-empty chunk with nothing else under way, at least its
 *   target of counted replicas, no corrupt one, not already on the target, and whose racks stay
 *   as spread as they were.
 * - Each move is a copy and then a delete, run by the replication monitor (which bounds
 *   transfers per DataNode); at most `movesInFlightMax` moves run at once. No move lowers a
 *   chunk's replica count.
 * - A job ends balanced when nothing is over or under the threshold and no move is under way;
 *   unbalanced when `idleTicksMax` ticks in a row find nothing to move and nothing under way,
 *   or after `failedMovesMax` failures. One job runs at a time; a second request joins it.
 */
import type { Logger, ResponseOf } from "#protocol";
import type { ChunkMap } from "./chunk_map.js";
import type { DatanodeRegistry } from "./datanode_registry.js";
import { defaultRack } from "./placement.js";
import type { ReplicationMonitor } from "./replication_monitor.js";

/** What BALANCE answers. */
export type BalanceReport = ResponseOf<"BALANCE">;

/** What the balancer works with; a NameNode has it all. */
export interface BalancerParts {
  readonly chunkMap: ChunkMap;
  readonly registry: DatanodeRegistry;
  readonly replicationMonitor: ReplicationMonitor;
  readonly logger: Logger;
  now(): number;
}

/** Options for {@linkcode Balancer}. */
export interface BalancerOptions {
  /** Moves under way at once (default 16). */
  movesInFlightMax?: number;
  /** Ticks in a row with nothing to do before a job gives up (default 10). */
  idleTicksMax?: number;
  /** Failed moves before a job gives up (default 100). */
  failedMovesMax?: number;
  /** Replicas looked at per source when choosing a move (default 2,000). */
  candidatesPerSourceMax?: number;
}

interface Job {
  readonly thresholdPercent: number;
  readonly moved: BalanceReport["moved"];
  movedCount: number;
  bytesMoved: number;
  failedMoves: number;
  readonly inFlight: Map<bigint, { source: string; target: string; sizeBytes: number }>;
  idleTicks: number;
  done: boolean;
  balanced: boolean;
  readonly finished: Promise<void>;
  finish: () => void;
}

interface Node {
  id: string;
  rack: string;
  capacityBytes: number;
  /** Stored bytes with the moves under way counted as done. */
  projectedBytes: number;
}

const movedListedMax = 1000;
/** Bounds the replicas looked at per tick to this many times `candidatesPerSourceMax`. */
const pairsPerTickMax = 64;
const reserveRatio = 0.05;

/** Runs balancing jobs on the NameNode's tick. */
export class Balancer {
  readonly #parts: BalancerParts;
  readonly #movesInFlightMax: number;
  readonly #idleTicksMax: number;
  readonly #failedMovesMax: number;
  readonly #candidatesMax: number;
  #job: Job | undefined;

  constructor(parts: BalancerParts, options: BalancerOptions = {}) {
    this.#parts = parts;
    this.#movesInFlightMax = options.movesInFlightMax ?? 16;
    this.#idleTicksMax = options.idleTicksMax ?? 10;
    this.#failedMovesMax = options.failedMovesMax ?? 100;
    this.#candidatesMax = options.candidatesPerSourceMax ?? 2_000;
  }

  /** True while a job runs. */
  get running(): boolean {
    return this.#job !== undefined && !this.#job.done;
  }

  /**
   * Starts a job (or joins the one running) and resolves with its figures when it ends or
   * after `waitMs`, whichever comes first; the job goes on after that.
   */
  async balance(thresholdPercent: number, waitMs: number): Promise<BalanceReport> {
    let job = this.#job;
    if (job === undefined || job.done) {
      job = this.#job = newJob(thresholdPercent);
      this.#parts.logger.info({ thresholdPercent }, "balancer started");
      this.tick();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      job.finished,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
    return this.#report(job);
  }

  /** Ends the job at once (the NameNode is stopping); moves under way finish by themselves. */
  stop(): void {
    if (this.#job && !this.#job.done) this.#end(this.#job, false);
  }

  /** Plans the next moves of the running job, or ends it. */
  tick(): void {
    const job = this.#job;
    if (job === undefined || job.done) return;
    const nodes = this.#nodes(job);
    const mean = meanUse(nodes);
    const slack = job.thresholdPercent / 100;
    const over = nodes.filter((node) => use(node) > mean + slack);
    const under = nodes.filter((node) => use(node) < mean - slack);
    if (over.length === 0 && under.length === 0) {
      if (job.inFlight.size === 0) this.#end(job, true);
      return;
    }
    const sources = (over.length > 0 ? over : nodes.filter((node) => use(node) > mean)).sort(
      (a, b) => use(b) - use(a),
    );
    const targets = (under.length > 0 ? under : nodes.filter((node) => use(node) < mean)).sort(
      (a, b) => use(a) - use(b),
    );
    let started = 0;
    let pairs = 0;
    for (const source of sources) {
      for (const target of targets) {
        if (pairs++ >= pairsPerTickMax) break;
        while (job.inFlight.size < this.#movesInFlightMax) {
          if (!this.#moveOne(job, source, target, mean, slack)) break;
          started++;
        }
      }
    }
    if (started > 0 || job.inFlight.size > 0) job.idleTicks = 0;
    else if (++job.idleTicks >= this.#idleTicksMax) this.#end(job, false);
  }

  /** Starts one move from `source` to `target`; false when none fits. */
  #moveOne(job: Job, source: Node, target: Node, mean: number, slack: number): boolean {
    const { chunkMap, registry, replicationMonitor, logger } = this.#parts;
    if (!replicationMonitor.canTransfer(source.id, target.id)) return false;
    if (use(source) <= mean || use(target) >= mean) return false;
    let looked = 0;
    for (const chunkId of chunkMap.chunksOn(source.id)) {
      if (looked++ >= this.#candidatesMax) return false;
      if (job.inFlight.has(chunkId) || replicationMonitor.busy(chunkId)) continue;
      const chunk = chunkMap.get(chunkId);
      if (!chunk?.committed || chunk.size === 0 || chunkMap.holds(target.id, chunkId)) continue;
      const sizeBytes = chunk.size;
      if ((target.projectedBytes + sizeBytes) / target.capacityBytes > mean + slack) continue;
      if ((source.projectedBytes - sizeBytes) / source.capacityBytes < mean - slack) continue;
      if (
        target.capacityBytes - target.projectedBytes - sizeBytes <
        reserveRatio * target.capacityBytes
      ) {
        continue;
      }
      // The target's disk may hold less than its capacity says (it is shared, or full).
      if ((registry.get(target.id)?.effectiveRemainingBytes ?? 0) < sizeBytes) continue;
      const good = chunkMap.liveReplicas(chunkId);
      if (!good.includes(source.id) || chunkMap.corruptReplicas(chunkId).length > 0) continue;
      const counted = good.filter((id) => registry.isWritable(id));
      if (counted.length < chunk.expectedReplication) continue;
      if (!keepsRackSpread(good, source, target, (id) => registry.get(id)?.rack)) continue;
      const move = { chunkId, source: source.id, target: target.id };
      const started = replicationMonitor.startMove(move, this.#parts.now(), (moved) =>
        this.#moveDone(job, chunkId, moved),
      );
      if (!started) continue;
      job.inFlight.set(chunkId, { source: source.id, target: target.id, sizeBytes });
      source.projectedBytes -= sizeBytes;
      target.projectedBytes += sizeBytes;
      logger.debug({ chunkId, source: source.id, datanode: target.id }, "balancer move started");
      return true;
    }
    return false;
  }

  #moveDone(job: Job, chunkId: bigint, moved: boolean): void {
    const move = job.inFlight.get(chunkId);
    if (move === undefined) return;
    job.inFlight.delete(chunkId);
    if (!moved) {
      job.failedMoves++;
      if (job.failedMoves >= this.#failedMovesMax && !job.done) this.#end(job, false);
      return;
    }
    job.movedCount++;
    job.bytesMoved += move.sizeBytes;
    job.moved.push({ chunkId, ...move });
    if (job.moved.length > movedListedMax) job.moved.shift();
  }

  /** Live DataNodes in service with a capacity, with moves under way counted as done. */
  #nodes(job: Job): Node[] {
    const { registry, chunkMap } = this.#parts;
    const nodes = new Map<string, Node>();
    for (const view of registry.views()) {
      if (view.state !== "live" || view.capacityBytes <= 0) continue;
      nodes.set(view.id, {
        id: view.id,
        rack: view.rack ?? defaultRack,
        capacityBytes: view.capacityBytes,
        projectedBytes: chunkMap.storedBytesOf(view.id),
      });
    }
    for (const [chunkId, move] of job.inFlight) {
      const source = nodes.get(move.source);
      const target = nodes.get(move.target);
      if (source && chunkMap.holds(move.source, chunkId)) source.projectedBytes -= move.sizeBytes;
      if (target && !chunkMap.holds(move.target, chunkId)) target.projectedBytes += move.sizeBytes;
    }
    return [...nodes.values()];
  }

  #end(job: Job, balanced: boolean): void {
    job.done = true;
    job.balanced = balanced;
    job.finish();
    this.#parts.logger.info(
      {
        balanced,
        moved: job.movedCount,
        bytesMoved: job.bytesMoved,
        failedMoves: job.failedMoves,
      },
      "balancer finished",
    );
  }

  #report(job: Job): BalanceReport {
    const { registry, chunkMap } = this.#parts;
    const datanodes: BalanceReport["datanodes"] = [];
    for (const view of registry.views()) {
      if (view.state !== "live") continue;
      datanodes.push({
        id: view.id,
        usedBytes: chunkMap.storedBytesOf(view.id),
        capacityBytes: view.capacityBytes,
      });
    }
    return {
      balanced: job.done && job.balanced,
      running: !job.done,
      thresholdPercent: job.thresholdPercent,
      movedCount: job.movedCount,
      bytesMoved: job.bytesMoved,
      failedMoves: job.failedMoves,
      movesInFlight: job.inFlight.size,
      moved: [...job.moved],
      datanodes,
    };
  }
}

function newJob(thresholdPercent: number): Job {
  let finish = (): void => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    thresholdPercent,
    moved: [],
    movedCount: 0,
    bytesMoved: 0,
    failedMoves: 0,
    inFlight: new Map(),
    idleTicks: 0,
    done: false,
    balanced: false,
    finished,
    finish,
  };
}

function use(node: Node): number {
  return node.projectedBytes / node.capacityBytes;
}

function meanUse(nodes: readonly Node[]): number {
  let bytes = 0;
  let capacity = 0;
  for (const node of nodes) {
    bytes += node.projectedBytes;
    capacity += node.capacityBytes;
  }
  return capacity > 0 ? bytes / capacity : 0;
}

/** True when moving the replica from `source` to `target` leaves as many racks as before. */
function keepsRackSpread(
  holders: readonly string[],
  source: Node,
  target: Node,
  rackOf: (id: string) => string | undefined,
): boolean {
  if (source.rack === target.rack) return true;
  const racks = (ids: Iterable<string>) =>
    new Set([...ids].map((id) => (id === target.id ? target.rack : (rackOf(id) ?? defaultRack))))
      .size;
  const after = holders.filter((id) => id !== source.id).concat(target.id);
  return racks(after) >= racks(holders);
}
