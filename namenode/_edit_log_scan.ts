/**
 * Reading the edit log's segments back on open, and what to do at the first bad record.
 *
 * ## A torn tail, told apart from corruption
 *
 * A crash can only tear what was being written: the end of the newest segment. A torn write
 * leaves the last record cut short, or zeros or stale bytes where the record should be, so it
 * fails its length bound, its size or its checksum. But it cannot leave a complete record with a
 * valid checksum after the damage, because nothing was written after the write that tore. So
 * when `EditLog.open` meets the first bad record, the rule is:
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
import { mkdir, readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Logger } from "#protocol";
import {
  decodeRecord,
  decodeSegmentHeader,
  headerBytes,
  recordHeaderBytes,
  type Segment,
  segmentNamePattern,
} from "./_edit_log_format.js";
import { cutSegment, moveAside } from "./_edit_log_repair.js";

/** One edit read back from the log. */
export interface EditRecord {
  txid: bigint;
  /** A view into the segment's bytes as read; copy it to keep it beyond replay. */
  payload: Uint8Array;
}

/** Where the log was cut on open, and the copy of the file as it was before. */
export interface TruncatedTail {
  file: string;
  offset: number;
  brokenCopy: string;
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

interface Damage {
  offset: number;
  problem: string;
  /** Whether a torn write could have caused it. */
  tornLike: boolean;
}

/** Options for {@linkcode scanSegments}: `EditLogOptions` carries them. */
export interface ScanOptions {
  /**
   * Receives every record after `afterTxid`, in txid order, as it is read, instead of the
   * records being collected: only one segment's bytes are held at a time. The payload is a
   * view into the segment's bytes, valid only during the call. A throw stops the scan.
   */
  onRecord?: (txid: bigint, payload: Uint8Array) => void;
  /** Cut the log at mid-log corruption instead of refusing to open. */
  recover?: boolean;
  /** Receives a warning when a tail is cut, an error when corruption is cut. */
  logger?: Logger;
}

/** What {@linkcode scanSegments} found, and what it cut. */
export interface ScanResult {
  /** Every record after `afterTxid`, in txid order; empty when `onRecord` took them. */
  records: EditRecord[];
  /** How many records after `afterTxid` were read. */
  recordCount: number;
  /** The segments kept, oldest first. */
  segments: Segment[];
  /** The txid of the last good record, or `undefined` when no segment is kept. */
  lastTxid: bigint | undefined;
  /** The bytes of the newest kept segment that hold its header and good records. */
  validBytes: number;
  /** Set when a torn tail, or with `recover` corruption, was cut. */
  truncatedTail: TruncatedTail | undefined;
  /** With `recover`: how many txids were lost at and after the corruption. */
  droppedRecords: number | undefined;
}

/**
 * Reads every segment in `folder` (made if missing) in txid order, checking each header and
 * record, and cuts a torn tail (or, with `recover`, corruption) as the module comment says.
 *
 * @throws {EditLogCorruptError} on corruption before the tail (unless `recover`), or when the
 *   oldest segment starts after `afterTxid + 1` (edits are missing).
 */
export async function scanSegments(
  folder: string,
  afterTxid: bigint,
  options: ScanOptions,
): Promise<ScanResult> {
  await mkdir(folder, { recursive: true });
  // Zero-padded names sort in txid order.
  const names = (await readdir(folder)).filter((name) => segmentNamePattern.test(name)).sort();
  const records: EditRecord[] = [];
  const onRecord =
    options.onRecord ?? ((txid: bigint, payload: Uint8Array) => records.push({ txid, payload }));
  let recordCount = 0;
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
          onRecord(nextTxid, bytes.subarray(position + recordHeaderBytes, read.end));
          recordCount++;
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
        findValidRecord(bytes, view, damage.offset + 1, damage.offset, lastGoodTxid) === undefined);
    if (!torn && options.recover !== true) {
      throw new EditLogCorruptError(path, damage.offset, damage.problem);
    }
    let brokenCopy: string;
    if (damage.offset < headerBytes) {
      // A header cut short or wrong: the segment as a whole is set aside; the one before it
      // (or a new one, made by `EditLog.open`) becomes the newest.
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
  return { records, recordCount, segments, lastTxid, validBytes, truncatedTail, droppedRecords };
}

function maxOf(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
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
