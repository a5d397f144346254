/**
 * Requests waiting for DataNodes to report chunks: COMPLETE answers only once every chunk of
 * the file has a replica a reader can use (as HDFS's `complete` does). A waiter is woken by the
 * report that stores the replica, not by polling, so a small file completes as soon as its
 * DataNodes have reported it.
 */

interface Waiter {
  /** The chunks still without a usable replica. */
  readonly pending: Set<bigint>;
  readonly hasReplica: (id: bigint) => boolean;
  readonly finish: () => void;
}

/** Waiters by chunk id. Bounded by the requests in flight, each of which waits a bounded time. */
export class ReplicaWaiters {
  readonly #byChunk = new Map<bigint, Set<Waiter>>();

  /**
   * Resolves once `hasReplica` holds for every chunk in `ids`, or after `timeoutMs`, with the
   * chunks that still have no replica (none when all were reported).
   */
  wait(
    ids: readonly bigint[],
    hasReplica: (id: bigint) => boolean,
    timeoutMs: number,
  ): Promise<bigint[]> {
    const pending = new Set(ids.filter((id) => !hasReplica(id)));
    if (pending.size === 0 || timeoutMs <= 0) return Promise.resolve([...pending]);
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        for (const id of ids) this.#remove(id, waiter);
        resolve([...pending]);
      };
      const waiter: Waiter = { pending, hasReplica, finish };
      const timer = setTimeout(finish, timeoutMs);
      // A stopping NameNode does not wait for a report that may never come.
      timer.unref();
      for (const id of pending) {
        let waiters = this.#byChunk.get(id);
        if (waiters === undefined) {
          waiters = new Set();
          this.#byChunk.set(id, waiters);
        }
        waiters.add(waiter);
      }
    });
  }

  /** A DataNode reported a good replica of chunk `id`: wakes whoever waits for it. */
  replicaStored(id: bigint): void {
    const waiters = this.#byChunk.get(id);
    if (waiters === undefined) return;
    for (const waiter of [...waiters]) {
      // Checked again: the replica must also be one a reader can use (a live DataNode's).
      if (!waiter.hasReplica(id)) continue;
      waiter.pending.delete(id);
      this.#remove(id, waiter);
      if (waiter.pending.size === 0) waiter.finish();
    }
  }

  /** Chunks someone waits for, for tests and metrics. */
  get size(): number {
    return this.#byChunk.size;
  }

  #remove(id: bigint, waiter: Waiter): void {
    const waiters = this.#byChunk.get(id);
    if (waiters === undefined) return;
    waiters.delete(waiter);
    if (waiters.size === 0) this.#byChunk.delete(id);
  }
}
