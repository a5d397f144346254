/**
 * The replication monitor's work under way: copies sent to DataNodes and not yet reported,
 * and deletes of excess replicas not yet done, each with a deadline.
 *
 * Every entry gets the same timeout when it is added, so insertion order is deadline order:
 * expiry looks only at the oldest entries and stops at the first one still in time, and a tick
 * costs what expired, not what is pending. Counts per DataNode (as source and as target) are
 * kept as entries come and go, so the bounds on transfers are checked in O(1).
 */

/** A copy under way: `source` sends the chunk to `target`. */
export interface PendingReplication {
  readonly chunkId: bigint;
  readonly generation: bigint;
  readonly source: string;
  readonly target: string;
  readonly sizeBytes: number;
  readonly deadlineMs: number;
  /** Order of scheduling, from 1: tests and logs tell which went first. */
  readonly sequence: number;
}

/** A delete of one replica under way. */
export interface PendingDelete {
  readonly chunkId: bigint;
  readonly datanodeId: string;
  readonly deadlineMs: number;
}

/** What timed out. */
export interface ExpiredWork {
  replications: PendingReplication[];
  deletes: PendingDelete[];
}

/** Copies and deletes under way, by chunk and by DataNode. */
export class PendingWork {
  readonly #replications = new Map<string, PendingReplication>();
  readonly #replicationsOf = new Map<bigint, PendingReplication[]>();
  readonly #asSource = new Map<string, number>();
  readonly #asTarget = new Map<string, number>();
  readonly #deletes = new Map<string, PendingDelete>();
  readonly #deletingOn = new Map<bigint, Set<string>>();
  #sequence = 0;

  /** Copies under way. */
  get replicationCount(): number {
    return this.#replications.size;
  }

  /** Deletes under way. */
  get deleteCount(): number {
    return this.#deletes.size;
  }

