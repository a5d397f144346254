/**
 * The DataNode's reports to the NameNode between heartbeats: replicas added and removed
 * (CHUNK_REPORT) and corrupt replicas (REPORT_CORRUPT).
 *
 * A report goes at the end of the turn of the event loop in which the first replica was
 * queued, and while it is on its way the next ones gather, to go as one request when it is
 * answered (group commit, as for the edit log). No timer delays it: a client's COMPLETE waits
 * for this report, so every millisecond here is a millisecond on each small file written.
 *
 * Reports go only over a registered connection. Each registration's full report stands in
 * for every incremental one, so the queue is emptied at the moment the full report's snapshot
 * is taken and nothing is queued while there is no connection: the queue holds only what
 * changed since the last snapshot. Corrupt replicas are different: a full report would present
 * them as healthy, so they are remembered (up to a bound) and reported again after every
 * registration until they are deleted.
 */
import { type Connection, isBigFsError, type Logger, type RequestOf } from "#protocol";
import type { ReplicaInfo } from "./chunk_store.js";

type Removed = RequestOf<"CHUNK_REPORT">["removed"][number];
interface Corrupt {
  chunkId: bigint;
  generation: bigint;
  reason: string;
  sent: boolean;
}

const reportItemsMax = 10_000;
const corruptRememberedMax = 10_000;
const reasonLengthMax = 1024;

/** Options for {@linkcode ReportQueue}. */
export interface ReportQueueOptions {
  datanodeId: string;
  logger: Logger;
  /**
   * How long reports are gathered before they are sent; default 0: until the end of the
   * current turn of the event loop (and while the report before is on its way).
   */
  delayMs?: number;
}

/** Queues and sends incremental reports over the current registered connection. */
export class ReportQueue {
  readonly #options: ReportQueueOptions;
  #added: ReplicaInfo[] = [];
  #removed: Removed[] = [];
  readonly #corrupt = new Map<bigint, Corrupt>();
  /** Set from the full report's snapshot until the connection is lost. */
  #connection: Connection | undefined;
  #registered = false;
  /** Cancels the report scheduled to go; set while one is. */
  #cancelScheduled: (() => void) | undefined;
  #flushing: Promise<void> | undefined;

  constructor(options: ReportQueueOptions) {
    this.#options = options;
  }

  /** Call in the same tick as the full report's snapshot: drops what the snapshot covers. */
  snapshotTaken(connection: Connection): void {
    this.#connection = connection;
    this.#registered = false;
    this.#added = [];
    this.#removed = [];
    for (const corrupt of this.#corrupt.values()) corrupt.sent = false;
  }

  /** The registration went through: queued reports may go. */
  registered(): void {
    this.#registered = true;
    this.#schedule();
  }

  /** The connection is gone; nothing is queued until the next snapshot. */
  disconnected(): void {
    this.#connection = undefined;
    this.#registered = false;
    this.#added = [];
    this.#removed = [];
  }

  added(replica: ReplicaInfo): void {
    if (this.#connection === undefined) return;
    this.#added.push(replica);
    this.#schedule();
  }

  removed(chunk: Removed): void {
    this.#corrupt.delete(chunk.id);
    if (this.#connection === undefined) return;
    this.#removed.push({ id: chunk.id, generation: chunk.generation });
    this.#schedule();
  }

  /** Reports a corrupt replica once per registration until it is removed. */
  corrupt(chunkId: bigint, generation: bigint, reason: string): void {
    const known = this.#corrupt.get(chunkId);
    if (known !== undefined && known.generation === generation) return;
    if (this.#corrupt.size >= corruptRememberedMax) {
      this.#corrupt.delete(this.#corrupt.keys().next().value!);
    }
    const shortReason = reason.slice(0, reasonLengthMax);
    this.#corrupt.set(chunkId, { chunkId, generation, reason: shortReason, sent: false });
    this.#schedule();
  }

  /** Stops sending; waits for a report under way. */
  async stop(): Promise<void> {
    this.#cancelScheduled?.();
    this.#cancelScheduled = undefined;
    this.disconnected();
    await this.#flushing;
  }

  #schedule(): void {
    if (this.#cancelScheduled !== undefined || this.#flushing !== undefined || !this.#registered) {
      return;
    }
    const send = () => {
      this.#cancelScheduled = undefined;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
        if (this.#hasQueued()) this.#schedule();
      });
    };
    const delayMs = this.#options.delayMs ?? 0;
    if (delayMs > 0) {
      const timer = setTimeout(send, delayMs);
      this.#cancelScheduled = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(send);
      this.#cancelScheduled = () => clearImmediate(immediate);
    }
  }

  #hasQueued(): boolean {
    if (this.#added.length > 0 || this.#removed.length > 0) return true;
    for (const corrupt of this.#corrupt.values()) if (!corrupt.sent) return true;
    return false;
  }

  async #flush(): Promise<void> {
    const connection = this.#connection;
    const { datanodeId } = this.#options;
    while (this.#registered && (this.#added.length > 0 || this.#removed.length > 0)) {
      const added = this.#added.splice(0, reportItemsMax);
      const removed = this.#removed.splice(0, reportItemsMax);
      const report = {
        datanodeId,
        added: added.map(({ id, generation, size }) => ({ id, generation, size })),
        removed,
      };
      // What a failed report loses is in the full report of the next registration.
      if (!(await this.#send(connection, (c) => c.request("CHUNK_REPORT", report)))) return;
    }
    for (const corrupt of this.#corrupt.values()) {
      if (corrupt.sent || !this.#registered) continue;
      const { chunkId, generation, reason } = corrupt;
      const body = { datanodeId, chunkId, generation, reason };
      const sent = await this.#send(connection, (c) => c.request("REPORT_CORRUPT", body));
      if (connection !== this.#connection) return;
      // One the NameNode refused is sent again after the next registration, not sooner.
      corrupt.sent = true;
      if (!sent) return;
    }
  }

  /** Sends one report; false when it failed. A NameNode that forgot us gets a new registration. */
  async #send(
    connection: Connection | undefined,
    request: (connection: Connection) => Promise<unknown>,
  ): Promise<boolean> {
    if (connection === undefined || connection !== this.#connection) return false;
    try {
      await request(connection);
      return true;
    } catch (error) {
      if (connection.closed) return false;
      this.#options.logger.warn({ err: error }, "report to the NameNode failed");
      if (isBigFsError(error, "NOT_FOUND")) connection.close();
      return false;
    }
  }
}
