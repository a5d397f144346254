/**
 * {@linkcode ChunkWriter}: one replica being written, to a temp file in `<dataDir>/tmp/`.
 *
 * A replica written in one piece (the last frame given to finalise, nothing before it: every
 * small file's) goes to a container of the store's instead (`_containers.ts`) and needs no
 * file. Otherwise the temp file is created by the first write.
 *
 * Bytes are hashed as they arrive: each segment's xxh64 through a streaming hasher (so a
 * segment split across writes needs no copy), and the whole chunk's through another. The whole
 * chunk's is not hashed when it is known otherwise: a chunk in one piece whose xxh64 the
 * caller checked has that xxh64; a writer made with `hashWhole: false` is given it when it is
 * finalised (a pipeline DataNode before the last takes the figure of the last one, which
 * hashed the same checked frames: one pass over every byte fewer on each of them). A chunk
 * of more than one frame is written with direct I/O when the store has it (`_direct_io.ts`):
 * bytes are copied into a 1 MiB aligned block, which goes to disk with `O_DIRECT` each time
 * it fills, and on finalising the last of the data and the metadata and footer
 * (`_chunk_meta.ts`) follow: the aligned part direct, the last partial block through the page
 * cache. Otherwise (a one-frame chunk, whose only write is its last; no direct I/O; no free
 * block) they are appended with positional writes straight from the caller's buffers. Either
 * way the file is fdatasynced once, at the end. The store owns the space reservation and the
 * commit (the rename into place); this file owns the bytes.
 *
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import {
  BigFsError,
  type ByteParts,
  bytePartsLength,
  bytePartsList,
  writeAll,
  writeAllParts,
  Xxh64Stream,
  xxh64,
} from "#protocol";
import { asNoSpace, removeFile } from "./_chunk_layout.js";
import { type ChunkMeta, encodeChunkTrailer } from "./_chunk_meta.js";
import { alignDown, type DirectBuffers, directWriteFlags } from "./_direct_io.js";

/** A finalised replica, as the store lists it. */
export interface ReplicaInfo {
  id: bigint;
  generation: bigint;
  size: number;
  /** xxh64 of the whole chunk. */
  xxh64: bigint;
}

/** What a writer needs from its store. @internal */
export interface WriterHost {
  readonly segmentBytes: number;
  /** Blocks for writing with `O_DIRECT`; undefined when the file system does not take it. */
  readonly direct: DirectBuffers | undefined;
  /** Grows the writer's reservation to cover a chunk of `sizeBytes`; throws `NO_SPACE`. */
  reserve(writer: ChunkWriter, sizeBytes: number): void;
  /** Gives back the writer's reservation and its claim on the id. Idempotent. */
  release(writer: ChunkWriter): void;
  /** Moves the finished temp file (of `fileBytes`) into place and indexes the replica. */
  commit(writer: ChunkWriter, meta: ChunkMeta, fileBytes: number): Promise<ReplicaInfo>;
  /**
   * Stores a replica written in one piece (`parts`: its whole file's bytes) in a container
   * (`_containers.ts`) and indexes it; undefined when the store keeps no containers, or
   * `fileBytes` is more than a container record may hold.
   */
  commitToContainer(
    writer: ChunkWriter,
    meta: ChunkMeta,
    parts: readonly Uint8Array[],
    fileBytes: number,
  ): Promise<ReplicaInfo> | undefined;
  /** Sees every error a write or finalise fails with, and returns it. */
  refused(error: unknown): unknown;
}

type WriterState = "open" | "finalizing" | "finalized" | "failed" | "aborted";

/**
 * Writes one chunk replica. Made by {@linkcode ChunkStore.createWriter}; call
 * {@linkcode ChunkWriter.write} for each piece in order, then {@linkcode ChunkWriter.finalize},
 * or {@linkcode ChunkWriter.abort}. Calls are queued, so a call made while another runs waits.
 */
/** Options for {@linkcode ChunkWriter.write}. */
export interface ChunkWriteOptions {
  /**
   * The xxh64 of `bytes`, when the caller has already verified it (a network frame's). Used as
   * the segment checksum when the write is exactly one aligned segment; never trusted blindly:
   * pass it only for bytes whose hash was just checked.
   */
  xxh64?: bigint;
}

