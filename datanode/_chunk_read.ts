/**
 * Reading a finalised chunk replica back from disk, checking every byte against the
 * checksums stored after its data (format: `_chunk_meta.ts`).
 *
 * A small replica (up to {@linkcode wholeReadBytesMax}) is read with one positional read of the
 * whole file: data, metadata and footer at once; a very small one (up to
 * {@linkcode blockingReadBytesMax}) with blocking calls, see there. A larger one has its footer and metadata read
 * first, then its data segment by segment into a buffer of one segment, fresh for each, one
 * segment read ahead of the consumer: the consumer owns every piece it is given (it may still
 * be queued on a socket when the next one is read), and memory per read stays at the segments
 * the consumer has not let go of plus one, since reading is pulled by the consumer. With
 * direct I/O (`_direct_io.ts`), and segments that start aligned, a segment is read with
 * `O_DIRECT` into a pooled aligned block and copied out of it: the chunks were written past
 * the page cache, and reading them through it would fill fresh pages for bytes read once.
 *
 * @module
 */
import { closeSync, openSync, readSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { BigFsError, Xxh64Stream, xxh64, xxh64Hex } from "#protocol";
import { isNotFound } from "./_chunk_layout.js";
import { type ChunkMeta, decodeChunkFooter, decodeChunkMeta, footerBytes } from "./_chunk_meta.js";
import {
  alignUp,
  type DirectBuffers,
  directAlignBytes,
  directBlockBytes,
  directReadFlags,
} from "./_direct_io.js";

/** How much of a file's end is read to find its footer and metadata at once. */
const tailReadBytes = 8 * 1024;

/**
 * Segments read ahead of the consumer with direct I/O, which has no kernel read-ahead to hide
 * the disk's latency; through the page cache one is enough.
 */
const directReadAhead = 3;

/** Replicas whose whole file is at most this long are read in one go. */
export const wholeReadBytesMax = 1024 * 1024;

/**
 * Replicas whose whole file is at most this long are read with blocking system calls on the
 * event loop's thread, not through libuv's thread pool. Each thread-pool call is a hand-off
 * to a worker thread and back (a futex wake, an eventfd wake, a context switch each way):
 * open, read and close of a 4 KiB replica that way cost about three times the CPU of the same
 * three calls made directly, and that was the largest part of serving a small file. A file
 * this small is one read; from the page cache it takes microseconds, and from a cold disk it
 * holds the event loop for at most one small random read.
 */
export const blockingReadBytesMax = 64 * 1024;

/** What the store's index says a replica is; its metadata must agree. */
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

/**
 * A replica's file with its metadata checked: open, or already read whole and closed (a small
 * replica, when the caller asked for that).
 */
export interface OpenReplica {
  /** Undefined once the whole file is in `contents`. */
  handle: FileHandle | undefined;
  meta: ChunkMeta;
  /** Length of the whole file. */
  fileBytes: number;
  /** The whole file, when it was small enough to be read at once. */
  contents: Buffer | undefined;
  /** The file opened again for direct reads of its segments, when they can be. */
  direct: { buffers: DirectBuffers; handle: FileHandle } | undefined;
}

function mismatch(message: string): BigFsError {
  return new BigFsError("CHECKSUM_MISMATCH", message);
}

/** Reads `length` bytes at `position` into a new buffer; fewer at the end of the file. */
async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/**
 * Reads and checks the metadata at the end of a replica's file of `fileBytes`. `whole` is the
 * whole file when the caller has it already.
 */
async function readMeta(
  handle: FileHandle | undefined,
  fileBytes: number,
  whole: Buffer | undefined,
  what: string,
): Promise<ChunkMeta> {
  if (whole) return metaOfWhole(whole, what);
  // One read of the file's end holds the footer and, for chunks up to about 256 MiB in 256 KiB
  // segments, all of the metadata; a longer metadata costs a second read.
  const tailStart = Math.max(0, fileBytes - tailReadBytes);
  const tail = await readAt(handle!, tailStart, fileBytes - tailStart);
  const metaStart = decodeChunkFooter(tail.subarray(-footerBytes), fileBytes, what);
  const metaEnd = fileBytes - footerBytes;
  const metaBytes =
    metaStart >= tailStart
      ? tail.subarray(metaStart - tailStart, metaEnd - tailStart)
      : await readAt(handle!, metaStart, metaEnd - metaStart);
  return checkedMeta(metaBytes, metaStart, what);
}

/** The metadata of a replica file whose bytes are all in `whole` (a container's record). */
export function metaOfWhole(whole: Uint8Array, what: string): ChunkMeta {
  const metaStart = decodeChunkFooter(whole.subarray(-footerBytes), whole.byteLength, what);
  return checkedMeta(whole.subarray(metaStart, whole.byteLength - footerBytes), metaStart, what);
}

/** Decodes metadata that the footer placed at `metaStart`, where its data must end. */
function checkedMeta(metaBytes: Uint8Array, metaStart: number, what: string): ChunkMeta {
  const meta = decodeChunkMeta(metaBytes, what);
  if (meta.sizeBytes !== metaStart) {
    throw mismatch(
      `Cannot read metadata of ${what}: it says ${meta.sizeBytes} bytes, the footer ${metaStart}`,
    );
  }
  return meta;
}

/**
 * Opens a replica's file and checks its metadata against `expected`. `fileBytes` is the file's
 * length when the caller knows it (saving an fstat); `readWhole` reads a small file in one go
 * and closes it at once. The caller closes a handle that is left open. A missing file's
 * `ENOENT` is left for the caller.
 */
export async function openReplica(
  path: string,
  expected: ReplicaIdentity,
  options: {
    readWhole: boolean;
    fileBytes?: number | undefined;
    /** Blocks for reading segments direct; without them, or a free one, through the cache. */
    direct?: DirectBuffers | undefined;
  },
): Promise<OpenReplica> {
  const what = `chunk ${expected.id}`;
  const { fileBytes: knownBytes } = options;
  if (options.readWhole && knownBytes !== undefined && knownBytes <= blockingReadBytesMax) {
    const contents = readSmallFile(path, knownBytes);
    const meta = await readMeta(undefined, contents.byteLength, contents, what);
    checkIdentity(meta, expected, what);
    return { handle: undefined, meta, fileBytes: contents.byteLength, contents, direct: undefined };
  }
  const handle = await open(path, "r");
  let stillOpen: FileHandle | undefined = handle;
  try {
    const fileBytes = options.fileBytes ?? (await handle.stat()).size;
    let contents: Buffer | undefined;
    if (options.readWhole && fileBytes <= wholeReadBytesMax) {
      contents = await readAt(handle, 0, fileBytes);
      stillOpen = undefined;
      closeQuietly(handle);
    }
    const meta = await readMeta(stillOpen, fileBytes, contents, what);
    checkIdentity(meta, expected, what);
    let direct: OpenReplica["direct"];
    const buffers = options.direct;
    // Only segments that fit a block: a larger one could never be read direct, yet would
    // take and give back a block for every segment and read three ahead for nothing.
    const fits =
      meta.segmentBytes % directAlignBytes === 0 && meta.segmentBytes <= directBlockBytes;
    if (stillOpen && buffers && fits) {
      // Should this file refuse O_DIRECT where the probe's did not, it is read through the cache.
      const directHandle = await open(path, directReadFlags).catch((error: unknown) => {
        if (isNotFound(error)) throw error;
        return undefined;
      });
      if (directHandle) direct = { buffers, handle: directHandle };
    }
    return { handle: stillOpen, meta, fileBytes, contents, direct };
  } catch (error) {
    await stillOpen?.close();
    throw error;
  }
}

/** Throws `CHECKSUM_MISMATCH` unless the replica's metadata describes what the index says. */
function checkIdentity(meta: ChunkMeta, expected: ReplicaIdentity, what: string): void {
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
}

/**
 * The whole of a small file, read without the thread pool: open, one read and close as plain
 * system calls on this thread. Fewer bytes than `fileBytes` when the file is shorter.
 */
function readSmallFile(path: string, fileBytes: number): Buffer {
  const fd = openSync(path, "r");
  try {
    return readAtSync(fd, fileBytes, 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads `length` bytes at `position` of `fd` with blocking calls into a new buffer; fewer at
 * the end of the file (a check of what they should hold then fails).
 */
export function readAtSync(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const bytesRead = readSync(fd, buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/**
 * Closes a file only read from, without waiting: nothing depends on when it ends, and a
 * failure to close a read-only file loses nothing.
 */
function closeQuietly(handle: FileHandle): void {
  handle.close().catch(() => {});
}

/**
 * Reads the metadata of the replica file at `path` without knowing what it should say (the
 * start-up scan). The length of the file comes back with it.
 */
export async function readReplicaMeta(
  path: string,
  what: string,
): Promise<{ meta: ChunkMeta; fileBytes: number }> {
  const handle = await open(path, "r");
  try {
    const { size: fileBytes } = await handle.stat();
    return { meta: await readMeta(handle, fileBytes, undefined, what), fileBytes };
  } finally {
    await handle.close();
  }
}

/** Segment `index` of the replica, read (or cut from the whole file) and checked. */
async function readSegment(replica: OpenReplica, index: number): Promise<Uint8Array> {
  const { meta } = replica;
  const start = index * meta.segmentBytes;
  const length = Math.min(meta.segmentBytes, meta.sizeBytes - start);
  const segment = replica.contents
    ? replica.contents.subarray(start, start + length)
    : ((await readDirect(replica, start, length)) ??
      (await readAt(replica.handle!, start, length)));
  const expected = meta.segmentXxh64s[index]!;
  const actual = xxh64(segment);
  if (actual !== expected) {
    throw mismatch(
      `Checksum mismatch for chunk ${meta.id} segment ${index} (offset ${start}): ` +
        `expected ${xxh64Hex(expected)}, got ${xxh64Hex(actual)}`,
    );
  }
  return segment;
}

/**
 * Reads `length` bytes at `start` (aligned) with direct I/O into a new buffer, through a pooled
 * block; undefined when the replica is not open for direct reads or no block is free.
 */
async function readDirect(
  replica: OpenReplica,
  start: number,
  length: number,
): Promise<Buffer | undefined> {
  const direct = replica.direct;
  const wanted = alignUp(length);
  if (direct === undefined || wanted > directBlockBytes) return undefined;
  const block = direct.buffers.take();
  if (block === undefined) return undefined;
  try {
    const filled = await direct.buffers.read(direct.handle, block, wanted, start);
    return Buffer.from(block.subarray(0, Math.min(filled, length)));
  } finally {
    direct.buffers.give(block);
  }
}

/** Closes what a replica holds open, without waiting. */
function closeReplica(replica: OpenReplica): void {
  if (replica.handle) closeQuietly(replica.handle);
  if (replica.direct) closeQuietly(replica.direct.handle);
}

/**
 * Yields bytes `[offset, end)` of the chunk in pieces that follow segment borders, each checked
 * against its segment's stored checksum; a piece that is a whole segment carries that checksum.
 * Closes the replica's handle when done.
 */
export async function* readPieces(
  replica: OpenReplica,
  offset: number,
  end: number,
): AsyncGenerator<Piece> {
  const { meta } = replica;
  // The next segments are read while the consumer sends this one: a few ahead at most.
  const depth = replica.direct ? directReadAhead : 1;
  const ahead: Promise<Uint8Array>[] = [];
  try {
    if (end <= offset) return;
    const first = Math.floor(offset / meta.segmentBytes);
    const last = Math.floor((end - 1) / meta.segmentBytes);
    let nextRead = first;
    const readNext = () => {
      const read = readSegment(replica, nextRead++);
      read.catch(() => {});
      ahead.push(read);
    };
    readNext();
    for (let index = first; index <= last; index++) {
      while (nextRead <= last && ahead.length <= depth) readNext();
      const segment = await ahead.shift()!;
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
    // A consumer that stopped early leaves reads in flight: let them end before closing.
    await Promise.allSettled(ahead);
    closeReplica(replica);
  }
}

/**
 * Re-reads a whole replica: its metadata (closing checksum, agreement with the index), every
 * segment, and the whole-chunk checksum.
 *
 * @throws {BigFsError} `CHECKSUM_MISMATCH` at the first thing that is wrong.
 */
export async function verifyReplica(
  path: string,
  expected: ReplicaIdentity,
  hooks: VerifyHooks = {},
  direct?: DirectBuffers,
): Promise<void> {
  const replica = await openReplica(path, expected, { readWhole: false, direct });
  try {
    await verifyOpen(replica, hooks);
  } finally {
    // Both, whatever the first does: one failing to close must not leak the other.
    await Promise.allSettled([replica.handle?.close(), replica.direct?.handle.close()]);
  }
}

/**
 * A replica whose whole file's bytes the caller has (a container record's payload), with its
 * metadata checked against `expected`, as {@linkcode openReplica} would return it.
 */
export async function replicaFromBytes(
  contents: Buffer,
  expected: ReplicaIdentity,
): Promise<OpenReplica> {
  const what = `chunk ${expected.id}`;
  const meta = metaOfWhole(contents, what);
  checkIdentity(meta, expected, what);
  return { handle: undefined, meta, fileBytes: contents.byteLength, contents, direct: undefined };
}

/** Every segment of an open replica and its whole-chunk checksum, checked. */
export async function verifyOpen(replica: OpenReplica, hooks: VerifyHooks = {}): Promise<void> {
  const { meta } = replica;
  const whole = new Xxh64Stream();
  for (let index = 0; index < meta.segmentXxh64s.length; index++) {
    const length = Math.min(meta.segmentBytes, meta.sizeBytes - index * meta.segmentBytes);
    await hooks.beforeSegment?.(length);
    whole.update(await readSegment(replica, index));
    hooks.afterSegment?.(length);
  }
  const actual = whole.digest();
  if (actual !== meta.xxh64) {
    throw mismatch(
      `Checksum mismatch for chunk ${meta.id} as a whole: expected ${xxh64Hex(meta.xxh64)}, ` +
        `got ${xxh64Hex(actual)}`,
    );
  }
}
