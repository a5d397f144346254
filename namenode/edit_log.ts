/**
 * The NameNode's edit log: a write-ahead log of namespace edits, each an opaque payload (the
 * namespace encodes its operations as CBOR) with a transaction id (txid). Every edit is on disk,
 * fdatasync'ed, before {@linkcode EditLog.append} resolves, and the NameNode answers a client
 * only then. Concurrent appends share one fdatasync (group commit).
 *
 * ## Group commit, pipelined
 *
 * Appends queue up; the queue is written as one batch (one write) and fdatasync'ed. While
 * that sync runs, the next batch is written and its own sync started, up to
 * {@linkcode syncsInFlightMax} syncs at once: on ext4 a sync that starts while another is
 * committing the journal mostly joins that commit, so overlapping syncs make several times
 * more batches durable per second than one sync after another, and the appends that arrive
 * during a sync need not wait for it to end before theirs can start. Writes stay in order
 * (a batch is written only after the batch before it), so the file never has a hole before
 * written records, and batches are acknowledged in order: an append resolves only once its
 * own sync and every earlier batch's have succeeded. A crash while several batches sync can
 * still leave a later batch's pages on disk and an earlier one's not: none of them had been
 * acknowledged, and the log reads as the torn group write described in `_edit_log_scan.ts`.
 *
 * The parts: the segment and record formats are described and implemented in
 * `_edit_log_format.ts`; reading segments back on open, and telling a torn tail from
 * corruption, in `_edit_log_scan.ts`, with the repair in `_edit_log_repair.ts`; the segment
 * files in `_edit_log_files.ts`.
 *
 * @module
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BigFsError, type Logger, syncFolder } from "#protocol";
import {
  createSegment,
  openSegmentFileDefault,
  type SegmentFile,
  writeAll,
} from "./_edit_log_files.js";
import {
  editPayloadBytesMax,
  encodeRecord,
  headerBytes,
  type Segment,
  segmentName,
} from "./_edit_log_format.js";
import { type EditRecord, scanSegments, type TruncatedTail } from "./_edit_log_scan.js";

export type { SegmentFile } from "./_edit_log_files.js";
export { editPayloadBytesMax } from "./_edit_log_format.js";
export { EditLogCorruptError, type EditRecord, type TruncatedTail } from "./_edit_log_scan.js";

const segmentBytesMaxDefault = 64 * 1024 * 1024;
// One write of a group commit holds at most this much (or one record, if that is larger).
const batchBytesMax = 8 * 1024 * 1024;
/**
 * The fdatasyncs an edit log runs at once. More overlap helps less and less, and each one
 * holds a thread of libuv's pool (4 by default) that other file I/O shares. Fewer syncs in
 * flight also make each batch larger, and each fdatasync costs CPU (the pool hand-off, the
 * wake-up, the kernel's own work): with 32 mkdirs in flight, 3 syncs made batches of about
 * 6.5 records, 2 make about 9, at 4 to 5 microseconds less NameNode CPU per mkdir and no
 * less throughput, on two cores shared with the clients.
 */
const syncsInFlightMax = 2;

/** Options for {@linkcode EditLog.open}. */
export interface EditLogOptions {
  /** Records at or before this txid (the loaded image's) are validated but not returned. Default 0. */
  afterTxid?: bigint;
  /** Cut the log at mid-log corruption instead of refusing to open. Default false. */
  recover?: boolean;
  /** A segment is rolled once it holds this many bytes. Default 64 MiB. */
  segmentBytesMax?: number;
  /** Receives a warning when a tail is cut, an error when the log fails. */
  logger?: Logger;
  /**
   * Receives every record after `afterTxid` as it is read (see `ScanOptions.onRecord`), so a
   * long log is replayed one segment at a time instead of held whole; `records` is then empty.
   */
  onRecord?: (txid: bigint, payload: Uint8Array) => void;
  /** Opens the newest segment for writing: `"r+"` an existing one, `"wx"` a new one. */
  openSegmentFile?: (path: string, flags: "r+" | "wx") => Promise<SegmentFile>;
}

/** What {@linkcode EditLog.open} returns. */
export interface EditLogOpenResult {
  log: EditLog;
  /** Every record after `afterTxid`, in txid order; empty when `onRecord` took them. */
  records: EditRecord[];
  /** How many records after `afterTxid` were read. */
  recordCount: number;
  /** Set when a torn tail, or with `recover` corruption, was cut. */
  truncatedTail?: TruncatedTail;
  /** With `recover`: how many txids were lost at and after the corruption. */
  droppedRecords?: number;
}

