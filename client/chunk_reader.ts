/**
 * One read of one chunk (or a range of it) from one replica: READ_CHUNK, and every DATA frame
 * checked before its bytes are kept: the right chunk, the next offset, its xxh64, never more
 * bytes than asked for. A read of the whole chunk is also checked end to end: the bytes'
 * xxh64 must equal the one the writer committed to the NameNode (OPEN's `xxh64`).
 *
 * A read of part of a chunk cannot be checked against the whole chunk's xxh64; it relies on
 * the per-frame xxh64s, which the DataNode takes from segments it verified against their
 * stored checksums as it read them from disk (and re-hashes only for a partial segment), so
 * corruption on disk or on the wire still shows as a mismatch.
 *
 * The bytes are returned only once all of them passed; nothing unverified leaves here. With
 * `onData`, each frame's bytes are handed out once the frame passed, so a caller can write them
 * to a file that nobody sees until the read resolves, holding nothing in memory.
 */
import {
  BigFsError,
  type ByteParts,
  type Connection,
  type ConnectionPool,
  type datanodeRef,
  isBigFsError,
  type locatedChunk,
  type OutgoingRequest,
  type schema,
  Xxh64Stream,
  xxh64,
  xxh64Hex,
} from "#protocol";
import { StallWatch } from "./_stall_watch.js";

/** A chunk as OPEN locates it. */
export type LocatedChunk = schema.Infer<typeof locatedChunk>;
/** A replica's DataNode. */
export type ReplicaRef = schema.Infer<typeof datanodeRef>;

/** A failed read of one replica. */
export class ReplicaReadError extends BigFsError {
  /** True when the replica gave bad bytes (to report to the NameNode), not just no bytes. */
  readonly corrupt: boolean;

  constructor(code: BigFsError["code"], message: string, corrupt: boolean, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = "ReplicaReadError";
    this.corrupt = corrupt;
  }
}

/** Options for {@linkcode readReplica}. */
export interface ReadReplicaOptions {
  /** Byte offset within the chunk; default 0. */
  offset?: number;
  /** Bytes to read; default the rest of the chunk. */
  length?: number;
  signal?: AbortSignal;
  /** Fail when no frame arrives for this long; 0 for never. */
  stallTimeoutMs: number;
  /**
   * Where each frame's bytes go once the frame checked out, instead of being kept: called with
   * the byte offset within the range, and awaited before the next frame is taken. The caller
   * must not use them as verified until this read resolves: the whole chunk's check comes last.
   */
  onData?: (offset: number, bytes: ByteParts) => Promise<void>;
}

/**
 * Reads `chunk` (or the range) from `replica` and verifies it.
 *
 * @returns the verified bytes, in order, in the pieces the socket delivered them in (none
 *   with `onData`): a frame is never joined into one buffer just to be handed on.
 * @throws {ReplicaReadError} when the replica cannot be read or gives bad bytes.
 */
export async function readReplica(
  pool: ConnectionPool,
  chunk: LocatedChunk,
  replica: ReplicaRef,
  options: ReadReplicaOptions,
): Promise<Uint8Array[]> {
  const offset = options.offset ?? 0;
  const length = options.length ?? chunk.size - offset;
  const where = `chunk ${chunk.id} from DataNode ${replica.id} (${replica.address})`;
  const whole = offset === 0 && length === chunk.size;
  let connection: Connection | undefined;
  let request: OutgoingRequest<"READ_CHUNK"> | undefined;
  let stall: StallWatch | undefined;
  try {
    connection = await pool.get(replica.address);
    request = await connection.open(
      "READ_CHUNK",
      { chunkId: chunk.id, generation: chunk.generation, token: chunk.token, offset, length },
      { timeoutMs: 0, ...(options.signal ? { signal: options.signal } : {}) },
    );
    const open = request;
    const peer = connection;
    stall = new StallWatch(options.stallTimeoutMs, () => {
      open.cancel(
        new BigFsError("TIMEOUT", `Cannot read ${where}: no data for ${options.stallTimeoutMs} ms`),
      );
      // Later reads from this DataNode get a connection of their own, not the stuck one.
      pool.retire(replica.address, peer);
    });
    const pieces: Uint8Array[] = [];
    // The whole chunk's xxh64: a chunk that comes in one frame has it from the frame's check,
    // so its bytes are not hashed twice; one in several frames is hashed as they come.
    let hasher: Xxh64Stream | undefined;
    let oneFrameHash: bigint | undefined;
    let got = 0;
    for await (const item of open.items) {
      if (item.kind !== 5) continue;
      stall.touch();
      const at = `${where} at offset ${offset + got}`;
      if (item.chunkId !== chunk.id || item.offset !== BigInt(offset + got)) {
        throw corrupt(
          `Cannot read ${at}: got a frame of chunk ${item.chunkId} at offset ${item.offset}`,
        );
      }
      if (got + item.byteLength > length) {
        throw corrupt(
          `Cannot read ${at}: the replica sends more than the ${length} bytes asked for`,
        );
      }
      // Hashed and handed on in the pieces the socket delivered, never joined for that.
      const actual = xxh64(item.parts);
      if (actual !== item.xxh64) {
        throw corrupt(
          `Cannot read ${at}: checksum mismatch: the frame says ${xxh64Hex(item.xxh64)}, its bytes hash to ${xxh64Hex(actual)}`,
        );
      }
      if (whole) {
        if (got === 0 && item.byteLength === length) oneFrameHash = actual;
        else {
          hasher ??= new Xxh64Stream();
          hasher.update(item.parts);
        }
      }
      if (options.onData === undefined) pieces.push(...item.parts);
      else {
        await options.onData(got, item.parts);
        // Written: the socket may read into these bytes' buffer again.
        item.release?.();
      }
      got += item.byteLength;
      if (item.end) break;
    }
    await open.response;
    if (got !== length) {
      throw corrupt(`Cannot read ${where}: got ${got} bytes, expected ${length}`);
    }
    if (whole) {
      const digest = oneFrameHash ?? hasher?.digest() ?? xxh64(new Uint8Array(0));
      if (digest !== chunk.xxh64) {
        throw corrupt(
          `Cannot read ${where}: checksum mismatch: the chunk's bytes hash to ${xxh64Hex(digest)}, the file says ${xxh64Hex(chunk.xxh64)}`,
        );
      }
    }
    return pieces;
  } catch (error) {
    request?.cancel();
    if (error instanceof ReplicaReadError) throw error;
    const code = isBigFsError(error) ? error.code : "INTERNAL";
    const message = error instanceof Error ? error.message : String(error);
    const detail = message.includes(replica.id) ? message : `${where}: ${message}`;
    throw new ReplicaReadError(code, detail, code === "CHECKSUM_MISMATCH", error);
  } finally {
    stall?.stop();
  }
}

function corrupt(message: string): ReplicaReadError {
  return new ReplicaReadError("CHECKSUM_MISMATCH", message, true);
}
