/**
 * The metadata of a stored chunk replica: its identity, its size, the xxh64 of every segment
 * of its data and of the whole chunk, sealed by an xxh64 of the metadata itself.
 *
 * A replica is one file: the chunk's L bytes, then the metadata, then a 16-byte footer that
 * says where the metadata starts. One file means one create, one fdatasync and one rename per
 * replica, which is most of what storing a small chunk costs.
 *
 * ```text
 * [ data: L bytes ][ metadata: 64 + 8N bytes ][ footer: 16 bytes ]
 * footer: magic `BFSCTAIL` (8 bytes), then L as a u64 (where the metadata starts)
 * ```
 *
 * ## Metadata format (all integers big-endian)
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 8 | magic, the ASCII bytes `BFSCMETA` |
 * | 8 | 4 | format version, u32, 2 (1 kept the metadata in a file of its own) |
 * | 12 | 4 | segment size S in bytes, u32, at least 1 |
 * | 16 | 8 | chunk id, u64; equals the id in the file name |
 * | 24 | 8 | generation, u64; equals the generation in the file name |
 * | 32 | 8 | chunk size L in bytes, u64; equals the footer's L |
 * | 40 | 8 | xxh64 of the whole chunk (all L bytes) |
 * | 48 | 4 | segment count N, u32; equals ceil(L / S) |
 * | 52 | 4 | reserved, zero |
 * | 56 | 8 × N | xxh64 of each segment in order: segment n is data bytes [n·S, min((n+1)·S, L)) |
 * | 56 + 8N | 8 | xxh64 of metadata bytes 0 to 56 + 8N − 1 |
 *
 * The metadata is exactly 64 + 8N bytes, so the file is L + 80 + 8N bytes. A 64 MiB chunk in
 * 256 KiB segments has 2,112 bytes of metadata. The segment size is stored per chunk, so a DataNode whose configured segment size
 * changes still reads the chunks it wrote before.
 *
 * Decoding checks the length first (it follows from N), then the closing checksum, then every
 * field; any failure is a `CHECKSUM_MISMATCH`, because a metadata file that does not decode is
 * as untrustworthy as one whose checksum fails.
 *
 * @module
 */
import { BigFsError, xxh64 } from "#protocol";

const magic = new TextEncoder().encode("BFSCMETA");
const footerMagic = new TextEncoder().encode("BFSCTAIL");
/** Length of the footer at the end of a replica's file. */
export const footerBytes = 16;
const formatVersion = 2;
const headerBytes = 56;
// The most metadata a replica may have: a million segments (a 256 GiB chunk in 256 KiB ones).
// A footer that points further back is corrupt, and is not followed into reading that much.
const metaBytesMax = headerBytes + 8 * 2 ** 20 + 8;
const u32Max = 2 ** 32 - 1;

/** A chunk replica's metadata as decoded from, or encoded to, its metadata file. */
export interface ChunkMeta {
  id: bigint;
  generation: bigint;
  sizeBytes: number;
  segmentBytes: number;
  /** xxh64 of the whole chunk. */
  xxh64: bigint;
  /** xxh64 of each segment, in order. */
  segmentXxh64s: readonly bigint[];
}

/** How many segments a chunk of `sizeBytes` has. */
export function segmentCountFor(sizeBytes: number, segmentBytes: number): number {
  return Math.ceil(sizeBytes / segmentBytes);
}

/** The length of the metadata of a chunk of `sizeBytes`. */
export function metaBytesFor(sizeBytes: number, segmentBytes: number): number {
  return headerBytes + 8 * segmentCountFor(sizeBytes, segmentBytes) + 8;
}

/** The length of what follows a chunk's data in its file: metadata and footer. */
export function trailerBytesFor(sizeBytes: number, segmentBytes: number): number {
  return metaBytesFor(sizeBytes, segmentBytes) + footerBytes;
}

/** Encodes what is appended to a replica's data: its metadata, then the footer. */
export function encodeChunkTrailer(meta: ChunkMeta): Uint8Array {
  const metaBytes = encodeChunkMeta(meta);
  const bytes = new Uint8Array(metaBytes.byteLength + footerBytes);
  bytes.set(metaBytes, 0);
  bytes.set(footerMagic, metaBytes.byteLength);
  new DataView(bytes.buffer).setBigUint64(metaBytes.byteLength + 8, BigInt(meta.sizeBytes));
  return bytes;
}

/**
 * Reads the footer (the last 16 bytes of a replica's file of `fileBytes`) and returns where
 * the metadata starts, which is the chunk's size.
 *
 * @throws {BigFsError} `CHECKSUM_MISMATCH` when the footer is not valid.
 */