type QueueEntry =
  | {
      kind: "record";
      txid: bigint;
      frame: Uint8Array;
      resolve: (txid: bigint) => void;
      reject: (error: Error) => void;
    }
  | {
      kind: "roll";
      firstTxid: bigint;
      resolve: (txid: bigint) => void;
      reject: (error: Error) => void;
    };

type RecordEntry = Extract<QueueEntry, { kind: "record" }>;

/** A write-ahead log of opaque records; `_edit_log_format.ts` describes the format. */
export class EditLog {
  readonly #folder: string;
  readonly #segments: Segment[];
  readonly #segmentBytesMax: number;
  readonly #logger: Logger | undefined;
  readonly #openSegmentFile: (path: string, flags: "r+" | "wx") => Promise<SegmentFile>;
  #file: SegmentFile;
  #position: number;
  #lastTxid: bigint;
  #durableTxid: bigint;
  #syncCount = 0;
  readonly #queue: QueueEntry[] = [];
  #loop: Promise<void> | undefined;
  /** Batches written whose sync has not settled yet; at most {@linkcode syncsInFlightMax}. */
  #syncsInFlight = 0;
  /** Settles (never rejects) once the newest batch written is acknowledged or rejected. */
  #lastBatch: Promise<void> = Promise.resolve();
  /** Wakes the loop while it sleeps: set by {@linkcode EditLog.#sleep}. */
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(
    folder: string,
    segments: Segment[],
    file: SegmentFile,
    position: number,
    lastTxid: bigint,
    options: EditLogOptions,
  ) {
    this.#folder = folder;
    this.#segments = segments;
    this.#file = file;
    this.#position = position;
    this.#lastTxid = lastTxid;
    this.#durableTxid = lastTxid;
    this.#segmentBytesMax = options.segmentBytesMax ?? segmentBytesMaxDefault;
    this.#logger = options.logger;
    this.#openSegmentFile = options.openSegmentFile ?? openSegmentFileDefault;
  }

  /**
   * Reads every segment in `folder` in order, cuts a torn tail, and opens the newest segment for
   * appending. An empty or missing folder starts a new log at `afterTxid + 1`.
   *
   * @throws {EditLogCorruptError} on corruption before the tail (unless `recover`), or when the
   *   oldest segment starts after `afterTxid + 1` (edits are missing).
   * @throws {Error} when the log ends before `afterTxid`.
   */
  static async open(folder: string, options: EditLogOptions = {}): Promise<EditLogOpenResult> {
    const afterTxid = options.afterTxid ?? 0n;
    if (afterTxid < 0n) throw new RangeError(`Cannot open edit log: afterTxid ${afterTxid} < 0`);
    const segmentBytesMax = options.segmentBytesMax ?? segmentBytesMaxDefault;
    if (!Number.isSafeInteger(segmentBytesMax) || segmentBytesMax <= headerBytes) {
      throw new RangeError(
        `Cannot open edit log: segmentBytesMax ${segmentBytesMax} is not an integer above ${headerBytes}`,
      );
    }
    const scan = await scanSegments(folder, afterTxid, options);
    const { records, recordCount, segments, lastTxid, truncatedTail, droppedRecords } = scan;
    let validBytes = scan.validBytes;
    const endTxid = lastTxid ?? afterTxid;
    if (endTxid < afterTxid) {
      throw new Error(
        `Cannot open edit log: it ends at txid ${endTxid}, before the image's txid ${afterTxid}`,
      );
    }
    const openFile = options.openSegmentFile ?? openSegmentFileDefault;
    let file: SegmentFile;
    if (segments.length === 0) {
      const segment = { name: segmentName(endTxid + 1n), firstTxid: endTxid + 1n };
      file = await createSegment(folder, segment, openFile);
      segments.push(segment);
      validBytes = headerBytes;
    } else {
      file = await openFile(join(folder, segments.at(-1)!.name), "r+");
    }
    const log = new EditLog(folder, segments, file, validBytes, endTxid, options);
    const result: EditLogOpenResult = { log, records, recordCount };
    if (truncatedTail !== undefined) result.truncatedTail = truncatedTail;
    if (droppedRecords !== undefined) result.droppedRecords = droppedRecords;
    return result;
  }

  /** How many fdatasyncs appends have made so far. */
  get syncCount(): number {
    return this.#syncCount;
  }

