/**
 * Cuts an upload's bytes into chunks of DATA frames. Each frame's xxh64 is computed once here,
 * and the whole chunk's xxh64 with a streaming hasher as its frames are cut, so a chunk that is
 * sent again through a new pipeline is never hashed again.
 *
 * Bytes are pulled from the source only when the next chunk is asked for, so the source is
 * read no faster than chunks are sent. A frame is a view of the source's own buffer when it
 * lies within one piece (a file read with `highWaterMark` equal to the frame size is never
 * copied); a frame that spans pieces is copied once into a buffer of its own.
 */
import { BigFsError, Xxh64Stream, xxh64 } from "#protocol";

/** One DATA frame of a chunk. */
export interface ChunkFrame {
  /** Byte offset of `bytes` within the chunk. */
  offset: number;
  bytes: Uint8Array;
  /** xxh64 of `bytes`. */
  xxh64: bigint;
  /**
   * Gives `bytes` back to the source for a later frame; call it once nothing reads them any
   * more (the socket wrote them), or never. Absent when the bytes are not the source's to reuse.
   */
  release?: () => void;
}

/** One chunk of an upload, ready to send and to send again. */
export interface ChunkData {
  /** Place of the chunk in the file, from 0. */
  index: number;
  /** Byte offset of the chunk within the file. */
  fileOffset: number;
  sizeBytes: number;
  /**
   * xxh64 of the whole chunk. Known once {@linkcode ChunkData.frames} has been read through
   * once (a chunk held in memory knows it from the start); reading it earlier is a bug.
   */
  readonly xxh64: bigint;
  /**
   * The chunk's frames in order, every time it is called: from memory, or read again from
   * the source file (`file_chunk_source.ts`). May fail with a {@linkcode SourceError}.
   */
  frames(): AsyncIterable<ChunkFrame>;
  /**
   * True when the source ended within this chunk, so no chunk follows. (A source that ends
   * exactly at a chunk border is found out only by the next call, which then gives nothing.)
   */
  last: boolean;
}

/**
 * The upload's own source failed (a local file that changed or could not be read while it was
 * uploaded): no DataNode is at fault and no new pipeline can help, so the upload fails.
 */
export class SourceError extends BigFsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("INVALID_ARGUMENT", message, options);
    this.name = "SourceError";
  }
}

/**
 * Pulls chunks from a byte stream, one at a time. Each chunk holds its bytes until it is
 * dropped, since a stream cannot be read twice: an upload keeps at most its window of them.
 */
export class ChunkSource {
  readonly #pieces: AsyncIterator<unknown>;
  readonly #chunkSizeBytes: number;
  readonly #frameBytes: number;
  #leftover: Uint8Array | undefined;
  #ended = false;
  #index = 0;
  #fileOffset = 0;

  constructor(source: AsyncIterable<unknown>, chunkSizeBytes: number, frameBytes: number) {
    if (!(chunkSizeBytes >= 1 && frameBytes >= 1)) {
      throw new RangeError(
        `Cannot cut chunks: chunk size ${chunkSizeBytes} and frame size ${frameBytes} must be ≥ 1`,
      );
    }
    this.#pieces = source[Symbol.asyncIterator]();
    this.#chunkSizeBytes = chunkSizeBytes;
    this.#frameBytes = frameBytes;
  }

  /** Bytes taken from the source so far. */
  get bytesRead(): number {
    return this.#fileOffset;
  }

  /** The next chunk, or `undefined` once the source has ended (an empty chunk never comes). */
  async next(): Promise<ChunkData | undefined> {
    const frames: ChunkFrame[] = [];
    const hasher = new Xxh64Stream();
    let sizeBytes = 0;
    while (sizeBytes < this.#chunkSizeBytes) {
      const wanted = Math.min(this.#frameBytes, this.#chunkSizeBytes - sizeBytes);
      const bytes = await this.#take(wanted);
      if (bytes.byteLength === 0) break;
      frames.push({ offset: sizeBytes, bytes, xxh64: xxh64(bytes) });
      hasher.update(bytes);
      sizeBytes += bytes.byteLength;
      if (bytes.byteLength < wanted) break;
    }
    if (sizeBytes === 0) return undefined;
    const chunk: ChunkData = {
      index: this.#index++,
      fileOffset: this.#fileOffset,
      sizeBytes,
      xxh64: hasher.digest(),
      frames: async function* () {
        yield* frames;
      },
      last: this.#ended && this.#leftover === undefined,
    };
    this.#fileOffset += sizeBytes;
    return chunk;
  }

  /** Stops reading the source (an upload that failed); safe to call more than once. */
  async close(): Promise<void> {
    this.#ended = true;
    this.#leftover = undefined;
    await this.#pieces.return?.();
  }

  /** Up to `wanted` bytes; fewer only at the end of the source. */
  async #take(wanted: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < wanted) {
      const piece = this.#leftover ?? (await this.#pull());
      if (piece === undefined) break;
      const used = Math.min(piece.byteLength, wanted - got);
      parts.push(used === piece.byteLength ? piece : piece.subarray(0, used));
      this.#leftover = used === piece.byteLength ? undefined : piece.subarray(used);
      got += used;
    }
    if (parts.length === 1) return parts[0]!;
    return Buffer.concat(parts, got);
  }

  async #pull(): Promise<Uint8Array | undefined> {
    while (!this.#ended) {
      const result = await this.#pieces.next();
      if (result.done) {
        this.#ended = true;
        return undefined;
      }
      const piece = asBytes(result.value);
      if (piece.byteLength > 0) return piece;
    }
    return undefined;
  }
}

function asBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return Buffer.from(value, "utf8");
  throw new TypeError(
    `Cannot upload: the source gave a ${typeof value}, not bytes (is it in object mode?)`,
  );
}

/**
 * Whether `source` gives any bytes, found out by reading up to its first non-empty piece, and
 * the source to read from then on (that piece first). Nothing is lost or read twice.
 */
export async function peekNonEmpty(
  source: AsyncIterable<unknown>,
): Promise<{ empty: boolean; source: AsyncIterable<unknown> }> {
  const iterator = source[Symbol.asyncIterator]();
  const held: unknown[] = [];
  let empty = true;
  for (;;) {
    const result = await iterator.next();
    if (result.done) break;
    held.push(result.value);
    const value = result.value as { length?: unknown } | null;
    // Anything that is not empty bytes or an empty string counts: ChunkSource names a bad type.
    if (!(typeof value?.length === "number" && value.length === 0)) {
      empty = false;
      break;
    }
  }
  const replay: AsyncIterator<unknown> = {
    next: () =>
      held.length > 0
        ? Promise.resolve({ done: false, value: held.shift() })
        : empty
          ? Promise.resolve({ done: true, value: undefined })
          : iterator.next(),
    return: async () => {
      held.length = 0;
      return (await iterator.return?.()) ?? { done: true, value: undefined };
    },
  };
  return { empty, source: { [Symbol.asyncIterator]: () => replay } };
}
