/**
 * The edit log's on-disk format: segment files, their header, and the records in them.
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
 *
 * @module
 */
import { Xxh64Stream, xxh64 } from "#protocol";

/** The largest payload one record may hold. It is part of the format: a larger length is corrupt. */
export const editPayloadBytesMax = 16 * 1024 * 1024;

/** The first 8 bytes of every segment. */
export const segmentMagic = new TextEncoder().encode("BFSEDITS");
/** The format version a segment header must carry. */
export const formatVersion = 1;
/** Bytes in a segment header. */
export const headerBytes = 32;
/** Bytes in a record before its payload. */
export const recordHeaderBytes = 20;
/** A segment's file name; the group is its first txid. */
export const segmentNamePattern = /^edits_(\d{20})\.log$/;

/** A segment of the log: its file name and the txid of its first record. */
export interface Segment {
  name: string;
  firstTxid: bigint;
}

/** The file name of the segment whose first txid is `firstTxid`. */
export function segmentName(firstTxid: bigint): string {
  return `edits_${firstTxid.toString().padStart(20, "0")}.log`;
}

/** The 32 header bytes of a segment starting at `firstTxid`. */
export function encodeSegmentHeader(firstTxid: bigint): Uint8Array {
  const bytes = new Uint8Array(headerBytes);
  const view = new DataView(bytes.buffer);
  bytes.set(segmentMagic, 0);
  view.setUint32(8, formatVersion);
  view.setBigUint64(16, firstTxid);
  view.setBigUint64(24, xxh64(bytes.subarray(0, 24)));
  return bytes;
}

/** Returns the header's first txid, or what is wrong with it. */
export function decodeSegmentHeader(bytes: Uint8Array, view: DataView): bigint | string {
  if (bytes.byteLength < headerBytes) {
    return `header cut short (${bytes.byteLength} of ${headerBytes} bytes)`;
  }
  if (!segmentMagic.every((byte, index) => bytes[index] === byte)) return "bad header magic";
  if (xxh64(bytes.subarray(0, 24)) !== view.getBigUint64(24)) return "header checksum mismatch";
  const version = view.getUint32(8);
  if (version !== formatVersion) return `unsupported format version ${version}`;
  return view.getBigUint64(16);
}

/** Records up to this size are hashed from one copy in {@linkcode checksumScratch}. */
const scratchBytes = 4096;
const checksumScratch = new Uint8Array(scratchBytes);

/**
 * The xxh64 of a record's first 12 bytes followed by its payload. A small record (almost
 * every one) is copied next to its head and hashed in one call: a streaming hasher per record
 * cost more than the hashing itself when a long log is replayed.
 */
export function recordChecksum(head: Uint8Array, payload: Uint8Array): bigint {
  const length = head.byteLength + payload.byteLength;
  if (length > scratchBytes) return new Xxh64Stream().update(head).update(payload).digest();
  checksumScratch.set(head, 0);
  checksumScratch.set(payload, head.byteLength);
  return xxh64(checksumScratch.subarray(0, length));
}

/** A whole record, header and payload, ready to append. */
export function encodeRecord(txid: bigint, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(recordHeaderBytes + payload.byteLength);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.byteLength);
  view.setBigUint64(4, txid);
  frame.set(payload, recordHeaderBytes);
  view.setBigUint64(12, recordChecksum(frame.subarray(0, 12), payload));
  return frame;
}

/** Returns the record at `offset` (its txid and where it ends), or what is wrong with it. */
export function decodeRecord(
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
