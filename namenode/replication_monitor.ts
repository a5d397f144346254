/**
 * The replication monitor (HDFS's RedundancyMonitor): keeps every committed chunk at its
 * expected number of good replicas, on the NameNode's own tick, never in safe mode.
 *
 * Which chunks it looks at. The chunk map holds about a million chunks, so nothing here scans
 * them all in one tick. Events put chunk ids in an *attention* set: a DataNode's death (the
 * chunks it held), a corrupt replica, a replica added or removed, a replication change, a
 * returning DataNode's full report, a decommission, and a commit (after `commitGraceMs`, so the
 * pipeline's own reports arrive first). Until its grace is over no event has a new chunk
 * examined: the first replica's report would send copies to pipeline DataNodes whose own
 * reports are still on their way, and a copy they refuse holds the chunk's repair until it
 * times out. A slow background pass over every chunk (`rescanPerTick`) catches anything an
 * event missed; the first pass after safe mode runs at `examinePerTick`. Each tick examines at
 * most `examinePerTick` chunks from the set.
 *
 * What counts. A replica counts toward a chunk's target when it is good, on a live DataNode in
 * normal service, and not being deleted. Replicas on decommissioning or decommissioned
 * DataNodes do not count but may be copied from. A copy under way counts, so a chunk is never
 * scheduled twice.
 *
 * What it does with a chunk it examines:
 * - fewer counted (plus copies under way) than expected: the chunk waits in a priority
 *   bucket — bucket 0 when at most one replica counts, bucket 1 otherwise — and each tick
 *   schedules up to `replicationsPerTick` attempts, bucket 0 first. An attempt copies from the
 *   least busy good replica to DataNodes the placement policy chooses, excluding every holder
 *   (corrupt ones too), targets already under way and targets that timed out for this chunk.
 *   A DataNode sends and receives at most `transfersPerDatanodeMax` copies at once. A chunk
 *   that cannot be scheduled goes to the back of its bucket. A chunk with no live good replica
 *   is missing: nothing can be done until a holder returns and its full report brings it back.
 * - enough, and no copy under way: corrupt replicas are deleted (only now, so the bad bytes are
 *   kept until good copies exist), then excess replicas, from the fullest DataNodes and from
 *   racks holding more than one replica first, never below the target. A corrupt replica is
 *   deleted earlier only when it is in the way: no DataNode is left that could take a new copy.
 * - a copy not reported by its target within `pendingTimeoutMs` is dropped and scheduled again
 *   elsewhere; so is a delete not reported done (it is asked again if still needed).
 *
 * Balancer moves run through here too (`startMove`): a copy to the chosen target, then, once the
 * target reports it, a delete of the source's replica, only if the chunk keeps its target
 * without it. So no move ever lowers a chunk's replica count.
 */
import { type Logger, mintChunkToken } from "#protocol";
import { type PendingReplication, PendingWork } from "./_pending_work.js";
import type { ChunkEntry, ChunkMap } from "./chunk_map.js";
import type { DatanodeRegistry, DatanodeView } from "./datanode_registry.js";
import { choosePipeline, defaultRack } from "./placement.js";

export type { PendingReplication } from "./_pending_work.js";

/** Options for {@linkcode ReplicationMonitor}; every bound has a default. */
export interface ReplicationMonitorOptions {
  /** A copy or delete not reported done within this is retried (default 30 s). */
  pendingTimeoutMs?: number;
  /** Copies a DataNode sends, and copies it receives, at once (default 4). */
  transfersPerDatanodeMax?: number;
  /** Chunks examined per tick (default 20,000). */
  examinePerTick?: number;
  /** Chunks the background pass looks at per tick (default 1,000). */
  rescanPerTick?: number;
  /** Replication attempts per tick (default 1,000). */
  replicationsPerTick?: number;
  /** How long after a commit a chunk is examined (default 2 s). */
  commitGraceMs?: number;
}

/** What the monitor works with; a NameNode has it all. */
export interface ReplicationMonitorParts {
  readonly chunkMap: ChunkMap;
  readonly registry: DatanodeRegistry;
  readonly logger: Logger;
  readonly secret: Uint8Array;
  readonly tokenLifetimeMs: number;
  /** Has a DataNode delete a replica (on its next heartbeat). */
  deleteReplica(datanodeId: string, chunk: { id: bigint; generation: bigint }): void;
}

