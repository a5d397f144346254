/**
 * READ_CHUNK: streams a range of a replica to the requester in DATA frames, straight from the
 * chunk store's verified pieces (each piece's xxh64 goes into its frame header as it is, no
 * second hash), waiting on the socket between frames so a slow reader slows the disk reads.
 * The last frame is marked `end`; an empty range is one empty `end` frame.
 *
 * A replica of another generation than the request's is refused with `STALE_GENERATION`:
 * either this replica missed an update (the NameNode will have it deleted) or the reader's
 * chunk list is out of date; either way the reader should try another replica. Bytes that
 * fail their checksum on disk stop the read with `CHECKSUM_MISMATCH` and are reported to the
 * NameNode as a corrupt replica; other chunks are served as before.
 */
import {
  BigFsError,
  bytePartsLength,
  type DataToSend,
  type IncomingRequest,
  isBigFsError,
  type Logger,
  type ResponseOf,
  xxh64,
} from "#protocol";
import { checkChunkToken } from "./_chunk_token_check.js";
import { type DataNodeRef, describeDataNode, namingDataNode } from "./_naming.js";
import type { ChunkStore, ReadPiece } from "./chunk_store.js";

/** What a {@linkcode ReadService} works with. */
export interface ReadServiceOptions {
  store: ChunkStore;
  /** The cluster secret, which chunk tokens are checked against. */
  secret: Uint8Array;
  /** This DataNode. */
  self: DataNodeRef;
  logger: Logger;
  /** Called when a read finds a replica's bytes corrupt on disk. */
  onCorrupt: (chunk: { id: bigint; generation: bigint }, reason: string) => void;
}

// The frame payload bound is 16 MiB; a store piece larger than this is sent in parts.
const frameDataBytesMax = 8 * 1024 * 1024;

/** Serves READ_CHUNK requests. */
export class ReadService {
  readonly #options: ReadServiceOptions;
  #active = 0;

  constructor(options: ReadServiceOptions) {
    this.#options = options;
  }

  /** Reads in progress now. */
  get activeReads(): number {
    return this.#active;
  }

  /** Serves one READ_CHUNK request. */
  async handle(request: IncomingRequest<"READ_CHUNK">): Promise<ResponseOf<"READ_CHUNK">> {
    const { store, secret, self } = this.#options;
    const { chunkId, generation, token, offset, length } = request.body;
    try {
      checkChunkToken(
        token,
        { chunkId, operation: "read", generation },
        { secret, self, remote: request.remote, logger: this.#options.logger },
      );
      const replica = store.get(chunkId);
      if (replica === undefined) {
        throw new BigFsError("NOT_FOUND", `Cannot read chunk ${chunkId}: no replica here`);
      }
      if (replica.generation !== generation) {
        throw new BigFsError(
          "STALE_GENERATION",
          `Cannot read chunk ${chunkId} generation ${generation}: the replica here has ` +
            `generation ${replica.generation}`,
        );
      }
      if (offset > replica.size) {
        throw new BigFsError(
          "INVALID_ARGUMENT",
          `Cannot read chunk ${chunkId} from offset ${offset}: it holds ${replica.size} bytes`,
        );
      }
      const rangeBytes = Math.min(length, replica.size - offset);
      this.#active += 1;
      try {
        const bytesSent = await this.#stream(request, offset, rangeBytes);
        return { bytesSent };
      } finally {
        this.#active -= 1;
      }
    } catch (error) {
      if (isBigFsError(error, "CHECKSUM_MISMATCH")) {
        this.#options.logger.error(
          { chunkId, generation, err: error },
          "corrupt replica found by a read",
        );
        this.#options.onCorrupt({ id: chunkId, generation }, `read: ${error.message}`);
      }
      throw namingDataNode(error, self);
    }
  }

  async #stream(
    request: IncomingRequest<"READ_CHUNK">,
    offset: number,
    rangeBytes: number,
  ): Promise<number> {
    const { chunkId } = request.body;
    let held: DataToSend | undefined;
    let bytesSent = 0;
    if (rangeBytes > 0) {
      const pieces = this.#options.store.read(chunkId, { offset, length: rangeBytes });
      for await (const piece of pieces) {
        for (const frame of framesOf(chunkId, piece)) {
          // One frame is held back so the last one can carry `end`.
          if (held !== undefined) await this.#send(request, held);
          if (held !== undefined) bytesSent += bytePartsLength(held.bytes);
          held = frame;
        }
      }
    }
    const last = held ?? {
      chunkId,
      offset: BigInt(offset),
      bytes: new Uint8Array(0),
      xxh64: xxh64(new Uint8Array(0)),
    };
    await this.#send(request, { ...last, end: true });
    bytesSent += bytePartsLength(last.bytes);
    if (bytesSent !== rangeBytes) {
      throw new BigFsError(
        "INTERNAL",
        `Cannot read chunk ${chunkId}: sent ${bytesSent} bytes of a ${rangeBytes}-byte range`,
      );
    }
    return bytesSent;
  }

  async #send(request: IncomingRequest<"READ_CHUNK">, data: DataToSend): Promise<void> {
    if (request.signal.aborted) {
      throw new BigFsError(
        "UNAVAILABLE",
        `${describeDataNode(this.#options.self)}: read of chunk ${data.chunkId} was cancelled`,
      );
    }
    await request.sendData(data);
  }
}

function* framesOf(chunkId: bigint, piece: ReadPiece): Generator<DataToSend> {
  if (piece.bytes.byteLength <= frameDataBytesMax) {
    yield { chunkId, offset: BigInt(piece.offset), bytes: piece.bytes, xxh64: piece.xxh64 };
    return;
  }
  // Rare: only a store with pieces larger than a frame gets here, and pays a second hash.
  for (let start = 0; start < piece.bytes.byteLength; start += frameDataBytesMax) {
    const bytes = piece.bytes.subarray(start, start + frameDataBytesMax);
    yield { chunkId, offset: BigInt(piece.offset + start), bytes, xxh64: xxh64(bytes) };
  }
}