/** Options for {@linkcode ChunkWriter.finalize}. */
export interface ChunkFinalizeOptions extends ChunkWriteOptions {
  /**
   * The xxh64 of the whole chunk, for a writer made with `hashWhole: false`: taken as it is,
   * so only from bytes checked to be the same ones (see `write_pipeline.ts`).
   */
  wholeXxh64?: bigint;
}

export class ChunkWriter {
  /** The chunk id. */
  readonly id: bigint;
  /** The generation being written. */
  readonly generation: bigint;
  /** Temp file path. @internal */
  readonly tempPath: string;

  readonly #host: WriterHost;
  /** The temp file, created by the first write: a replica written in one piece may need none. */
  #handle: FileHandle | undefined;
  readonly #whole = new Xxh64Stream();
  /** False when the whole chunk's xxh64 is given at finalising instead of hashed here. */
  readonly #hashWhole: boolean;
  readonly #segmentXxh64s: bigint[] = [];
  #segment: Xxh64Stream | undefined;
  #segmentFill = 0;
  #size = 0;
  /** Direct writing, once the first write has started it. */
  #direct: DirectWrite | undefined;
  #state: WriterState = "open";
  #tail: Promise<unknown> = Promise.resolve();

  /** @internal Use {@linkcode ChunkStore.createWriter}. */
  constructor(
    host: WriterHost,
    fields: {
      id: bigint;
      generation: bigint;
      tempPath: string;
      hashWhole?: boolean;
    },
  ) {
    this.#host = host;
    this.#hashWhole = fields.hashWhole ?? true;
    this.id = fields.id;
    this.generation = fields.generation;
    this.tempPath = fields.tempPath;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends `bytes`, which the caller has already checked against their network checksum. The
   * caller may reuse `bytes` once this resolves.
   *
   * @throws {BigFsError} `NO_SPACE` when the store's capacity or the disk is full; the writer
   * has then already removed its temp file and released its space.
   */
  write(bytes: ByteParts, options: ChunkWriteOptions = {}): Promise<void> {
    return this.#enqueue(() => this.#write(bytes, options.xxh64));
  }

  /**
   * Makes the replica durable and visible: appends `last` (the chunk's last piece, if the
   * caller kept it for this: it then goes to disk in the same call as the metadata) and the
   * metadata, fdatasyncs the file, renames it into place, fsyncs the folder. A replica that
   * is all in `last` (nothing written before) and small goes to a container instead, durable
   * with the batch it joins. Replaces an older generation.
   *
   * @throws {BigFsError} `INTERNAL` when the writer does not hash the whole chunk and
   * `options.wholeXxh64` is missing for a chunk of more than one piece.
   */
  finalize(last?: ByteParts, options: ChunkFinalizeOptions = {}): Promise<ReplicaInfo> {
    return this.#enqueue(() => this.#finalize(last, options.xxh64, options.wholeXxh64));
  }

  /** Removes the temp files and releases the reservation. Idempotent; a no-op once finalised. */
  abort(): Promise<void> {
    const run = this.#tail.then(() => this.#discard("aborted"));
    this.#tail = run.catch(() => {});
    return run;
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(operation);
    this.#tail = run.catch(() => {});
    return run;
  }

  #assertOpen(action: string): void {
    if (this.#state !== "open") {
      throw new BigFsError(
        "INVALID_ARGUMENT",
        `Cannot ${action} chunk ${this.id}: the writer is ${this.#state}`,
      );
    }
  }