/** A balancer move: a copy from `source` to `target`, then the source's replica deleted. */
export interface MoveRequest {
  chunkId: bigint;
  source: string;
  target: string;
}

/** Figures for logs, the status page and tests. */
export interface ReplicationStats {
  /** Chunks waiting to be examined. */
  attention: number;
  /** Under-replicated chunks waiting for a copy, by priority (0 first). */
  waiting: [number, number];
  pendingReplications: number;
  pendingDeletes: number;
  scheduled: number;
  completed: number;
  timedOut: number;
}

interface Move {
  readonly chunkId: bigint;
  readonly source: string;
  readonly target: string;
  phase: "copying" | "copied" | "deleting";
  readonly onDone: (moved: boolean) => void;
}

type Candidate = { -readonly [K in keyof DatanodeView]: DatanodeView[K] };

const failedTargetsMax = 16;

/** Re-replicates, trims and repairs chunks; see the module doc. */
export class ReplicationMonitor {
  readonly #parts: ReplicationMonitorParts;
  readonly #pendingTimeoutMs: number;
  readonly #transfersMax: number;
  readonly #examinePerTick: number;
  readonly #rescanPerTick: number;
  readonly #replicationsPerTick: number;
  readonly #commitGraceMs: number;
  readonly #pending = new PendingWork();
  readonly #attention = new Set<bigint>();
  readonly #buckets: [Set<bigint>, Set<bigint>] = [new Set(), new Set()];
  /** Chunks to look at later, in time order (one delay for all); `#laterHead` is the next. */
  #later: { id: bigint; atMs: number }[] = [];
  #laterHead = 0;
  /** Chunks committed less than `commitGraceMs` ago: not examined yet. */
  readonly #inGrace = new Set<bigint>();
  readonly #failedTargets = new Map<bigint, Set<string>>();
  readonly #moves = new Map<bigint, Move>();
  #rescan: IterableIterator<bigint> | undefined;
  #rescanFast = false;
  #scheduled = 0;
  #completed = 0;
  #timedOut = 0;

