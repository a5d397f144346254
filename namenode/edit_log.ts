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
 * acknowledged, and the log reads as the torn group write described below.
 *
 * ## Files
 *
 * The log lives in one folder (the NameNode's `<data-dir>/current`) as segments named
 * `edits_<first txid, 20 decimal digits, zero padded>.log`, so names sort in txid order. Only
 * the newest segment is written to; the others are complete and read-only. A segment is rolled
 * when it holds more than `segmentBytesMax` bytes, and when a checkpoint asks for it. Other
 * names in the folder (images, `.broken` copies) are ignored.
 *
 * ## Segment header (32 bytes)
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 8 | magic, the ASCII bytes `BFSEDITS` |
 * | 8 | 4 | format version, u32 big-endian, 1 |
 * | 12 | 4 | reserved, zero |
 * | 16 | 8 | first txid of the segment, u64 big-endian; equals the txid in the file name |
 * | 24 | 8 | xxh64 of bytes 0 to 23, u64 big-endian |
 *
 * ## Record (20 bytes, then the payload)
 *
 * Records follow the header back to back, with no padding:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | payload length L, u32 big-endian, at most {@linkcode editPayloadBytesMax} |
 * | 4 | 8 | txid, u64 big-endian |
 * | 12 | 8 | xxh64 of bytes 0 to 11 (length and txid) followed by the payload, u64 big-endian |
 * | 20 | L | payload |
 *
 * The first record of a segment has the header's first txid; each next record's txid is one
 * more, and each segment starts one after the previous segment's last txid. A segment with no
 * records (just rolled) ends at its first txid minus one. The checksum covers the length too,
 * so a flipped length bit is caught even when the bytes it now spans happen to exist.
 *
 * ## A torn tail, told apart from corruption
 *
 * A crash can only tear what was being written: the end of the newest segment. A torn write
 * leaves the last record cut short, or zeros or stale bytes where the record should be, so it
 * fails its length bound, its size or its checksum. But it cannot leave a complete record with a
 * valid checksum after the damage, because nothing was written after the write that tore. So
 * when {@linkcode EditLog.open} meets the first bad record, the rule is:
 *
 * - In the newest segment, when the problem is one a torn write can cause (a record or header
 *   cut short, an impossible length, a checksum mismatch) and no record with a valid checksum
 *   and a plausible later txid starts at any byte offset after it, it is a torn tail: the file
 *   is copied aside as `<name>.broken`, the copy fsynced, and the segment truncated to its last
 *   good record and fsynced. A newest segment whose header is cut short (a roll the crash
 *   interrupted; it holds no records) is moved aside whole instead.
 * - Anything else is corruption and opening fails with {@linkcode EditLogCorruptError}, naming
 *   the file and the byte offset of the bad record: a valid record after the bad one (so the
 *   bad one had been made durable before it, then damaged), a record with a valid checksum but
 *   the wrong txid, a bad record or header in an older segment (a segment is rolled only after
 *   its last write was synced), or a gap in txids between segments.
 * - With `recover`, corruption is handled like a torn tail instead, and the records lost are
 *   counted from the highest valid txid found after the damage: the segment is copied aside
 *   and truncated there, and every later segment is moved aside as `<name>.broken`.
 *
 * The rule errs towards refusing. A torn group write whose pages reached the disk out of order
 * (a zeroed page, then a page of whole records) looks like corruption and needs `recover`,
 * which then drops only records that were never acknowledged. A bit flip in the very last
 * record looks like a torn tail and is cut: nothing after it can tell them apart.
 *
 * @module
 */
import { constants } from "node:fs";
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { BigFsError, type Logger, Xxh64Stream, xxh64 } from "../protocol/mod.js";

/** The largest payload one record may hold. It is part of the format: a larger length is corrupt. */
export const editPayloadBytesMax = 16 * 1024 * 1024;

const segmentMagic = new TextEncoder().encode("BFSEDITS");
const formatVersion = 1;
const headerBytes = 32;
const recordHeaderBytes = 20;
const segmentBytesMaxDefault = 64 * 1024 * 1024;
// One write of a group commit holds at most this much (or one record, if that is larger).
const batchBytesMax = 8 * 1024 * 1024;
const segmentNamePattern = /^edits_(\d{20})\.log$/;
/**
 * The fdatasyncs an edit log runs at once. More overlap helps less and less, and each one
 * holds a thread of libuv's pool (4 by default) that other file I/O shares.
 */
const syncsInFlightMax = 3;
// How many `.broken` copies of one segment may pile up before repair stops and asks for help.
const brokenCopiesMax = 100;

/** One edit read back from the log. */
export interface EditRecord {
  txid: bigint;
  /** A view into the segment's bytes as read; copy it to keep it beyond replay. */
  payload: Uint8Array;
}

/**
 * The part of an open file that appends go through, so a test can inject a failed write or
 * sync. The default wraps a `fs.promises` FileHandle.
 */
export interface SegmentFile {
  /** Writes `bytes` at `position` and returns how many bytes were written. */
  write(bytes: Uint8Array, position: number): Promise<number>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

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
  /** Opens the newest segment for writing: `"r+"` an existing one, `"wx"` a new one. */
  openSegmentFile?: (path: string, flags: "r+" | "wx") => Promise<SegmentFile>;
}

/** Where the log was cut on open, and the copy of the file as it was before. */
export interface TruncatedTail {
  file: string;
  offset: number;
  brokenCopy: string;
}

/** What {@linkcode EditLog.open} returns. */
export interface EditLogOpenResult {
  log: EditLog;
  /** Every record after `afterTxid`, in txid order. */
  records: EditRecord[];
  /** Set when a torn tail, or with `recover` corruption, was cut. */
  truncatedTail?: TruncatedTail;
  /** With `recover`: how many txids were lost at and after the corruption. */
  droppedRecords?: number;
}

/** The edit log is corrupt before its tail; the message names the file and the byte offset. */
export class EditLogCorruptError extends Error {
  /** The path of the segment. */
  readonly file: string;
  /** The byte offset in the segment where the bad record or header field starts. */
  readonly offset: number;

  constructor(file: string, offset: number, problem: string) {
    super(`Cannot open edit log segment ${basename(file)}: ${problem} at offset ${offset}`);
    this.name = "EditLogCorruptError";
    this.file = file;
    this.offset = offset;
  }
}

interface Segment {
  name: string;
  firstTxid: bigint;
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

interface Damage {
  offset: number;
  problem: string;
  /** Whether a torn write could have caused it. */
  tornLike: boolean;
}

/** A write-ahead log of opaque records; see the module comment for the format. */
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
    await mkdir(folder, { recursive: true });
    // Zero-padded names sort in txid order.
    const names = (await readdir(folder)).filter((name) => segmentNamePattern.test(name)).sort();
    const records: EditRecord[] = [];
    const segments: Segment[] = [];
    let lastTxid: bigint | undefined;
    let validBytes = 0;
    let truncatedTail: TruncatedTail | undefined;
    let droppedRecords: number | undefined;

    for (let index = 0; index < names.length; index++) {
      const name = names[index]!;
      const path = join(folder, name);
      const nameTxid = BigInt(segmentNamePattern.exec(name)![1]!);
      const isNewest = index === names.length - 1;
      if (lastTxid === undefined && nameTxid > afterTxid + 1n) {
        throw new EditLogCorruptError(
          path,
          0,
          `the oldest segment starts at txid ${nameTxid}, so txids ${afterTxid + 1n} to ${nameTxid - 1n} are missing`,
        );
      }
      const firstTxid = lastTxid === undefined ? nameTxid : lastTxid + 1n;
      const bytes = await readSegment(path);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let damage: Damage | undefined;
      let nextTxid = firstTxid;
      let position = headerBytes;
      const header = decodeSegmentHeader(bytes, view);
      if (typeof header === "string") {
        damage = { offset: 0, problem: header, tornLike: bytes.byteLength <= headerBytes };
      } else if (header !== nameTxid) {
        damage = {
          offset: 16,
          problem: `the header's first txid ${header} differs from the file name's`,
          tornLike: false,
        };
      } else if (nameTxid !== firstTxid) {
        damage = {
          offset: 16,
          problem: `the segment starts at txid ${nameTxid} but the one before ends at txid ${lastTxid}`,
          tornLike: false,
        };
      } else {
        while (position < bytes.byteLength) {
          const read = decodeRecord(bytes, view, position);
          if (typeof read === "string") {
            damage = { offset: position, problem: read, tornLike: true };
            break;
          }
          if (read.txid !== nextTxid) {
            const problem = `txid discontinuity (expected ${nextTxid}, found ${read.txid})`;
            damage = { offset: position, problem, tornLike: false };
            break;
          }
          if (nextTxid > afterTxid) {
            records.push({ txid: nextTxid, payload: bytes.subarray(position + 20, read.end) });
          }
          nextTxid++;
          position = read.end;
        }
      }

      if (damage === undefined) {
        segments.push({ name, firstTxid: nameTxid });
        lastTxid = nextTxid - 1n;
        validBytes = bytes.byteLength;
        continue;
      }
      const lastGoodTxid = nextTxid - 1n;
      const torn =
        isNewest &&
        damage.tornLike &&
        (damage.offset === 0 ||
          findValidRecord(bytes, view, damage.offset + 1, damage.offset, lastGoodTxid) ===
            undefined);
      if (!torn && options.recover !== true) {
        throw new EditLogCorruptError(path, damage.offset, damage.problem);
      }
      let brokenCopy: string;
      if (damage.offset < headerBytes) {
        // A header cut short or wrong: the segment as a whole is set aside; the one before it
        // (or a new one, below) becomes the newest.
        brokenCopy = await moveAside(path);
      } else {
        brokenCopy = await cutSegment(path, damage.offset);
        segments.push({ name, firstTxid: nameTxid });
        validBytes = damage.offset;
      }
      lastTxid = lastGoodTxid;
      truncatedTail = { file: path, offset: damage.offset, brokenCopy };
      if (torn) {
        options.logger?.warn(
          { file: path, offset: damage.offset, problem: damage.problem, brokenCopy },
          "edit log: cut a torn tail",
        );
        break;
      }
      let highestTxid = highestTxidAfter(bytes, view, damage.offset, lastGoodTxid);
      for (const later of names.slice(index + 1)) {
        const laterPath = join(folder, later);
        highestTxid = maxOf(highestTxid, await highestTxidIn(laterPath));
        await moveAside(laterPath);
      }
      droppedRecords = Number(highestTxid - lastGoodTxid);
      options.logger?.error(
        { file: path, offset: damage.offset, problem: damage.problem, brokenCopy, droppedRecords },
        "edit log: recovered from corruption by cutting the log",
      );
      break;
    }

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
    const result: EditLogOpenResult = { log, records };
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

function segmentName(firstTxid: bigint): string {
  return `edits_${firstTxid.toString().padStart(20, "0")}.log`;
}

function maxOf(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function encodeSegmentHeader(firstTxid: bigint): Uint8Array {
  const bytes = new Uint8Array(headerBytes);
  const view = new DataView(bytes.buffer);
  bytes.set(segmentMagic, 0);
  view.setUint32(8, formatVersion);
  view.setBigUint64(16, firstTxid);
  view.setBigUint64(24, xxh64(bytes.subarray(0, 24)));
  return bytes;
}

/** Returns the header's first txid, or what is wrong with it. */
function decodeSegmentHeader(bytes: Uint8Array, view: DataView): bigint | string {
  if (bytes.byteLength < headerBytes) {
    return `header cut short (${bytes.byteLength} of ${headerBytes} bytes)`;
  }
  if (!segmentMagic.every((byte, index) => bytes[index] === byte)) return "bad header magic";
  if (xxh64(bytes.subarray(0, 24)) !== view.getBigUint64(24)) return "header checksum mismatch";
  const version = view.getUint32(8);
  if (version !== formatVersion) return `unsupported format version ${version}`;
  return view.getBigUint64(16);
}

function recordChecksum(head: Uint8Array, payload: Uint8Array): bigint {
  return new Xxh64Stream().update(head).update(payload).digest();
}

function encodeRecord(txid: bigint, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(recordHeaderBytes + payload.byteLength);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.byteLength);
  view.setBigUint64(4, txid);
  frame.set(payload, recordHeaderBytes);
  view.setBigUint64(12, recordChecksum(frame.subarray(0, 12), payload));
  return frame;
}

/** Returns the record at `offset` (its txid and where it ends), or what is wrong with it. */
function decodeRecord(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
): { txid: bigint; end: number } | string {
  const available = bytes.byteLength - offset;
  if (available < recordHeaderBytes) {
    return `record header cut short (${available} of ${recordHeaderBytes} bytes)`;
  }
  const length = view.getUint32(offset);
  if (length > editPayloadBytesMax) return `impossible record length ${length}`;
  const end = offset + recordHeaderBytes + length;
  if (end > bytes.byteLength) {
    return `record cut short (${available - recordHeaderBytes} of ${length} payload bytes)`;
  }
  const checksum = recordChecksum(
    bytes.subarray(offset, offset + 12),
    bytes.subarray(offset + recordHeaderBytes, end),
  );
  if (checksum !== view.getBigUint64(offset + 12)) return "checksum mismatch";
  return { txid: view.getBigUint64(offset + 4), end };
}

/**
 * Looks for a record with a valid checksum starting at any offset from `from` on, whose txid
 * could follow `lastGoodTxid` after damage at `damageOffset`: every record takes at least 20
 * bytes, so a record at offset p has a txid of at most lastGoodTxid + 1 + (p − damageOffset) / 20.
 * The txid window rejects almost every offset with two integer reads, before any hashing.
 */
function findValidRecord(
  bytes: Uint8Array,
  view: DataView,
  from: number,
  damageOffset: number,
  lastGoodTxid: bigint,
): { txid: bigint; end: number } | undefined {
  const lowTxid = Number(lastGoodTxid);
  for (let offset = from; offset + recordHeaderBytes <= bytes.byteLength; offset++) {
    const high = view.getUint32(offset + 4);
    if (high >= 2 ** 21) continue; // beyond 2^53: no plausible txid
    const span = high * 2 ** 32 + view.getUint32(offset + 8) - lowTxid;
    if (span < 1 || span > Math.floor((offset - damageOffset) / recordHeaderBytes) + 1) continue;
    const read = decodeRecord(bytes, view, offset);
    if (typeof read !== "string") return read;
  }
  return undefined;
}

/** The highest txid of a valid record after damage at `damageOffset` (the damaged one counts). */
function highestTxidAfter(
  bytes: Uint8Array,
  view: DataView,
  damageOffset: number,
  lastGoodTxid: bigint,
): bigint {
  let highest = lastGoodTxid + 1n;
  let from = damageOffset + 1;
  for (;;) {
    const found = findValidRecord(bytes, view, from, damageOffset, lastGoodTxid);
    if (found === undefined) return highest;
    highest = maxOf(highest, found.txid);
    from = found.end;
  }
}

/** The last txid of a segment that is being set aside: its valid records, read in order. */
async function highestTxidIn(path: string): Promise<bigint> {
  const bytes = await readSegment(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = decodeSegmentHeader(bytes, view);
  if (typeof header === "string") return 0n;
  let highest = header - 1n;
  let offset = headerBytes;
  while (offset < bytes.byteLength) {
    const read = decodeRecord(bytes, view, offset);
    if (typeof read === "string" || read.txid !== highest + 1n) break;
    highest = read.txid;
    offset = read.end;
  }
  return highest;
}

/** Reads a whole segment as a plain Uint8Array, so the payload views handed out are too. */
async function readSegment(path: string): Promise<Uint8Array> {
  const buffer = await readFile(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

async function writeAll(file: SegmentFile, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const count = await file.write(bytes.subarray(written), position + written);
    // Each pass writes at least one byte, so this loop ends.
    if (!(count > 0)) throw new Error(`write returned ${count} bytes`);
    written += count;
  }
}

async function openSegmentFileDefault(path: string, flags: "r+" | "wx"): Promise<SegmentFile> {
  const handle = await open(path, flags);
  return {
    write: async (bytes, position) =>
      (await handle.write(bytes, 0, bytes.byteLength, position)).bytesWritten,
    datasync: () => handle.datasync(),
    sync: () => handle.sync(),
    close: () => handle.close(),
  };
}

/** Creates a segment with its header, fsyncs it and the folder, and returns it open. */
async function createSegment(
  folder: string,
  segment: Segment,
  openFile: (path: string, flags: "r+" | "wx") => Promise<SegmentFile>,
): Promise<SegmentFile> {
  const file = await openFile(join(folder, segment.name), "wx");
  try {
    await writeAll(file, encodeSegmentHeader(segment.firstTxid), 0);
    await file.sync();
    await syncFolder(folder);
  } catch (error) {
    await file.close().catch(() => {});
    throw error;
  }
  return file;
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A `<path>.broken` name that is not taken yet, so an earlier copy is never overwritten. */
async function freeBrokenName(path: string): Promise<string> {
  for (let index = 0; index < brokenCopiesMax; index++) {
    const candidate = index === 0 ? `${path}.broken` : `${path}.broken.${index}`;
    try {
      await stat(candidate);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return candidate;
      throw error;
    }
  }
  throw new Error(
    `Cannot repair edit log segment ${basename(path)}: ${brokenCopiesMax} copies exist`,
  );
}

/** Copies the segment aside (durably) and truncates it to `offset`. */
async function cutSegment(path: string, offset: number): Promise<string> {
  const brokenCopy = await freeBrokenName(path);
  await copyFile(path, brokenCopy, constants.COPYFILE_EXCL);
  const copy = await open(brokenCopy, "r");
  try {
    await copy.sync();
  } finally {
    await copy.close();
  }
  await syncFolder(dirname(path));
  const handle = await open(path, "r+");
  try {
    await handle.truncate(offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return brokenCopy;
}

/** Renames the whole segment to a `.broken` name. */
async function moveAside(path: string): Promise<string> {
  const brokenCopy = await freeBrokenName(path);
  await rename(path, brokenCopy);
  await syncFolder(dirname(path));
  return brokenCopy;
}