  /** Records a copy; returns it. */
  addReplication(replication: Omit<PendingReplication, "sequence">): PendingReplication {
    const key = keyOf(replication.chunkId, replication.target);
    if (this.#replications.has(key)) {
      throw new Error(
        `Cannot track a copy of chunk ${replication.chunkId} to ${replication.target}: one is under way`,
      );
    }
    const entry = { ...replication, sequence: ++this.#sequence };
    this.#replications.set(key, entry);
    const list = this.#replicationsOf.get(entry.chunkId);
    if (list) list.push(entry);
    else this.#replicationsOf.set(entry.chunkId, [entry]);
    bump(this.#asSource, entry.source, 1);
    bump(this.#asTarget, entry.target, 1);
    return entry;
  }

  /** Forgets a copy (done, failed or moot); returns it, or `undefined` if none was pending. */
  removeReplication(chunkId: bigint, target: string): PendingReplication | undefined {
    const key = keyOf(chunkId, target);
    const entry = this.#replications.get(key);
    if (!entry) return undefined;
    this.#replications.delete(key);
    const list = this.#replicationsOf.get(chunkId)!;
    list.splice(list.indexOf(entry), 1);
    if (list.length === 0) this.#replicationsOf.delete(chunkId);
    bump(this.#asSource, entry.source, -1);
    bump(this.#asTarget, entry.target, -1);
    return entry;
  }

  /** Copies of a chunk under way (do not keep: the array changes). */
  replicationsOf(chunkId: bigint): readonly PendingReplication[] {
    return this.#replicationsOf.get(chunkId) ?? [];
  }

  /** Every copy under way, oldest first. */
  replications(): PendingReplication[] {
    return [...this.#replications.values()];
  }

  /** Copies a DataNode is sending. */
  asSource(datanodeId: string): number {
    return this.#asSource.get(datanodeId) ?? 0;
  }

  /** Copies a DataNode is receiving. */
  asTarget(datanodeId: string): number {
    return this.#asTarget.get(datanodeId) ?? 0;
  }

  /** Records a delete (a second one of the same replica keeps the first deadline). */
  addDelete(chunkId: bigint, datanodeId: string, deadlineMs: number): void {
    const key = keyOf(chunkId, datanodeId);
    if (this.#deletes.has(key)) return;
    this.#deletes.set(key, { chunkId, datanodeId, deadlineMs });
    const set = this.#deletingOn.get(chunkId);
    if (set) set.add(datanodeId);
    else this.#deletingOn.set(chunkId, new Set([datanodeId]));
  }

  /** Forgets a delete; true if one was pending. */
  removeDelete(chunkId: bigint, datanodeId: string): boolean {
    if (!this.#deletes.delete(keyOf(chunkId, datanodeId))) return false;
    const set = this.#deletingOn.get(chunkId)!;
    set.delete(datanodeId);
    if (set.size === 0) this.#deletingOn.delete(chunkId);
    return true;
  }

  /** The DataNodes told to delete their replica of a chunk. */
  deletingOn(chunkId: bigint): ReadonlySet<string> {
    return this.#deletingOn.get(chunkId) ?? noDatanodes;
  }

  /** True when a copy or a delete of the chunk is under way. */
  busy(chunkId: bigint): boolean {
    return this.#replicationsOf.has(chunkId) || this.#deletingOn.has(chunkId);
  }

  /** Removes and returns what is past its deadline. */
  expire(nowMs: number): ExpiredWork {
    const expired: ExpiredWork = { replications: [], deletes: [] };
    for (const entry of this.#replications.values()) {
      if (entry.deadlineMs > nowMs) break;
      expired.replications.push(entry);
    }
    for (const entry of expired.replications) this.removeReplication(entry.chunkId, entry.target);
    for (const entry of this.#deletes.values()) {
      if (entry.deadlineMs > nowMs) break;
      expired.deletes.push(entry);
    }
    for (const entry of expired.deletes) this.removeDelete(entry.chunkId, entry.datanodeId);
    return expired;
  }

  /**
   * Removes and returns the work a dead DataNode took part in. O(work pending), which the
   * per-DataNode bounds keep small for copies; deletes are looked at once each.
   */
  dropDatanode(datanodeId: string): ExpiredWork {
    const dropped: ExpiredWork = { replications: [], deletes: [] };
    for (const entry of this.#replications.values()) {
      if (entry.source === datanodeId || entry.target === datanodeId) {
        dropped.replications.push(entry);
      }
    }
    for (const entry of dropped.replications) this.removeReplication(entry.chunkId, entry.target);
    for (const entry of this.#deletes.values()) {
      if (entry.datanodeId === datanodeId) dropped.deletes.push(entry);
    }
    for (const entry of dropped.deletes) this.removeDelete(entry.chunkId, entry.datanodeId);
    return dropped;
  }

  /** Removes and returns all work on a chunk (its file was deleted). */
  dropChunk(chunkId: bigint): ExpiredWork {
    const dropped: ExpiredWork = {
      replications: [...this.replicationsOf(chunkId)],
      deletes: [...this.deletingOn(chunkId)].map((datanodeId) => ({
        chunkId,
        datanodeId,
        deadlineMs: 0,
      })),
    };
    for (const entry of dropped.replications) this.removeReplication(chunkId, entry.target);
    for (const entry of dropped.deletes) this.removeDelete(chunkId, entry.datanodeId);
    return dropped;
  }
}

const noDatanodes: ReadonlySet<string> = new Set();

function keyOf(chunkId: bigint, datanodeId: string): string {
  return `${chunkId}@${datanodeId}`;
}

function bump(counts: Map<string, number>, datanodeId: string, by: number): void {
  const count = (counts.get(datanodeId) ?? 0) + by;
  if (count < 0) throw new Error(`Pending work count of DataNode ${datanodeId} went below 0`);
  if (count === 0) counts.delete(datanodeId);
  else counts.set(datanodeId, count);
}
