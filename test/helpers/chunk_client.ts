/**
 * A test client for the DataNode data service: writes a chunk in frames with WRITE_CHUNK and
 * reads it back with READ_CHUNK, straight over a connection.
 */
import { randomBytes } from "node:crypto";
import {
  type BigFsError,
  type ChunkOperation,
  type Connection,
  mintChunkToken,
  type ResponseOf,
  xxh64,
} from "#protocol";

/** A token for `operation` on the chunk, valid for a minute. */
export function tokenFor(
  secret: Uint8Array,
  chunkId: bigint,
  generation: bigint,
  operation: ChunkOperation,
  expiresAtMs = Date.now() + 60_000,
): Uint8Array {
  return mintChunkToken(secret, { chunkId, generation, operation, expiresAtMs });
}

/** Options for {@linkcode writeChunk}. */
export interface WriteChunkOptions {
  secret: Uint8Array;
  chunkId: bigint;
  generation?: bigint;
  downstream?: { id: string; address: string }[];
  token?: Uint8Array;
  /** Bytes per DATA frame; default 64 KiB. */
  frameBytes?: number;
  /** Index of a frame sent with a wrong checksum. */
  corruptFrame?: number;
  /** Called after each frame is sent, with its index. */
  afterFrame?: (index: number) => void | Promise<void>;
}

/** Writes `bytes` as one chunk; resolves with the response, rejects with the pipeline error. */
export async function writeChunk(
  connection: Connection,
  bytes: Uint8Array,
  options: WriteChunkOptions,
): Promise<ResponseOf<"WRITE_CHUNK">> {
  const generation = options.generation ?? 1n;
  const frameBytes = options.frameBytes ?? 64 * 1024;
  const write = await connection.open(
    "WRITE_CHUNK",
    {
      chunkId: options.chunkId,
      generation,
      token: options.token ?? tokenFor(options.secret, options.chunkId, generation, "write"),
      downstream: options.downstream ?? [],
    },
    { timeoutMs: 30_000 },
  );
  const frames = Math.max(1, Math.ceil(bytes.byteLength / frameBytes));
  try {
    for (let index = 0; index < frames; index++) {
      const piece = bytes.subarray(index * frameBytes, (index + 1) * frameBytes);
      const checksum = xxh64(piece) ^ (index === options.corruptFrame ? 1n : 0n);
      await write.sendData({
        chunkId: options.chunkId,
        offset: BigInt(index * frameBytes),
        bytes: piece,
        xxh64: checksum,
        end: index === frames - 1,
      });
      await options.afterFrame?.(index);
    }
  } catch {
    // The response says why the stream stopped.
  }
  return write.response;
}

/** Options for {@linkcode readChunk}. */
export interface ReadChunkOptions {
  secret: Uint8Array;
  chunkId: bigint;
  generation?: bigint;
  offset?: number;
  length?: number;
  token?: Uint8Array;
}

/** Reads a chunk range; checks each frame's checksum and returns the bytes and response. */
export async function readChunk(
  connection: Connection,
  options: ReadChunkOptions,
): Promise<{ bytes: Buffer; response: ResponseOf<"READ_CHUNK"> }> {
  const generation = options.generation ?? 1n;
  const read = await connection.open("READ_CHUNK", {
    chunkId: options.chunkId,
    generation,
    token: options.token ?? tokenFor(options.secret, options.chunkId, generation, "read"),
    offset: options.offset ?? 0,
    length: options.length ?? 2 ** 40,
  });
  const pieces: Uint8Array[] = [];
  let expectedOffset = BigInt(options.offset ?? 0);
  for await (const item of read.items) {
    if (item.kind !== 5) continue;
    if (xxh64(item.bytes) !== item.xxh64) throw new Error(`bad frame checksum at ${item.offset}`);
    if (item.offset !== expectedOffset)
      throw new Error(`frame at ${item.offset}, expected ${expectedOffset}`);
    expectedOffset += BigInt(item.bytes.byteLength);
    pieces.push(Buffer.from(item.bytes));
    if (item.end) break;
  }
  const response = await read.response;
  return { bytes: Buffer.concat(pieces), response };
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<BigFsError> {
  try {
    await promise;
  } catch (error) {
    return error as BigFsError;
  }
  throw new Error("expected the promise to reject");
}

/** Random bytes for a chunk. */
export function chunkBytes(size: number): Buffer {
  return randomBytes(size);
}