  /** The txid of the last record appended, durable or not yet. */
  get lastTxid(): bigint {
    return this.#lastTxid;
  }

  /** The txid of the last record known to be on disk. */
  get durableTxid(): bigint {
    return this.#durableTxid;
  }

  /**
   * Appends a record with the next txid and resolves with that txid once it is fdatasync'ed.
   * The txid is assigned at once, in call order.
   *
   * @throws {BigFsError} `UNAVAILABLE` when the log is closed, or when a write or sync failed
   *   (now or earlier: a failed log stays failed, because what reached the disk is unknown).
   * @throws {RangeError} when the payload is larger than {@linkcode editPayloadBytesMax}.
   */
  append(payload: Uint8Array): Promise<bigint> {
    const refused = this.#refusal("append to");
    if (refused !== undefined) return Promise.reject(refused);
    if (payload.byteLength > editPayloadBytesMax) {
      return Promise.reject(
        new RangeError(
          `Cannot append to edit log: the payload is ${payload.byteLength} bytes, more than ${editPayloadBytesMax}`,
        ),
      );
    }
    const txid = this.#lastTxid + 1n;
    this.#lastTxid = txid;
    const frame = encodeRecord(txid, payload);
    return new Promise((resolve, reject) => {
      this.#queue.push({ kind: "record", txid, frame, resolve, reject });
      this.#kick();
    });
  }

  /**
   * Starts a new segment at `lastTxid + 1`, after every record appended before this call is
   * durable, and resolves with that txid. Records appended after this call go to the new
   * segment. Does nothing when the newest segment is still empty.
   */
  rollSegment(): Promise<bigint> {
    const refused = this.#refusal("roll");
    if (refused !== undefined) return Promise.reject(refused);
    const firstTxid = this.#lastTxid + 1n;
    return new Promise((resolve, reject) => {
      this.#queue.push({ kind: "roll", firstTxid, resolve, reject });
      this.#kick();
    });
  }

