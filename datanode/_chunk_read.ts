/**
 * Reading a finalised chunk replica back from disk, checking every byte against the
 * checksums in its metadata file.
 *
 * Data is read segment by segment with positional reads into a buffer of one segment, fresh
 * for each segment: the consumer owns every piece it is given (it may still be queued on a
 * socket when the next one is read), and memory per read stays at the segments the consumer
 * has not let go of, since reading is pulled by the consumer.
 *
 * @module
 */
import { type FileHandle, open, readFile } from "node:fs/promises";
import { BigFsError, Xxh64Stream, xxh64, xxh64Hex } from "#protocol";
import { type ChunkMeta, decodeChunkMeta } from "./_chunk_meta.js";

/** What the store's index says a replica is; its metadata file must agree. */
export interface ReplicaIdentity {
  id: bigint;
  generation: bigint;
  size: number;
  xxh64: bigint;
}

/** A piece of a chunk, as {@linkcode readPieces} yields it. */
export interface Piece {
  offset: number;
  bytes: Uint8Array;
  xxh64: bigint;
}

/** Hooks that let the scrubber pace a verification and count its bytes. */
export interface VerifyHooks {
  /** Awaited before each segment is read, with its length; may throw to stop verifying. */
  beforeSegment?: (segmentBytes: number) => Promise<void> | void;
  /** Called after each segment has been read and found good, with its length. */
  afterSegment?: (segmentBytes: number) => void;
}

function mismatch(message: string): BigFsError {
  return new BigFsError("CHECKSUM_MISMATCH", message);
}

/** Reads and checks a replica's metadata file. Its `ENOENT` is left for the caller. */
export async function loadMeta(metaPath: string, expected: ReplicaIdentity): Promise<ChunkMeta> {
  const what = `chunk ${expected.id}`;
  const meta = decodeChunkMeta(await readFile(metaPath), what);
  if (
    meta.id !== expected.id ||
    meta.generation !== expected.generation ||
    meta.sizeBytes !== expected.size ||
    meta.xxh64 !== expected.xxh64
  ) {
    throw mismatch(
      `Cannot read metadata of ${what}: it describes chunk ${meta.id} generation ` +
        `${meta.generation} of ${meta.sizeBytes} bytes, not generation ${expected.generation} ` +
        `of ${expected.size} bytes`,
    );
  }
  return meta;
}

/** Reads segment `index` of the chunk into a new buffer and checks it. */
async function readSegment(
  handle: FileHandle,
  meta: ChunkMeta,
  index: number,
): Promise<Uint8Array> {
  const start = index * meta.segmentBytes;
  const length = Math.min(meta.segmentBytes, meta.sizeBytes - start);
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, start + filled);
    if (bytesRead === 0) {
      throw mismatch(
        `Cannot read chunk ${meta.id} segment ${index}: data file ends at ${start + filled}, ` +
          `metadata says ${meta.sizeBytes} bytes`,
      );
    }
    filled += bytesRead;
  }
  const expected = meta.segmentXxh64s[index]!;
  const actual = xxh64(buffer);
  if (actual !== expected) {
    throw mismatch(
      `Checksum mismatch for chunk ${meta.id} segment ${index} (offset ${start}): ` +
        `expected ${xxh64Hex(expected)}, got ${xxh64Hex(actual)}`,
    );
  }
  return buffer;
}

/**
 * Yields bytes `[offset, end)` of the chunk in pieces that follow segment borders, each checked
 * against its segment's stored checksum; a piece that is a whole segment carries that checksum.
 */
export async function* readPieces(
  dataPath: string,
  meta: ChunkMeta,
  offset: number,
  end: number,
): AsyncGenerator<Piece> {
  if (end <= offset) return;
  const handle = await open(dataPath, "r");
  try {
    const first = Math.floor(offset / meta.segmentBytes);
    const last = Math.floor((end - 1) / meta.segmentBytes);
    for (let index = first; index <= last; index++) {
      const segment = await readSegment(handle, meta, index);
      const segmentStart = index * meta.segmentBytes;
      const from = Math.max(offset, segmentStart) - segmentStart;
      const to = Math.min(end, segmentStart + segment.byteLength) - segmentStart;
      if (from === 0 && to === segment.byteLength) {
        yield { offset: segmentStart, bytes: segment, xxh64: meta.segmentXxh64s[index]! };
      } else {
        const bytes = segment.subarray(from, to);
        yield { offset: segmentStart + from, bytes, xxh64: xxh64(bytes) };
      }
    }
  } finally {
    await handle.close();
  }
}

/**
 * Re-reads a whole replica: its metadata (closing checksum, agreement with the index), every
 * segment, the whole-chunk checksum, and the data file's length.
 *
 * @throws {BigFsError} `CHECKSUM_MISMATCH` at the first thing that is wrong.
 */
export async function verifyReplica(
  dataPath: string,
  metaPath: string,
  expected: ReplicaIdentity,
  hooks: VerifyHooks = {},
): Promise<void> {
  const meta = await loadMeta(metaPath, expected);
  const handle = await open(dataPath, "r");
  try {
    const { size } = await handle.stat();
    if (size !== meta.sizeBytes) {
      throw mismatch(
        `Cannot verify chunk ${meta.id}: data file is ${size} bytes, metadata says ${meta.sizeBytes}`,
      );
    }
    const whole = new Xxh64Stream();
    for (let index = 0; index < meta.segmentXxh64s.length; index++) {
      const length = Math.min(meta.segmentBytes, meta.sizeBytes - index * meta.segmentBytes);
      await hooks.beforeSegment?.(length);
      whole.update(await readSegment(handle, meta, index));
      hooks.afterSegment?.(length);
    }
    const actual = whole.digest();
    if (actual !== meta.xxh64) {
      throw mismatch(
        `Checksum mismatch for chunk ${meta.id} as a whole: expected ${xxh64Hex(meta.xxh64)}, ` +
          `got ${xxh64Hex(actual)}`,
      );
    }
  } finally {
    await handle.close();
  }
}