  async #write(bytes: ByteParts, knownXxh64: bigint | undefined): Promise<void> {
    this.#assertOpen("write");
    const byteLength = bytePartsLength(bytes);
    if (byteLength === 0) return;
    try {
      this.#host.reserve(this, this.#size + byteLength);
      const handle = await this.#tempFile();
      if (this.#size === 0) this.#direct = await this.#startDirect();
      if (this.#direct !== undefined) {
        await this.#direct.append(bytePartsList(bytes));
      } else {
        await writeAllParts(handle, bytePartsList(bytes), this.#size);
      }
    } catch (error) {
      await this.#discard("failed");
      throw this.#host.refused(asNoSpace(error, `Cannot write chunk ${this.id}`));
    }
    this.#hash(bytes, byteLength, knownXxh64, this.#hashWhole);
    this.#size += byteLength;
  }

  #hash(
    bytes: ByteParts,
    byteLength: number,
    knownXxh64: bigint | undefined,
    hashWhole: boolean,
  ): void {
    const segmentBytes = this.#host.segmentBytes;
    if (hashWhole) this.#whole.update(bytes);
    // A write that is exactly one aligned segment, whose checksum the caller has verified
    // already (a pipeline frame), is not hashed a second time.
    if (knownXxh64 !== undefined && this.#segmentFill === 0 && byteLength === segmentBytes) {
      this.#segmentXxh64s.push(knownXxh64);
      return;
    }
    for (const part of bytePartsList(bytes)) this.#hashSegments(part);
  }

  #hashSegments(bytes: Uint8Array): void {
    const segmentBytes = this.#host.segmentBytes;
    let offset = 0;
    while (offset < bytes.byteLength) {
      const take = Math.min(segmentBytes - this.#segmentFill, bytes.byteLength - offset);
      const piece = bytes.subarray(offset, offset + take);
      offset += take;
      if (this.#segmentFill === 0 && take === segmentBytes) {
        this.#segmentXxh64s.push(xxh64(piece));
        continue;
      }
      this.#segment ??= new Xxh64Stream();
      this.#segment.update(piece);
      this.#segmentFill += take;
      if (this.#segmentFill === segmentBytes) {
        this.#segmentXxh64s.push(this.#segment.digest());
        this.#segment = undefined;
        this.#segmentFill = 0;
      }
    }
  }

  async #finalize(
    last: ByteParts | undefined,
    knownXxh64: bigint | undefined,
    givenWholeXxh64: bigint | undefined,
  ): Promise<ReplicaInfo> {
    this.#assertOpen("finalize");
    this.#state = "finalizing";
    try {
      const dataEnd = this.#size;
      const tail = last === undefined ? [] : bytePartsList(last);
      const tailBytes = last === undefined ? 0 : bytePartsLength(last);
      // The whole chunk is this one checked piece: its xxh64 is the chunk's.
      const onePiece = dataEnd === 0 && tailBytes > 0 && knownXxh64 !== undefined;
      if (tailBytes > 0) {
        this.#host.reserve(this, dataEnd + tailBytes);
        this.#hash(tail, tailBytes, knownXxh64, this.#hashWhole && !onePiece);
        this.#size += tailBytes;
      }
      const wholeXxh64 = onePiece
        ? knownXxh64
        : this.#hashWhole || this.#size === 0
          ? this.#whole.digest()
          : givenWholeXxh64;
      if (wholeXxh64 === undefined) {
        throw new BigFsError(
          "INTERNAL",
          `Cannot finalize chunk ${this.id}: its writer does not hash the whole chunk, and no xxh64 of it was given`,
        );
      }
      if (this.#segment !== undefined) this.#segmentXxh64s.push(this.#segment.digest());
      this.#segment = undefined;
      const meta: ChunkMeta = {
        id: this.id,
        generation: this.generation,
        sizeBytes: this.#size,
        segmentBytes: this.#host.segmentBytes,
        xxh64: wholeXxh64,
        segmentXxh64s: this.#segmentXxh64s,
      };
      const trailer = encodeChunkTrailer(meta);
      this.#host.reserve(this, this.#size);
      const fileBytes = this.#size + trailer.byteLength;
      // Written in one piece: to a container, when the store has them.
      const contained =
        this.#handle === undefined
          ? this.#host.commitToContainer(this, meta, [...tail, trailer], fileBytes)
          : undefined;
      if (contained !== undefined) {
        const info = await contained;
        this.#state = "finalized";
        return info;
      }
      const handle = await this.#tempFile();
      if (this.#direct !== undefined) {
        await this.#direct.append([...tail, trailer]);
        await this.#direct.finish(handle);
        this.#direct = undefined;
      } else {
        await writeAllParts(handle, [...tail, trailer], dataEnd);
      }
      await handle.datasync();
      await handle.close();
      const info = await this.#host.commit(this, meta, fileBytes);
      this.#state = "finalized";
      return info;
    } catch (error) {
      await this.#discard("failed");
      throw this.#host.refused(asNoSpace(error, `Cannot finalize chunk ${this.id}`));
    }
  }

  /** The temp file, created on first use. */
  async #tempFile(): Promise<FileHandle> {
    this.#handle ??= await open(this.tempPath, "wx");
    return this.#handle;
  }

  /** Direct writing from the start of the file, if the store has it and a block is free. */
  async #startDirect(): Promise<DirectWrite | undefined> {
    const buffers = this.#host.direct;
    const block = buffers?.take();
    if (buffers === undefined || block === undefined) return undefined;
    try {
      const handle = await open(this.tempPath, directWriteFlags);
      return new DirectWrite(buffers, block, handle);
    } catch {
      // The probe said direct I/O works here; should this file not take it, write buffered.
      buffers.give(block);
      return undefined;
    }
  }

  /** Closes and removes the temp files and gives the space back, once. */
  async #discard(state: "failed" | "aborted"): Promise<void> {
    if (this.#state === "finalized" || this.#state === "failed" || this.#state === "aborted") {
      return;
    }
    this.#state = state;
    try {
      await this.#direct?.close();
      this.#direct = undefined;
      if (this.#handle !== undefined) {
        await this.#handle.close().catch(() => {});
        await removeFile(this.tempPath);
      }
    } finally {
      this.#host.release(this);
    }
  }
}

