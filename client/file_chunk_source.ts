/**
 * Cuts an upload from a local file into chunks that hold none of their bytes. A chunk is a
 * range of the file; every pass over its frames reads them from the file at their positions,
 * a frame at a time (one ahead), as the pipeline takes them. So a chunk in flight costs the frames on
 * their way to the socket, not the chunk, and a chunk sent again through a new pipeline is read
 * again rather than kept in memory for the whole of its first attempt (HDFS's client keeps
 * packets until they are acknowledged; a file can be read again for free).
 *
 * Full frames are read into buffers that come back once the socket has written them
 * ({@linkcode ChunkFrame.release}) and are read into again. A fresh buffer per frame cost a
 * 1 GiB upload 46 full garbage collections, set off by the ArrayBuffer bytes alone, and about
 * a sixth of the client's CPU; reused buffers also stay in the CPU cache.
 *
 * The file's size is taken when the upload starts, and the file must not change while it is
 * uploaded: a pass that reads fewer bytes, or bytes whose xxh64 differs from the first pass's,
 * fails with a {@linkcode SourceError} rather than storing a chunk the first pass did not see.
 */
import type { FileHandle } from "node:fs/promises";
import { Xxh64Stream, xxh64 } from "#protocol";
import { type ChunkData, type ChunkFrame, SourceError } from "./chunk_source.js";

/** Frame buffers kept for reuse by one upload, at most: 8 MiB with 256 KiB frames. */
const framePoolMax = 32;

/** Frame-sized buffers an upload's writes have given back, for its next reads. */
class FramePool {
  readonly frameBytes: number;
  readonly #free: Buffer[] = [];

  constructor(frameBytes: number) {
    this.frameBytes = frameBytes;
  }

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.frameBytes);
  }

  give(bytes: Buffer): void {
    if (this.#free.length < framePoolMax) this.#free.push(bytes);
  }
}

/** A regular local file an upload reads from, and its size when the upload started. */
export class FileSource {
  readonly handle: FileHandle;
  readonly sizeBytes: number;
  /** The file's name, for messages. */
  readonly path: string;

  constructor(handle: FileHandle, sizeBytes: number, path: string) {
    this.handle = handle;
    this.sizeBytes = sizeBytes;
    this.path = path;
  }
}

/** Hands out the chunks of a {@linkcode FileSource}, in order. */
export class FileChunkSource {
  readonly #source: FileSource;
  readonly #chunkSizeBytes: number;
  readonly #pool: FramePool;
  #index = 0;
  #fileOffset = 0;

  constructor(source: FileSource, chunkSizeBytes: number, frameBytes: number) {
    if (!(chunkSizeBytes >= 1 && frameBytes >= 1)) {
      throw new RangeError(
        `Cannot cut chunks: chunk size ${chunkSizeBytes} and frame size ${frameBytes} must be ≥ 1`,
      );
    }
    this.#source = source;
    this.#chunkSizeBytes = chunkSizeBytes;
    this.#pool = new FramePool(frameBytes);
  }

  /** Bytes of the chunks handed out so far. */
  get bytesRead(): number {
    return this.#fileOffset;
  }

  /** The next chunk, or `undefined` after the last. */
  async next(): Promise<ChunkData | undefined> {
    const remaining = this.#source.sizeBytes - this.#fileOffset;
    if (remaining <= 0) return undefined;
    const sizeBytes = Math.min(this.#chunkSizeBytes, remaining);
    const chunk = new FileChunk(this.#source, this.#pool, {
      index: this.#index++,
      fileOffset: this.#fileOffset,
      sizeBytes,
      last: sizeBytes === remaining,
    });
    this.#fileOffset += sizeBytes;
    return chunk;
  }

  /** Nothing to release: the caller owns the file handle. */
  async close(): Promise<void> {}
}

class FileChunk implements ChunkData {
  readonly index: number;
  readonly fileOffset: number;
  readonly sizeBytes: number;
  readonly last: boolean;
  readonly #source: FileSource;
  readonly #pool: FramePool;
  readonly #frameBytes: number;
  #xxh64: bigint | undefined;

  constructor(
    source: FileSource,
    pool: FramePool,
    fields: { index: number; fileOffset: number; sizeBytes: number; last: boolean },
  ) {
    this.#source = source;
    this.#pool = pool;
    this.#frameBytes = pool.frameBytes;
    this.index = fields.index;
    this.fileOffset = fields.fileOffset;
    this.sizeBytes = fields.sizeBytes;
    this.last = fields.last;
  }

  get xxh64(): bigint {
    if (this.#xxh64 === undefined) {
      throw new Error(`Bug: the xxh64 of chunk ${this.index} was asked before it was read`);
    }
    return this.#xxh64;
  }

  async *frames(): AsyncGenerator<ChunkFrame> {
    const hasher = new Xxh64Stream();
    // One frame is read ahead while the one before goes to the socket, as a file stream with
    // a frame-sized highWaterMark would: the disk and the network overlap.
    let reading = this.#readFrame(0);
    try {
      for (let offset = 0; offset < this.sizeBytes; offset += this.#frameBytes) {
        const bytes = await reading;
        const nextOffset = offset + this.#frameBytes;
        if (nextOffset < this.sizeBytes) reading = this.#readFrame(nextOffset);
        hasher.update(bytes);
        const pooled = bytes.byteLength === this.#frameBytes;
        yield {
          offset,
          bytes,
          xxh64: xxh64(bytes),
          ...(pooled ? { release: () => this.#pool.give(bytes) } : {}),
        };
      }
    } finally {
      // A pass stopped early (its pipeline failed) leaves no read to fail unheard.
      reading.catch(() => {});
    }
    const digest = hasher.digest();
    if (this.#xxh64 === undefined) this.#xxh64 = digest;
    else if (digest !== this.#xxh64) {
      throw this.#changed(`bytes ${this.fileOffset}..${this.fileOffset + this.sizeBytes} differ`);
    }
  }

  /** The frame at `offset` within the chunk, in a buffer of its own (a pooled one if full). */
  async #readFrame(offset: number): Promise<Buffer> {
    const frameBytes = Math.min(this.#frameBytes, this.sizeBytes - offset);
    const bytes =
      frameBytes === this.#frameBytes ? this.#pool.take() : Buffer.allocUnsafeSlow(frameBytes);
    await this.#readFully(bytes, this.fileOffset + offset);
    return bytes;
  }

  async #readFully(bytes: Buffer, position: number): Promise<void> {
    let filled = 0;
    while (filled < bytes.byteLength) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.#source.handle.read(
          bytes,
          filled,
          bytes.byteLength - filled,
          position + filled,
        ));
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        throw new SourceError(`Cannot read ${this.#source.path}: ${reason}`, { cause: error });
      }
      if (bytesRead === 0) throw this.#changed(`it ends before byte ${position + filled + 1}`);
      filled += bytesRead;
    }
  }

  #changed(detail: string): SourceError {
    return new SourceError(
      `Cannot upload ${this.#source.path}: the file changed while it was uploaded: ${detail}`,
    );
  }
}
