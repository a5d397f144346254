/**
 * Where every chunk's replicas live. Not persisted: after a restart the NameNode adds every
 * chunk of the namespace, and the DataNodes' full reports at registration put the replicas
 * back (GFS and HDFS do the same).
 *
 * Rules where there is a choice:
 * - A reported replica is `stored` when its generation is the chunk's and (for a committed
 *   chunk) its size is the chunk's. An older generation is `stale`, an unknown chunk is an
 *   `orphan`: the caller deletes both at once. A wrong size, or a generation *newer* than the
 *   NameNode knows (it cannot come from this namespace; HDFS calls it corrupt too), is
 *   `corrupt`: remembered, never counted nor handed to readers, and deleted by the
 *   replication monitor once good copies exist, so no bytes are thrown away before then.
 * - A corrupt mark sticks to a replica until it goes: `removeReplica`, `removeChunk`, a full
 *   report that no longer lists it, or its DataNode's death. Reporting it again does not
 *   clear it.
 * - An uncommitted chunk's replicas are not checked for size (the size is not known yet), and
 *   committing does not re-check replicas already stored.
 * - When a DataNode dies its replicas are dropped (as HDFS does); it registers again with a
 *   full report when it returns. The `isLive` option also filters at every query, so the
 *   short time between the registry's verdict and `datanodeDead` counts right.
 * - Health counts committed chunks only (a chunk being written is not missing), each in
 *   exactly one bucket, the first that applies: `missing` (no live good replica), `corrupt`
 *   (a corrupt replica, but a good one too), `underReplicated`, `overReplicated`, `healthy`.
 *   So the buckets add up to `chunks`, and fsck lists each problem chunk once. Under- and
 *   over-replication count the replicas the `counts` option accepts (a decommissioned
 *   DataNode's are live and readable but count no more).
 * - Each DataNode's stored bytes (the committed sizes of the replicas it holds, corrupt ones
 *   included) are kept up to date as replicas come and go: the balancer's measure of use.
 *
 * Memory: the NameNode holds about a million chunks, so an entry is one small object whose
 * replica holders are a short array of interned DataNode numbers, exactly as long as needed,
 * not a Set of strings.
 * Each DataNode has one Set of its chunk ids, so a full report or a death is reconciled
 * without scanning every chunk.
 */

/** A chunk as the NameNode adds it; a new chunk is uncommitted, of size 0, by default. */
export interface NewChunk {
  readonly id: bigint;
  readonly generation: bigint;
  readonly expectedReplication: number;
  readonly size?: number;
  readonly committed?: boolean;
}
/** A chunk as the chunk map knows it. */
export interface ChunkEntry {
  readonly id: bigint;
  readonly generation: bigint;
  readonly expectedReplication: number;
  /** Bytes in the chunk; 0 until committed. */
  readonly size: number;
  readonly committed: boolean;
}
/** A replica as a DataNode reports it. */
export interface ReplicaReport {
  readonly id: bigint;
  readonly generation: bigint;
  readonly size: number;
}
/** What became of a reported replica; see the module doc. */
export type ReplicaOutcome = "stored" | "stale" | "orphan" | "corrupt";
/** A replica a full report asks the caller to act on; `removed`: no longer reported. */
export interface ReplicaProblem {
  readonly id: bigint;
  readonly generation: bigint;
  readonly outcome: "stale" | "orphan" | "corrupt" | "removed";
}
/** What a full report changed. */
export interface FullReportResult {
  /** Replicas recorded as good. */
  stored: number;
  /** `stale` and `orphan`: delete from the DataNode; `corrupt`; `removed`: check replication. */
  problems: ReplicaProblem[];
}
/** A committed chunk's health, as fsck names it. */
export type ChunkStatus =
  | "healthy"
  | "under-replicated"
  | "over-replicated"
  | "corrupt"
  | "missing";
/** A chunk that is not healthy. */
export interface ProblemChunk {
  id: bigint;
  status: Exclude<ChunkStatus, "healthy">;
  liveReplicas: number;
}
/** Counts of committed chunks by status; the five buckets add up to `chunks`. */
export interface ChunkHealth {
  chunks: number;
  healthy: number;
  underReplicated: number;
  overReplicated: number;
  corrupt: number;
  missing: number;
}
/** Options for {@linkcode ChunkMap}. */
export interface ChunkMapOptions {
  /** Whether a DataNode is alive; replicas on others do not count. Default: all are. */
  isLive?: (datanodeId: string) => boolean;
  /**
   * Whether a live DataNode's replicas count toward a chunk's replication in health figures.
   * Default: all do.
   */
  counts?: (datanodeId: string) => boolean;
  /** Told when a replica is recorded as good (`stored`), to wake requests waiting for one. */
  onReplicaStored?: (id: bigint) => void;
}