/**
 * The direct-I/O side of a writer: bytes are staged in an aligned block and written with
 * `O_DIRECT` a whole block at a time, from the start of the file.
 */
class DirectWrite {
  readonly #buffers: DirectBuffers;
  readonly #handle: FileHandle;
  #block: Buffer | undefined;
  /** Bytes staged in the block. */
  #staged = 0;
  /** Where in the file the block's first byte goes. */
  #position = 0;

  constructor(buffers: DirectBuffers, block: Buffer, handle: FileHandle) {
    this.#buffers = buffers;
    this.#block = block;
    this.#handle = handle;
  }

  /** Stages `parts`, writing the block out each time it fills. */
  async append(parts: readonly Uint8Array[]): Promise<void> {
    const block = this.#block!;
    for (const part of parts) {
      let offset = 0;
      while (offset < part.byteLength) {
        const take = Math.min(block.byteLength - this.#staged, part.byteLength - offset);
        block.set(part.subarray(offset, offset + take), this.#staged);
        this.#staged += take;
        offset += take;
        if (this.#staged === block.byteLength) await this.#flush(block.byteLength);
      }
    }
  }

  /**
   * Writes what is staged: its aligned part direct, the rest (less than one alignment unit,
   * the file's end) through `buffered`, which is not opened `O_DIRECT`. Then gives the block
   * back and closes the direct handle; the caller fdatasyncs.
   */
  async finish(buffered: FileHandle): Promise<void> {
    const block = this.#block!;
    const aligned = alignDown(this.#staged);
    if (aligned > 0) await this.#flush(aligned);
    if (this.#staged > 0) {
      // At most one alignment unit: the end of the file, written through the page cache.
      await writeAll(buffered, block.subarray(0, this.#staged), this.#position);
      this.#position += this.#staged;
      this.#staged = 0;
    }
    await this.close();
  }

  /** Gives the block back and closes the direct handle. Idempotent. */
  async close(): Promise<void> {
    const block = this.#block;
    if (block === undefined) return;
    this.#block = undefined;
    this.#buffers.give(block);
    await this.#handle.close().catch(() => {});
  }

  /** Writes the block's first `length` bytes (aligned) and moves what follows to its start. */
  async #flush(length: number): Promise<void> {
    const block = this.#block!;
    await this.#buffers.write(this.#handle, block, length, this.#position);
    this.#position += length;
    const rest = this.#staged - length;
    if (rest > 0) block.copyWithin(0, length, this.#staged);
    this.#staged = rest;
  }
}