  constructor(parts: ReplicationMonitorParts, options: ReplicationMonitorOptions = {}) {
    this.#parts = parts;
    this.#pendingTimeoutMs = positive(options.pendingTimeoutMs ?? 30_000, "pendingTimeoutMs");
    this.#transfersMax = positive(options.transfersPerDatanodeMax ?? 4, "transfersPerDatanodeMax");
    this.#examinePerTick = positive(options.examinePerTick ?? 20_000, "examinePerTick");
    this.#rescanPerTick = positive(options.rescanPerTick ?? 1_000, "rescanPerTick");
    this.#replicationsPerTick = positive(
      options.replicationsPerTick ?? 1_000,
      "replicationsPerTick",
    );
    this.#commitGraceMs = options.commitGraceMs ?? 2_000;
  }

  /** Figures for logs and tests. */
  stats(): ReplicationStats {
    return {
      attention: this.#attention.size,
      waiting: [this.#buckets[0].size, this.#buckets[1].size],
      pendingReplications: this.#pending.replicationCount,
      pendingDeletes: this.#pending.deleteCount,
      scheduled: this.#scheduled,
      completed: this.#completed,
      timedOut: this.#timedOut,
    };
  }

  /** Copies under way, in the order they were scheduled. */
  pendingReplications(): PendingReplication[] {
    return this.#pending.replications();
  }

  /** The DataNodes told to delete their replica of a chunk and not done yet. */
  deletingOn(chunkId: bigint): ReadonlySet<string> {
    return this.#pending.deletingOn(chunkId);
  }

  /** True when a copy, delete or move of the chunk is under way. */
  busy(chunkId: bigint): boolean {
    return this.#pending.busy(chunkId) || this.#moves.has(chunkId);
  }

  /** True when `source` may send and `target` receive one more copy. */
  canTransfer(source: string, target: string): boolean {
    return (
      this.#pending.asSource(source) < this.#transfersMax &&
      this.#pending.asTarget(target) < this.#transfersMax
    );
  }

  /** Looks at a chunk on the next tick. */
  check(chunkId: bigint): void {
    this.#attention.add(chunkId);
  }

  /** Looks at each of these chunks, over the next ticks. */
  checkAll(chunkIds: Iterable<bigint>): void {
    for (const id of chunkIds) this.#attention.add(id);
  }

  /** Looks at a chunk once its pipeline had time to report (after a commit). */
  checkLater(chunkId: bigint, nowMs: number): void {
    this.#later.push({ id: chunkId, atMs: nowMs + this.#commitGraceMs });
    this.#inGrace.add(chunkId);
  }

  /** Starts a fast pass over every chunk (after safe mode, when nothing was acted on). */
  startRescan(): void {
    this.#rescan = this.#parts.chunkMap.ids();
    this.#rescanFast = true;
  }

  /** A DataNode reported a replica (CHUNK_REPORT `added`): a copy may be done. */
  replicaAdded(datanodeId: string, chunkId: bigint): void {
    if (this.#pending.replicationsOf(chunkId).some((entry) => entry.target === datanodeId)) {
      this.#reconcile(chunkId);
    }
    if (this.#parts.chunkMap.get(chunkId)?.committed) this.#attention.add(chunkId);
  }

  /** A DataNode reported a replica gone (CHUNK_REPORT `removed`): a delete may be done. */
  replicaRemoved(datanodeId: string, chunkId: bigint): void {
    if (this.#pending.removeDelete(chunkId, datanodeId)) {
      const move = this.#moves.get(chunkId);
      if (move?.phase === "deleting" && move.source === datanodeId) this.#endMove(move, true);
    }
    if (this.#parts.chunkMap.get(chunkId) !== undefined) this.#attention.add(chunkId);
  }

  /** A DataNode died: its work is void, and (unless in safe mode) `lost` chunks need a look. */
  datanodeDead(datanodeId: string, lost: Iterable<bigint>): void {
    const dropped = this.#pending.dropDatanode(datanodeId);
    for (const entry of dropped.replications) {
      const move = this.#moves.get(entry.chunkId);
      if (move?.phase === "copying" && move.target === entry.target) this.#endMove(move, false);
      this.#attention.add(entry.chunkId);
    }
    for (const entry of dropped.deletes) {
      const move = this.#moves.get(entry.chunkId);
      // The source is gone with its replica: the move is as good as done.
      if (move?.phase === "deleting" && move.source === datanodeId) this.#endMove(move, true);
      this.#attention.add(entry.chunkId);
    }
    this.checkAll(lost);
  }

  /** A chunk left the namespace: its work is void. */
  chunkRemoved(chunkId: bigint): void {
    this.#pending.dropChunk(chunkId);
    const move = this.#moves.get(chunkId);
    if (move) this.#endMove(move, false);
    this.#failedTargets.delete(chunkId);
    this.#buckets[0].delete(chunkId);
    this.#buckets[1].delete(chunkId);
  }

  /**
   * Starts a balancer move; false when it cannot start now (the chunk is busy, a bound is
   * reached, the target is not in service, or the source's queue is full). `onDone` is called
   * once, with true when the target holds a copy and the source's is deleted.
   */
  startMove(request: MoveRequest, nowMs: number, onDone: (moved: boolean) => void): boolean {
    const { chunkMap, registry } = this.#parts;
    const { chunkId, source, target } = request;
    const chunk = chunkMap.get(chunkId);
    const view = registry.get(target);
    if (!chunk?.committed || view === undefined || !registry.isWritable(target)) return false;
    if (this.busy(chunkId) || !this.canTransfer(source, target)) return false;
    if (!chunkMap.liveReplicas(chunkId).includes(source) || chunkMap.holds(target, chunkId)) {
      return false;
    }
    if (!this.#sendCopy(chunk, source, [view], nowMs)) return false;
    this.#moves.set(chunkId, { chunkId, source, target, phase: "copying", onDone });
    return true;
  }

  /** One round of work: expiries, due checks, the background pass, examining, scheduling. */
  tick(nowMs: number): void {
    this.#expire(nowMs);
    while (this.#laterHead < this.#later.length && this.#later[this.#laterHead]!.atMs <= nowMs) {
      const { id } = this.#later[this.#laterHead++]!;
      this.#inGrace.delete(id);
      this.#attention.add(id);
    }
    if (this.#laterHead > 1024 && this.#laterHead * 2 > this.#later.length) {
      this.#later = this.#later.slice(this.#laterHead);
      this.#laterHead = 0;
    }
    this.#rescanStep();
    let examined = 0;
    for (const id of this.#attention) {
      if (examined++ >= this.#examinePerTick) break;
      this.#attention.delete(id);
      this.#examine(id, nowMs);
    }
    this.#schedule(nowMs);
  }

  #expire(nowMs: number): void {
    const expired = this.#pending.expire(nowMs);
    for (const entry of expired.replications) {
      this.#timedOut++;
      this.#parts.logger.warn(
        { chunkId: entry.chunkId, source: entry.source, datanode: entry.target },
        "replication timed out; retrying elsewhere",
      );
      this.#noteFailedTarget(entry.chunkId, entry.target);
      const move = this.#moves.get(entry.chunkId);
      if (move?.phase === "copying" && move.target === entry.target) this.#endMove(move, false);
      this.#attention.add(entry.chunkId);
    }
    for (const entry of expired.deletes) {
      const move = this.#moves.get(entry.chunkId);
      if (move?.phase === "deleting" && move.source === entry.datanodeId) {
        this.#endMove(move, false);
      }
      this.#attention.add(entry.chunkId);
    }
  }

  #rescanStep(): void {
    this.#rescan ??= this.#parts.chunkMap.ids();
    const { chunkMap, registry } = this.#parts;
    const budget = this.#rescanFast ? this.#examinePerTick : this.#rescanPerTick;
    for (let index = 0; index < budget; index++) {
      const next = this.#rescan.next();
      if (next.done) {
        this.#rescan = undefined;
        this.#rescanFast = false;
        return;
      }
      const id = next.value;
      const status = chunkMap.status(id);
      if (status === undefined) continue;
      if (
        status.status !== "healthy" ||
        chunkMap.holders(id).some((datanodeId) => !registry.isWritable(datanodeId))
      ) {
        this.#attention.add(id);
      }
    }
  }

  /** Copies whose target now holds a good replica are done; a corrupt one failed. */
  #reconcile(chunkId: bigint): void {
    const { chunkMap } = this.#parts;
    const pending = this.#pending.replicationsOf(chunkId);
    if (pending.length === 0) return;
    const good = chunkMap.liveReplicas(chunkId);
    for (const entry of [...pending]) {
      const done = good.includes(entry.target);
      if (!done && !chunkMap.holds(entry.target, chunkId)) continue;
      this.#pending.removeReplication(chunkId, entry.target);
      const move = this.#moves.get(chunkId);
      if (done) {
        this.#completed++;
        if (move?.phase === "copying" && move.target === entry.target) move.phase = "copied";
      } else {
        this.#noteFailedTarget(chunkId, entry.target);
        if (move?.phase === "copying" && move.target === entry.target) this.#endMove(move, false);
      }
    }
  }

  #examine(id: bigint, nowMs: number): void {
    const { chunkMap, registry } = this.#parts;
    const chunk = chunkMap.get(id);
    if (chunk === undefined) {
      this.chunkRemoved(id);
      return;
    }
    // A chunk being written is its writer's business; its commit brings it here, once the
    // grace for its pipeline's reports is over.
    if (!chunk.committed || this.#inGrace.has(id)) return;
    this.#reconcile(id);
    const good = chunkMap.liveReplicas(id);
    const move = this.#moves.get(id);
    if (move?.phase === "copied") this.#finishMoveCopy(move, chunk, good, nowMs);
    if (good.length === 0) {
      // Missing: a holder's return (its full report) brings it back.
      this.#buckets[0].delete(id);
      this.#buckets[1].delete(id);
      return;
    }
    const counted = this.#counted(id, good);
    const inFlight = this.#pending.replicationsOf(id).length;
    const expected = chunk.expectedReplication;
    if (counted.length + inFlight < expected) {
      const priority = counted.length <= 1 ? 0 : 1;
      this.#buckets[1 - priority]!.delete(id);
      this.#buckets[priority].add(id);
      return;
    }
    this.#buckets[0].delete(id);
    this.#buckets[1].delete(id);
    // Nothing is deleted while a copy is under way: it may yet fail.
    if (inFlight > 0) return;
    this.#failedTargets.delete(id);
    if (counted.length >= expected) {
      // A delete already sent is not sent again: a late duplicate could remove a good copy
      // placed on the same DataNode afterwards.
      const deleting = this.#pending.deletingOn(id);
      for (const datanodeId of chunkMap.corruptReplicas(id)) {
        if (registry.isLive(datanodeId) && !deleting.has(datanodeId)) {
          this.#deleteCorrupt(datanodeId, chunk, nowMs);
        }
      }
    }
    if (counted.length > expected) this.#deleteExcess(chunk, counted, nowMs);
  }

  /** Good replicas on live DataNodes in normal service, not being deleted. */
  #counted(id: bigint, good: readonly string[]): string[] {
    const deleting = this.#pending.deletingOn(id);
    return good.filter(
      (datanodeId) => this.#parts.registry.isWritable(datanodeId) && !deleting.has(datanodeId),
    );
  }

  /** The target holds the copy: delete the source's, if the chunk keeps its target without it. */
  #finishMoveCopy(move: Move, chunk: ChunkEntry, good: readonly string[], nowMs: number): void {
    if (!good.includes(move.target)) {
      this.#endMove(move, false);
      return;
    }
    if (!this.#parts.chunkMap.holds(move.source, chunk.id)) {
      this.#endMove(move, true);
      return;
    }
    const others = this.#counted(chunk.id, good).filter((id) => id !== move.source);
    if (others.length < chunk.expectedReplication) {
      // Something was lost meanwhile: the copy stays as a repair, the source keeps its replica.
      this.#endMove(move, false);
      return;
    }
    move.phase = "deleting";
    this.#pending.addDelete(chunk.id, move.source, nowMs + this.#pendingTimeoutMs);
    this.#parts.deleteReplica(move.source, chunk);
  }

  #endMove(move: Move, moved: boolean): void {
    if (this.#moves.get(move.chunkId) !== move) return;
    this.#moves.delete(move.chunkId);
    move.onDone(moved);
  }

  #deleteCorrupt(datanodeId: string, chunk: ChunkEntry, nowMs: number): void {
    this.#parts.logger.info(
      { chunkId: chunk.id, datanode: datanodeId },
      "deleting a corrupt replica: enough good copies exist",
    );
    this.#pending.addDelete(chunk.id, datanodeId, nowMs + this.#pendingTimeoutMs);
    this.#parts.deleteReplica(datanodeId, chunk);
  }

  /** Deletes replicas beyond the target: fullest first, from racks holding two or more first. */
  #deleteExcess(chunk: ChunkEntry, counted: readonly string[], nowMs: number): void {
    const { chunkMap, registry, logger } = this.#parts;
    const left = counted.map((id) => {
      const view = registry.get(id);
      const capacityBytes = view?.capacityBytes ?? 0;
      return {
        id,
        rack: view?.rack ?? defaultRack,
        use: capacityBytes > 0 ? chunkMap.storedBytesOf(id) / capacityBytes : 1,
      };
    });
    while (left.length > chunk.expectedReplication) {
      const perRack = new Map<string, number>();
      for (const { rack } of left) perRack.set(rack, (perRack.get(rack) ?? 0) + 1);
      const shared = left.filter(({ rack }) => perRack.get(rack)! > 1);
      const pool = shared.length > 0 ? shared : left;
      const victim = pool.reduce((a, b) => (b.use > a.use ? b : a));
      left.splice(left.indexOf(victim), 1);
      this.#pending.addDelete(chunk.id, victim.id, nowMs + this.#pendingTimeoutMs);
      this.#parts.deleteReplica(victim.id, chunk);
      logger.info(
        { chunkId: chunk.id, datanode: victim.id, expected: chunk.expectedReplication },
        "deleting an excess replica",
      );
    }
  }

  #schedule(nowMs: number): void {
    if (this.#buckets[0].size + this.#buckets[1].size === 0) return;
    const candidates = new Map<string, Candidate>();
    for (const view of this.#parts.registry.views()) {
      if (view.state === "live") candidates.set(view.id, { ...view });
    }
    let attempts = this.#replicationsPerTick;
    for (const bucket of this.#buckets) {
      const ids: bigint[] = [];
      for (const id of bucket) {
        if (ids.length >= attempts) break;
        ids.push(id);
      }
      for (const id of ids) {
        attempts--;
        bucket.delete(id);
        // Round robin: a chunk that cannot go now waits behind the others.
        if (this.#replicate(id, candidates, nowMs) === "blocked") bucket.add(id);
      }
    }
  }

  #replicate(
    id: bigint,
    candidates: Map<string, Candidate>,
    nowMs: number,
  ): "scheduled" | "blocked" | "done" {
    const { chunkMap } = this.#parts;
    const chunk = chunkMap.get(id);
    if (!chunk?.committed) return "done";
    const good = chunkMap.liveReplicas(id);
    if (good.length === 0) return "done";
    const counted = this.#counted(id, good);
    const pending = this.#pending.replicationsOf(id);
    const needed = chunk.expectedReplication - counted.length - pending.length;
    if (needed <= 0) {
      this.#attention.add(id);
      return "done";
    }
    const deleting = this.#pending.deletingOn(id);
    const load = (datanodeId: string): number =>
      this.#pending.asSource(datanodeId) + (candidates.get(datanodeId)?.activeTransfers ?? 0);
    const sources = good
      .filter((datanodeId) => this.#pending.asSource(datanodeId) < this.#transfersMax)
      .filter((datanodeId) => !deleting.has(datanodeId))
      .sort((a, b) => load(a) - load(b));
    if (sources.length === 0) return "blocked";
    const taken = new Set([...chunkMap.holders(id), ...pending.map((entry) => entry.target)]);
    const exclude = new Set([...taken, ...(this.#failedTargets.get(id) ?? [])]);
    for (const candidate of candidates.values()) {
      if (this.#pending.asTarget(candidate.id) >= this.#transfersMax) exclude.add(candidate.id);
    }
    const targets = choosePipeline([...candidates.values()], {
      replication: needed,
      chunkSizeBytes: chunk.size,
      exclude,
    });
    if (targets.length === 0) {
      this.#failedTargets.delete(id);
      this.#makeRoom(chunk, counted, candidates, taken, nowMs);
      return "blocked";
    }
    if (!this.#sendCopy(chunk, sources[0]!, targets, nowMs)) return "blocked";
    for (const target of targets) {
      target.activeTransfers++;
      target.effectiveUsedBytes += chunk.size;
      target.effectiveRemainingBytes = Math.max(0, target.effectiveRemainingBytes - chunk.size);
    }
    return targets.length < needed ? "blocked" : "scheduled";
  }

  /**
   * When every DataNode in service already holds the chunk, a corrupt replica is all that
   * stands in the way of a good copy: delete it, as long as a good one counts.
   */
  #makeRoom(
    chunk: ChunkEntry,
    counted: readonly string[],
    candidates: Map<string, Candidate>,
    taken: ReadonlySet<string>,
    nowMs: number,
  ): void {
    if (counted.length === 0) return;
    const corrupt = this.#parts.chunkMap.corruptReplicas(chunk.id);
    if (corrupt.length === 0) return;
    for (const id of candidates.keys()) if (!taken.has(id)) return;
    const deleting = this.#pending.deletingOn(chunk.id);
    for (const datanodeId of corrupt) {
      if (candidates.has(datanodeId) && !deleting.has(datanodeId)) {
        this.#deleteCorrupt(datanodeId, chunk, nowMs);
      }
    }
  }

  /** Queues a replicate command on `source` and records each copy; false if not queued. */
  #sendCopy(
    chunk: ChunkEntry,
    source: string,
    targets: readonly Pick<DatanodeView, "id" | "address">[],
    nowMs: number,
  ): boolean {
    const { registry, secret, tokenLifetimeMs, logger } = this.#parts;
    const token = mintChunkToken(secret, {
      chunkId: chunk.id,
      generation: chunk.generation,
      operation: "replicate",
      expiresAtMs: nowMs + tokenLifetimeMs,
    });
    const queued = registry.queueCommand(source, {
      action: "replicate",
      chunks: [{ id: chunk.id, generation: chunk.generation }],
      targets: targets.map(({ id, address }) => ({ id, address })),
      tokens: [token],
    });
    if (!queued) return false;
    for (const target of targets) {
      this.#pending.addReplication({
        chunkId: chunk.id,
        generation: chunk.generation,
        source,
        target: target.id,
        sizeBytes: chunk.size,
        deadlineMs: nowMs + this.#pendingTimeoutMs,
      });
      registry.noteChunkScheduled(target.id, chunk.size);
      this.#scheduled++;
    }
    logger.info(
      { chunkId: chunk.id, source, targets: targets.map((target) => target.id) },
      "replication scheduled",
    );
    return true;
  }

  #noteFailedTarget(chunkId: bigint, target: string): void {
    let failed = this.#failedTargets.get(chunkId);
    if (!failed) {
      failed = new Set();
      this.#failedTargets.set(chunkId, failed);
    }
    // Bounded: past the bound every DataNode gets another chance.
    if (failed.size >= failedTargetsMax) failed.clear();
    failed.add(target);
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot create the replication monitor: ${name} ${value} is not >= 1`);
  }
  return value;
}