interface Entry {
  /**
   * The chunk's id, the very bigint that keys it: DataNodes' sets hold this one, not the
   * (equal) copy each report decodes, which would cost a bigint per replica.
   */
  readonly id: bigint;
  generation: bigint;
  expectedReplication: number;
  size: number;
  committed: boolean;
  /** Interned numbers of the DataNodes holding a replica, corrupt ones included. */
  holders: number[];
  /** The holders whose replica is corrupt; `null` (almost always) when none is. */
  corrupt: number[] | null;
}

/** Every chunk the namespace refers to, and which DataNodes hold its replicas. */
export class ChunkMap {
  readonly #isLive: (datanodeId: string) => boolean;
  readonly #counts: (datanodeId: string) => boolean;
  readonly #onReplicaStored: ((id: bigint) => void) | undefined;
  readonly #chunks = new Map<bigint, Entry>();
  readonly #numberOf = new Map<string, number>();
  readonly #datanodeIds: string[] = [];
  readonly #chunksOf: Set<bigint>[] = [];
  readonly #bytesOf: number[] = [];

  constructor(options: ChunkMapOptions = {}) {
    this.#isLive = options.isLive ?? (() => true);
    this.#counts = options.counts ?? (() => true);
    this.#onReplicaStored = options.onReplicaStored;
  }

  /** Chunks known, committed or not. */
  get size(): number {
    return this.#chunks.size;
  }