  /**
   * Deletes the segments whose records are all at or before `txid`, never the newest one, and
   * resolves with how many were deleted.
   */
  async dropSegmentsThrough(txid: bigint): Promise<number> {
    let count = 0;
    while (count < this.#segments.length - 1 && this.#segments[count + 1]!.firstTxid <= txid + 1n) {
      count++;
    }
    const dropped = this.#segments.splice(0, count);
    for (const segment of dropped) await rm(join(this.#folder, segment.name), { force: true });
    if (count > 0) await syncFolder(this.#folder);
    return count;
  }

  /** Refuses new appends, waits for pending ones, syncs and closes the file. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      while (this.#loop !== undefined) await this.#loop;
      if (this.#failure !== undefined) {
        await this.#file.close().catch(() => {});
        return;
      }
      try {
        await this.#file.datasync();
      } finally {
        await this.#file.close();
      }
    })();
    return this.#closing;
  }

  #refusal(action: string): Error | undefined {
    if (this.#failure !== undefined) {
      return new BigFsError(
        "UNAVAILABLE",
        `Cannot ${action} edit log: the log failed earlier: ${this.#failure.message}`,
        { cause: this.#failure },
      );
    }
    if (this.#closed)
      return new BigFsError("UNAVAILABLE", `Cannot ${action} edit log: it is closed`);
    return undefined;
  }

  /** Starts the loop, or wakes it when it sleeps, because an append or a roll is queued. */
  #kick(): void {
    if (this.#loop === undefined) this.#loop = this.#run();
    else this.#wakeLoop();
  }

  #wakeLoop(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits until an append is queued or a sync settles. */
  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  async #run(): Promise<void> {
    // Yield once, so `#loop` is set before the loop can end, and appends made in the same
    // tick as the first share its write.
    await undefined;
    // The loop lives while anything is queued or syncing, so an append that arrives while
    // batches sync starts its own batch at once (up to the limit of syncs in flight).
    for (;;) {
      if (this.#queue.length === 0) {
        if (this.#syncsInFlight === 0) break;
        await this.#sleep();
        continue;
      }
      if (this.#failure !== undefined) {
        for (const entry of this.#queue.splice(0)) entry.reject(this.#refusal("append to")!);
        continue;
      }
      const head = this.#queue[0]!;
      if (head.kind === "roll") {
        // Every record before the roll is durable before the new segment starts.
        await this.#lastBatch;
        if (this.#failure !== undefined) continue;
        this.#queue.shift();
        try {
          await this.#startSegment(head.firstTxid);
          head.resolve(head.firstTxid);
        } catch (error) {
          head.reject(this.#fail(error, "roll", `creating ${segmentName(head.firstTxid)}`));
        }
        continue;
      }
      if (this.#syncsInFlight >= syncsInFlightMax) {
        // Appends keep queueing meanwhile; they go out as one batch when a slot frees.
        await this.#sleep();
        continue;
      }
      await this.#writeBatch(this.#takeBatch());
    }
    this.#loop = undefined;
  }

  #takeBatch(): RecordEntry[] {
    const batch: RecordEntry[] = [];
    let bytes = 0;
    for (const entry of this.#queue) {
      if (entry.kind !== "record") break;
      if (batch.length > 0 && bytes + entry.frame.byteLength > batchBytesMax) break;
      batch.push(entry);
      bytes += entry.frame.byteLength;
    }
    this.#queue.splice(0, batch.length);
    return batch;
  }

  /**
   * Writes a batch, then starts its fdatasync without waiting for it: the loop goes on to
   * the next batch while this one syncs. Resolves once the batch is written (or rejected).
   */
  async #writeBatch(batch: RecordEntry[]): Promise<void> {
    const firstTxid = batch[0]!.txid;
    const current = this.#segments.at(-1)!;
    let step = `creating ${segmentName(firstTxid)}`;
    let name: string;
    try {
      if (this.#position >= this.#segmentBytesMax && firstTxid > current.firstTxid) {
        // The old segment is closed by the roll: its syncs must be done first.
        await this.#lastBatch;
        if (this.#failure !== undefined) throw this.#failure;
        await this.#startSegment(firstTxid);
      }
      name = this.#segments.at(-1)!.name;
      const bytes =
        batch.length === 1 ? batch[0]!.frame : Buffer.concat(batch.map((entry) => entry.frame));
      step = `writing ${name}`;
      await writeAll(this.#file, bytes, this.#position);
      this.#position += bytes.byteLength;
    } catch (error) {
      const failure =
        this.#failure === undefined || error !== this.#failure
          ? this.#fail(error, "append to", step)
          : this.#refusal("append to")!;
      for (const entry of batch) entry.reject(failure);
      return;
    }
    const synced = this.#file.datasync();
    const previous = this.#lastBatch;
    this.#syncsInFlight++;
    this.#lastBatch = this.#settleBatch(batch, synced, previous, name);
  }

  /** Acknowledges a batch once its sync and every earlier batch have settled, in order. */
  async #settleBatch(
    batch: RecordEntry[],
    synced: Promise<void>,
    previous: Promise<void>,
    name: string,
  ): Promise<void> {
    let syncError: unknown;
    let syncFailed = false;
    try {
      await synced;
    } catch (error) {
      syncError = error;
      syncFailed = true;
    }
    await previous;
    this.#syncsInFlight--;
    this.#wakeLoop();
    if (this.#failure !== undefined) {
      // An earlier batch failed: what reached the disk after it is unknown, so this one fails
      // too, even when its own sync succeeded.
      for (const entry of batch) entry.reject(this.#refusal("append to")!);
      return;
    }
    if (syncFailed) {
      const failure = this.#fail(syncError, "append to", `fdatasync of ${name}`);
      for (const entry of batch) entry.reject(failure);
      return;
    }
    this.#syncCount++;
    this.#durableTxid = batch.at(-1)!.txid;
    for (const entry of batch) entry.resolve(entry.txid);
  }

  async #startSegment(firstTxid: bigint): Promise<void> {
    const current = this.#segments.at(-1)!;
    if (current.firstTxid === firstTxid) return;
    const segment = { name: segmentName(firstTxid), firstTxid };
    const file = await createSegment(this.#folder, segment, this.#openSegmentFile);
    const previous = this.#file;
    this.#file = file;
    this.#position = headerBytes;
    this.#segments.push(segment);
    await previous.close();
  }

  /** Marks the log failed for good and returns the error for the appends that were waiting. */
  #fail(error: unknown, action: string, step: string): Error {
    const message = error instanceof Error ? error.message : String(error);
    this.#failure ??= error instanceof Error ? error : new Error(message);
    this.#logger?.error({ err: error, step }, "edit log failed: refusing all further appends");
    return new BigFsError("UNAVAILABLE", `Cannot ${action} edit log: ${step} failed: ${message}`, {
      cause: error,
    });
  }
}