export function decodeChunkFooter(footer: Uint8Array, fileBytes: number, what: string): number {
  const fail = (detail: string): never => {
    throw new BigFsError("CHECKSUM_MISMATCH", `Cannot read metadata of ${what}: ${detail}`);
  };
  if (footer.byteLength !== footerBytes || fileBytes < headerBytes + 8 + footerBytes) {
    fail(`a file of ${fileBytes} bytes is too short`);
  }
  for (let index = 0; index < footerMagic.byteLength; index++) {
    if (footer[index] !== footerMagic[index]) fail("bad footer magic");
  }
  const start = new DataView(footer.buffer, footer.byteOffset, footerBytes).getBigUint64(8);
  const metaEnd = BigInt(fileBytes - footerBytes);
  if (start > metaEnd - BigInt(headerBytes + 8) || metaEnd - start > BigInt(metaBytesMax)) {
    fail(`the footer puts the metadata at ${start}, which does not fit a ${fileBytes}-byte file`);
  }
  return Number(start);
}

/** Encodes `meta` as the bytes of its metadata. */
export function encodeChunkMeta(meta: ChunkMeta): Uint8Array {
  const count = meta.segmentXxh64s.length;
  if (count !== segmentCountFor(meta.sizeBytes, meta.segmentBytes)) {
    throw new Error(
      `Cannot encode metadata of chunk ${meta.id}: ${count} segment checksums for ${meta.sizeBytes} bytes`,
    );
  }
  if (!(meta.segmentBytes >= 1 && meta.segmentBytes <= u32Max)) {
    throw new RangeError(`Cannot encode metadata of chunk ${meta.id}: bad segment size`);
  }
  const bytes = new Uint8Array(headerBytes + 8 * count + 8);
  const view = new DataView(bytes.buffer);
  bytes.set(magic, 0);
  view.setUint32(8, formatVersion);
  view.setUint32(12, meta.segmentBytes);
  view.setBigUint64(16, meta.id);
  view.setBigUint64(24, meta.generation);
  view.setBigUint64(32, BigInt(meta.sizeBytes));
  view.setBigUint64(40, meta.xxh64);
  view.setUint32(48, count);
  view.setUint32(52, 0);
  for (let index = 0; index < count; index++) {
    view.setBigUint64(headerBytes + 8 * index, meta.segmentXxh64s[index]!);
  }
  const sealAt = headerBytes + 8 * count;
  view.setBigUint64(sealAt, xxh64(bytes.subarray(0, sealAt)));
  return bytes;
}

/**
 * Decodes metadata. `what` names it in errors, such as `chunk 42`.
 *
 * @throws {BigFsError} `CHECKSUM_MISMATCH` when the bytes are not valid metadata.
 */
export function decodeChunkMeta(bytes: Uint8Array, what: string): ChunkMeta {
  const fail = (detail: string): never => {
    throw new BigFsError("CHECKSUM_MISMATCH", `Cannot read metadata of ${what}: ${detail}`);
  };
  if (bytes.byteLength < headerBytes + 8) fail(`${bytes.byteLength} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(48);
  const expectedBytes = headerBytes + 8 * count + 8;
  if (bytes.byteLength !== expectedBytes) {
    fail(`${bytes.byteLength} bytes, but ${count} segments need ${expectedBytes}`);
  }
  const sealAt = headerBytes + 8 * count;
  const seal = view.getBigUint64(sealAt);
  if (xxh64(bytes.subarray(0, sealAt)) !== seal) fail("checksum mismatch");
  for (let index = 0; index < magic.byteLength; index++) {
    if (bytes[index] !== magic[index]) fail("bad magic");
  }
  const version = view.getUint32(8);
  if (version !== formatVersion) fail(`unknown format version ${version}`);
  const segmentBytes = view.getUint32(12);
  if (segmentBytes < 1) fail("segment size 0");
  const size = view.getBigUint64(32);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) fail(`size ${size} is too large`);
  const sizeBytes = Number(size);
  if (count !== segmentCountFor(sizeBytes, segmentBytes)) {
    fail(`${count} segments for ${sizeBytes} bytes in segments of ${segmentBytes}`);
  }
  if (view.getUint32(52) !== 0) fail("reserved field is not zero");
  const segmentXxh64s = new Array<bigint>(count);
  for (let index = 0; index < count; index++) {
    segmentXxh64s[index] = view.getBigUint64(headerBytes + 8 * index);
  }
  return {
    id: view.getBigUint64(16),
    generation: view.getBigUint64(24),
    sizeBytes,
    segmentBytes,
    xxh64: view.getBigUint64(40),
    segmentXxh64s,
  };
}