  /** Adds a chunk with no replicas yet. */
  addChunk(chunk: NewChunk): void {
    if (this.#chunks.has(chunk.id)) {
      throw new RangeError(`Cannot add chunk ${chunk.id} to the chunk map: it is there already`);
    }
    this.#chunks.set(chunk.id, {
      id: chunk.id,
      generation: chunk.generation,
      expectedReplication: chunk.expectedReplication,
      size: chunk.size ?? 0,
      committed: chunk.committed ?? false,
      holders: [],
      corrupt: null,
    });
  }

  /** Records a chunk's final size. */
  commitChunk(id: bigint, size: number): void {
    const entry = this.#entry(id, "commit");
    for (const number of entry.holders) this.#bytesOf[number]! += size - entry.size;
    entry.size = size;
    entry.committed = true;
  }

  /** Changes how many replicas a chunk should have. */
  setExpectedReplication(id: bigint, replication: number): void {
    this.#entry(id, "set replication of").expectedReplication = replication;
  }

  /** Forgets a chunk; returns every DataNode that holds a replica of it, to delete them. */
  removeChunk(id: bigint): string[] {
    const entry = this.#chunks.get(id);
    if (!entry) return [];
    this.#chunks.delete(id);
    for (const number of entry.holders) {
      this.#chunksOf[number]!.delete(id);
      this.#bytesOf[number]! -= entry.size;
    }
    return entry.holders.map((number) => this.#datanodeIds[number]!);
  }

  /** A chunk as added, with its current size and state; `undefined` when unknown. */
  get(id: bigint): ChunkEntry | undefined {
    const entry = this.#chunks.get(id);
    if (!entry) return undefined;
    const { generation, expectedReplication, size, committed } = entry;
    return { id, generation, expectedReplication, size, committed };
  }

  /** Records one replica a DataNode reports (registration or CHUNK_REPORT `added`). */
  reportReplica(datanodeId: string, report: ReplicaReport): ReplicaOutcome {
    const entry = this.#chunks.get(report.id);
    if (!entry) return "orphan";
    const number = this.#intern(datanodeId);
    if (report.generation < entry.generation) {
      this.#drop(report.id, entry, number);
      return "stale";
    }
    const wrong =
      report.generation > entry.generation || (entry.committed && report.size !== entry.size);
    this.#hold(entry, number);
    if (wrong) markIn(entry, number);
    if (isCorrupt(entry, number)) return "corrupt";
    this.#onReplicaStored?.(report.id);
    return "stored";
  }

  /**
   * Replaces everything known about a DataNode's replicas with its full report. Replicas it
   * held before and no longer reports come back as `removed`.
   */
  fullReport(datanodeId: string, reports: Iterable<ReplicaReport>): FullReportResult {
    const number = this.#intern(datanodeId);
    // Emptied in place, not replaced, so live views from `chunksOn` stay valid.
    const before = new Set(this.#chunksOf[number]!);
    this.#chunksOf[number]!.clear();
    const result: FullReportResult = { stored: 0, problems: [] };
    for (const report of reports) {
      const outcome = this.reportReplica(datanodeId, report);
      if (outcome === "stored") result.stored++;
      else result.problems.push({ id: report.id, generation: report.generation, outcome });
    }
    const now = this.#chunksOf[number]!;
    for (const id of before) {
      if (now.has(id)) continue;
      const entry = this.#chunks.get(id);
      // A stale report already dropped it, and said so.
      if (!entry?.holders.includes(number)) continue;
      this.#drop(id, entry, number);
      result.problems.push({ id, generation: entry.generation, outcome: "removed" });
    }
    return result;
  }

  /** Forgets one replica (CHUNK_REPORT `removed`, or a delete done); false if not known. */
  removeReplica(datanodeId: string, id: bigint): boolean {
    const number = this.#numberOf.get(datanodeId);
    const entry = this.#chunks.get(id);
    if (number === undefined || !entry || !entry.holders.includes(number)) return false;
    this.#drop(id, entry, number);
    return true;
  }

  /**
   * Marks a replica corrupt (REPORT_CORRUPT, REPORT_BAD_REPLICA). `orphan`: the chunk is
   * unknown; `stale`: the generation is older than the chunk's; the caller deletes the
   * replica in both cases. `corrupt`: marked (and remembered as held, if it was not).
   */
  markCorrupt(
    datanodeId: string,
    id: bigint,
    generation: bigint,
  ): Exclude<ReplicaOutcome, "stored"> {
    const entry = this.#chunks.get(id);
    if (!entry) return "orphan";
    const number = this.#intern(datanodeId);
    if (generation < entry.generation) {
      this.#drop(id, entry, number);
      return "stale";
    }
    this.#hold(entry, number);
    markIn(entry, number);
    return "corrupt";
  }

  /** Drops every replica of a DataNode that died; returns the chunks that lost one. */
  datanodeDead(datanodeId: string): bigint[] {
    const number = this.#numberOf.get(datanodeId);
    if (number === undefined) return [];
    const ids = [...this.#chunksOf[number]!];
    for (const id of ids) this.#drop(id, this.#chunks.get(id)!, number);
    return ids;
  }

  /** The live DataNodes holding a good replica: the ones readers and copies may use. */
  liveReplicas(id: bigint): string[] {
    const entry = this.#chunks.get(id);
    if (!entry) return [];
    const live: string[] = [];
    for (const number of entry.holders) {
      const datanodeId = this.#datanodeIds[number]!;
      if (!isCorrupt(entry, number) && this.#isLive(datanodeId)) live.push(datanodeId);
    }
    return live;
  }

  /** Every DataNode holding a replica, good or corrupt, live or not yet declared dead. */
  holders(id: bigint): string[] {
    const entry = this.#chunks.get(id);
    return entry ? entry.holders.map((number) => this.#datanodeIds[number]!) : [];
  }

  /** True when the DataNode holds a replica of the chunk, good or corrupt. */
  holds(datanodeId: string, id: bigint): boolean {
    const number = this.#numberOf.get(datanodeId);
    return number !== undefined && this.#chunksOf[number]!.has(id);
  }

  /**
   * The chunks a DataNode holds a replica of. A live view: safe to keep across changes (as a
   * Set iterator is), seeing chunks added later and skipping ones removed.
   */
  chunksOn(datanodeId: string): IterableIterator<bigint> {
    const number = this.#numberOf.get(datanodeId);
    return (number === undefined ? new Set<bigint>() : this.#chunksOf[number]!).values();
  }

  /** Every chunk id, as a live view that is safe to keep across changes (see `chunksOn`). */
  ids(): IterableIterator<bigint> {
    return this.#chunks.keys();
  }

  /** Committed bytes of the replicas a DataNode holds (0 for an unknown one). */
  storedBytesOf(datanodeId: string): number {
    const number = this.#numberOf.get(datanodeId);
    return number === undefined ? 0 : this.#bytesOf[number]!;
  }

  /** The DataNodes holding a corrupt replica, to delete once good copies exist. */
  corruptReplicas(id: bigint): string[] {
    const corrupt = this.#chunks.get(id)?.corrupt ?? [];
    return corrupt.map((number) => this.#datanodeIds[number]!);
  }

  /** Replicas a DataNode holds, corrupt ones included (DATANODE_REPORT's `chunks`). */
  replicaCountOf(datanodeId: string): number {
    const number = this.#numberOf.get(datanodeId);
    return number === undefined ? 0 : this.#chunksOf[number]!.size;
  }

  /** A chunk's status and live good replicas; `undefined` when unknown or not committed. */
  status(id: bigint): { status: ChunkStatus; liveReplicas: number } | undefined {
    const entry = this.#chunks.get(id);
    return entry?.committed ? this.#statusOf(entry) : undefined;
  }

  /** Counts committed chunks by status. O(chunks). */
  health(): ChunkHealth {
    const health: ChunkHealth = {
      chunks: 0,
      healthy: 0,
      underReplicated: 0,
      overReplicated: 0,
      corrupt: 0,
      missing: 0,
    };
    for (const entry of this.#chunks.values()) {
      if (!entry.committed) continue;
      health.chunks++;
      health[bucketOf[this.#statusOf(entry).status]]++;
    }
    return health;
  }

  /** Every committed chunk that is not healthy, in the order chunks were added. */
  *problemChunks(): Generator<ProblemChunk, void, undefined> {
    for (const [id, entry] of this.#chunks) {
      if (!entry.committed) continue;
      const { status, liveReplicas } = this.#statusOf(entry);
      if (status !== "healthy") yield { id, status, liveReplicas };
    }
  }

  /** For safe mode: committed chunks with at least one live good replica, of all. O(chunks). */
  chunksWithReplicaCount(): { reported: number; total: number } {
    let reported = 0;
    let total = 0;
    for (const entry of this.#chunks.values()) {
      if (!entry.committed) continue;
      total++;
      if (this.#liveGood(entry) > 0) reported++;
    }
    return { reported, total };
  }

  #statusOf(entry: Entry): { status: ChunkStatus; liveReplicas: number } {
    let live = 0;
    let liveReplicas = 0;
    for (const number of entry.holders) {
      const datanodeId = this.#datanodeIds[number]!;
      if (isCorrupt(entry, number) || !this.#isLive(datanodeId)) continue;
      live++;
      if (this.#counts(datanodeId)) liveReplicas++;
    }
    let status: ChunkStatus = "healthy";
    if (live === 0) status = "missing";
    else if (entry.corrupt) status = "corrupt";
    else if (liveReplicas < entry.expectedReplication) status = "under-replicated";
    else if (liveReplicas > entry.expectedReplication) status = "over-replicated";
    return { status, liveReplicas };
  }

  #liveGood(entry: Entry): number {
    let count = 0;
    for (const number of entry.holders) {
      if (!isCorrupt(entry, number) && this.#isLive(this.#datanodeIds[number]!)) count++;
    }
    return count;
  }

  #entry(id: bigint, action: string): Entry {
    const entry = this.#chunks.get(id);
    if (!entry)
      throw new RangeError(`Cannot ${action} chunk ${id}: the chunk map has no such chunk`);
    return entry;
  }

  #intern(datanodeId: string): number {
    let number = this.#numberOf.get(datanodeId);
    if (number === undefined) {
      number = this.#datanodeIds.push(datanodeId) - 1;
      this.#numberOf.set(datanodeId, number);
      this.#chunksOf.push(new Set());
      this.#bytesOf.push(0);
    }
    return number;
  }

  #hold(entry: Entry, number: number): void {
    if (!entry.holders.includes(number)) {
      // A new array of exactly the holders: `push` would reserve room for 17 of them, in
      // each of a million entries.
      entry.holders = entry.holders.concat(number);
      this.#bytesOf[number]! += entry.size;
    }
    this.#chunksOf[number]!.add(entry.id);
  }

  #drop(id: bigint, entry: Entry, number: number): void {
    const at = entry.holders.indexOf(number);
    if (at >= 0) {
      entry.holders.splice(at, 1);
      this.#bytesOf[number]! -= entry.size;
    }
    if (entry.corrupt) {
      const corruptAt = entry.corrupt.indexOf(number);
      if (corruptAt >= 0) entry.corrupt.splice(corruptAt, 1);
      if (entry.corrupt.length === 0) entry.corrupt = null;
    }
    this.#chunksOf[number]!.delete(id);
  }
}

const bucketOf = {
  healthy: "healthy",
  "under-replicated": "underReplicated",
  "over-replicated": "overReplicated",
  corrupt: "corrupt",
  missing: "missing",
} as const satisfies Record<ChunkStatus, keyof ChunkHealth>;

function isCorrupt(entry: Entry, number: number): boolean {
  return entry.corrupt?.includes(number) === true;
}

function markIn(entry: Entry, number: number): void {
  if (!entry.corrupt) entry.corrupt = [number];
  else if (!entry.corrupt.includes(number)) entry.corrupt.push(number);
}
