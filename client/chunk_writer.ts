/**
 * One chunk through one pipeline: WRITE_CHUNK to the first DataNode with the others as its
 * downstream, the chunk's frames as DATA (each taken from the chunk only once the socket took
 * the one before, and sent within the stream's send window: at most as many bytes not yet
 * acknowledged by the whole pipeline as the first DataNode says it takes; see
 * `send_window.ts`), the last one marked `end`, then
 * the pipeline's answer checked against what was sent. A failure of the chunk's source is
 * passed on as it is: it blames no DataNode.
 *
 * A failure names the DataNode to leave out of the next pipeline, when one can be told: the
 * one a DataNode's error message names (`DataNode <id> (<host:port>)`, the convention of
 * `datanode/_naming.ts`), or the first DataNode when the connection to it fails, it stalls,
 * or it answers with bytes other than those sent.
 */
import {
  BigFsError,
  type Connection,
  type ConnectionPool,
  type datanodeRef,
  followAcks,
  isBigFsError,
  type OutgoingRequest,
  SendWindow,
  type schema,
  xxh64Hex,
} from "#protocol";
import { StallWatch } from "./_stall_watch.js";
import { type ChunkData, SourceError } from "./chunk_source.js";

/** A DataNode as the NameNode names it to clients. */
export type DatanodeRef = schema.Infer<typeof datanodeRef>;

/** Where and with what rights to write one chunk: ADD_CHUNK's answer. */
export interface ChunkGrant {
  chunkId: bigint;
  generation: bigint;
  pipeline: DatanodeRef[];
  token: Uint8Array;
}

/** A failed pipeline, with the DataNode to blame when one can be told. */
export class PipelineError extends BigFsError {
  /** The DataNode at fault, to exclude from later pipelines; `undefined` when unknown. */
  readonly datanode: DatanodeRef | undefined;

  constructor(cause: BigFsError, datanode: DatanodeRef | undefined) {
    super(cause.code, cause.message, { cause });
    this.name = "PipelineError";
    this.datanode = datanode;
  }
}

/** Options for {@linkcode writeChunk}. */
export interface WriteChunkOptions {
  /** Aborting it cancels the write on every DataNode of the pipeline. */
  signal?: AbortSignal;
  /** Fail when no frame can be sent and no ack arrives for this long; 0 for never. */
  stallTimeoutMs: number;
  /** Called as the whole pipeline acknowledges bytes of the chunk. */
  onAck?: (ackedBytes: number) => void;
}

/**
 * Writes `chunk` through `grant.pipeline`.
 *
 * @throws {PipelineError} when the pipeline fails, naming the DataNode at fault if known.
 */
export async function writeChunk(
  pool: ConnectionPool,
  grant: ChunkGrant,
  chunk: ChunkData,
  options: WriteChunkOptions,
): Promise<void> {
  const [first, ...downstream] = grant.pipeline;
  if (first === undefined) {
    throw new PipelineError(
      new BigFsError("NO_SPACE", `Cannot write chunk ${grant.chunkId}: the pipeline is empty`),
      undefined,
    );
  }
  let connection: Connection | undefined;
  let request: OutgoingRequest<"WRITE_CHUNK"> | undefined;
  let stall: StallWatch | undefined;
  try {
    connection = await pool.get(first.address);
    request = await connection.open(
      "WRITE_CHUNK",
      {
        chunkId: grant.chunkId,
        generation: grant.generation,
        token: grant.token,
        downstream,
      },
      { timeoutMs: 0, ...(options.signal ? { signal: options.signal } : {}) },
    );
    const open = request;
    const peer = connection;
    stall = new StallWatch(options.stallTimeoutMs, () => {
      const reason = new BigFsError(
        "TIMEOUT",
        `Write of chunk ${grant.chunkId} to ${describe(first)} made no progress for ${options.stallTimeoutMs} ms`,
      );
      open.cancel(reason);
      // A peer that stopped reading holds the socket full: no other request can use it.
      if (peer.waitingForDrain) peer.close(reason);
      // Later writes through this DataNode get a connection of their own, not the stuck one.
      else pool.retire(first.address, peer);
    });
    const window = new SendWindow();
    const watch = stall;
    followAcks(open.items, window, {
      onMessage: () => watch.touch(),
      ...(options.onAck ? { onAck: options.onAck } : {}),
    });
    // Settles (rejects) only when the pipeline fails before the last frame is sent.
    const failure = open.response.then(
      () => new Promise<never>(() => {}),
      (error: unknown) => {
        throw error;
      },
    );
    // A wait for room ends with the pipeline's failure.
    failure.catch((error: unknown) => window.fail(error));
    for await (const frame of chunk.frames()) {
      const bytes = frame.bytes.byteLength;
      if (!window.fits(bytes)) await window.room(bytes);
      window.sent(bytes);
      const sending = open.sendData({
        chunkId: grant.chunkId,
        offset: BigInt(frame.offset),
        bytes: frame.bytes,
        xxh64: frame.xxh64,
        end: frame.offset + frame.bytes.byteLength === chunk.sizeBytes,
        ...(frame.release ? { onWritten: frame.release } : {}),
      });
      sending.catch(() => {});
      await Promise.race([sending, failure]);
      stall.touch();
    }
    const stored = await open.response;
    if (stored.size !== chunk.sizeBytes || stored.xxh64 !== chunk.xxh64) {
      throw new PipelineError(
        new BigFsError(
          "CHECKSUM_MISMATCH",
          `Cannot write chunk ${grant.chunkId}: ${describe(first)} stored ${stored.size} bytes ` +
            `with xxh64 ${xxh64Hex(stored.xxh64)}, but ${chunk.sizeBytes} bytes with xxh64 ` +
            `${xxh64Hex(chunk.xxh64)} were sent`,
        ),
        first,
      );
    }
  } catch (error) {
    if (error instanceof PipelineError) throw error;
    request?.cancel();
    // The upload's own source failed: no DataNode is to blame.
    if (error instanceof SourceError) throw error;
    const cause = isBigFsError(error)
      ? error
      : new BigFsError("INTERNAL", `Cannot write chunk ${grant.chunkId}: ${String(error)}`, {
          cause: error,
        });
    throw new PipelineError(cause, blame(cause, grant.pipeline, connection));
  } finally {
    stall?.stop();
  }
}

/** The DataNode to leave out of the next pipeline after `error`, if one can be told. */
function blame(
  error: BigFsError,
  pipeline: readonly DatanodeRef[],
  connection: Connection | undefined,
): DatanodeRef | undefined {
  // Several may be named ("Downstream DataNode b failed" from a): the first named is at fault.
  let named: DatanodeRef | undefined;
  let namedAt = Number.POSITIVE_INFINITY;
  for (const datanode of pipeline) {
    const at = error.message.indexOf(`DataNode ${datanode.id} (`);
    if (at >= 0 && at < namedAt) {
      named = datanode;
      namedAt = at;
    }
  }
  if (named !== undefined) return named;
  const first = pipeline[0];
  if (connection === undefined || connection.closed) return first;
  if (error.code === "UNAVAILABLE" || error.code === "TIMEOUT") return first;
  return undefined;
}

function describe(datanode: DatanodeRef): string {
  return `DataNode ${datanode.id} (${datanode.address})`;
}
