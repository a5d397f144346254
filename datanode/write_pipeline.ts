/**
 * WRITE_CHUNK: one DataNode's part of a pipelined chunk write, as in HDFS.
 *
 * The request names the DataNodes after this one (`downstream`). For every DATA frame this
 * DataNode checks the frame's xxh64 against its bytes before doing anything with them, then
 * forwards the frame to the next DataNode and writes it to its own temp file, both at once.
 * After the frame marked `end` it finalises its replica (fdatasync, rename) and waits for the
 * downstream response (for a chunk of several frames, the response first: see below); only
 * with both does it answer upstream, `stored` listing itself and
 * every DataNode after it. On the way it sends `{ ackedBytes, windowBytes }` messages
 * upstream: bytes written here and acknowledged by every DataNode downstream (written, not
 * yet fsynced), for every frame but the last, which the response acknowledges; and the send
 * window the sender is to keep to from then on (`send_window.ts`).
 *
 * Only the last DataNode hashes the whole chunk (its xxh64 goes in the replica's metadata and
 * back to the client, who compares it with its own). A DataNode before it checked every frame
 * against the same per-frame checksums, so it holds the same bytes: it finalises a chunk of
 * several frames once the downstream has answered, with the downstream's xxh64, and saves a
 * pass over every byte (7% of a DataNode's CPU in a `perf` profile of a 1 GiB put). It
 * cannot record a wrong figure without the client seeing it: the response it passes on
 * carries that figure. A one-frame chunk's xxh64 is its frame's, which every DataNode
 * checked, so it is not waited for.
 *
 * Any failure stops the whole pipeline: the local temp file (or a replica finalised before
 * the downstream failed) is removed, the downstream request is cancelled, and the error
 * names the DataNode at fault: the one that found a checksum mismatch or ran out of space,
 * or the downstream one that died (`UNAVAILABLE`). No DataNode keeps part of a chunk.
 *
 * Memory: what a write holds here (queued, on its way downstream, waiting for the disk) is
 * bytes its sender sent and this DataNode has not acknowledged, so at most the window it was
 * given. The writes under way share `writeBufferBytes` equally (between one frame and 4 MiB
 * each), so the DataNode's memory for writes stays bounded however many come at once. A
 * frame is taken from the queue only once the previous one is handed to the downstream
 * socket and at most {@linkcode localWritesMax} frames are waiting for the local disk. Letting
 * a few local writes run behind keeps the pipeline moving at the network's pace when one write is slow (the
 * kernel throttles writers while it flushes dirty pages), instead of every DataNode after
 * this one waiting for this disk frame by frame.
 */
import {
  BigFsError,
  type ConnectionPool,
  type IncomingRequest,
  type Logger,
  type ResponseOf,
  sendWindowBytesDefault,
  untilAborted,
  xxh64,
  xxh64Hex,
} from "#protocol";
import { checkChunkToken } from "./_chunk_token_check.js";
import { Downstream } from "./_downstream.js";
import { type DataNodeRef, describeDataNode, namingDataNode } from "./_naming.js";
import type { ChunkStore, ChunkWriter, ReplicaInfo } from "./chunk_store.js";

/** Frames of one write that may be waiting for the local disk at once. */
export const localWritesMax = 4;

/** What the writes' senders may have on their way to a DataNode at once, by default. */
export const writeBufferBytesDefault = 32 * 1024 * 1024;
/** The least send window a write is given, however many there are: one 256 KiB frame. */
const windowBytesMin = 256 * 1024;

/**
 * The send window each write gets when `active` writes share `bufferBytes`: an equal part,
 * between one frame and the most a sender keeps (`send_window.ts`).
 */
export function windowForWrites(bufferBytes: number, active: number): number {
  const share = Math.floor(bufferBytes / Math.max(1, active));
  return Math.max(windowBytesMin, Math.min(share, sendWindowBytesDefault));
}

/** What a {@linkcode WritePipeline} works with. */
export interface WritePipelineOptions {
  store: ChunkStore;
  /** The cluster secret, which chunk tokens are checked against. */
  secret: Uint8Array;
  /** This DataNode. */
  self: DataNodeRef;
  peers: ConnectionPool;
  logger: Logger;
  /** Called once a replica is finalised and the whole pipeline has acknowledged it. */
  onStored: (replica: ReplicaInfo) => void;
  /** A write whose sender sends nothing for this long fails with `TIMEOUT`; default 60 s. */
  frameIdleTimeoutMs?: number;
  /**
   * Bytes the writes' senders may have on their way here at once, shared equally among the
   * writes under way (each told its part with every ack); default 32 MiB.
   */
  writeBufferBytes?: number;
}

/** Serves WRITE_CHUNK requests. */
export class WritePipeline {
  readonly #options: WritePipelineOptions;
  #active = 0;

  constructor(options: WritePipelineOptions) {
    this.#options = options;
  }

  /** Writes in progress now. */
  get activeWrites(): number {
    return this.#active;
  }

  /** Serves one WRITE_CHUNK request; rejects with an error naming the DataNode at fault. */
  async handle(request: IncomingRequest<"WRITE_CHUNK">): Promise<ResponseOf<"WRITE_CHUNK">> {
    const { store, secret, self, peers } = this.#options;
    const body = request.body;
    const purpose = body.purpose ?? "write";
    checkChunkToken(
      body.token,
      { chunkId: body.chunkId, operation: purpose, generation: body.generation },
      { secret, self, remote: request.remote, logger: this.#options.logger },
    );
    const [next, ...rest] = body.downstream;
    if (body.downstream.some((ref) => ref.id === self.id)) {
      throw new BigFsError(
        "INVALID_ARGUMENT",
        `${describeDataNode(self)}: cannot write chunk ${body.chunkId}: it is its own downstream`,
      );
    }
    const downstreamTokens = body.downstreamTokens;
    if (downstreamTokens !== undefined && downstreamTokens.length !== body.downstream.length) {
      throw new BigFsError(
        "INVALID_ARGUMENT",
        `${describeDataNode(self)}: cannot write chunk ${body.chunkId}: ` +
          `${downstreamTokens.length} downstream tokens for ${body.downstream.length} DataNodes`,
      );
    }
    this.#active += 1;
    const startedMs = Date.now();
    let writer: ChunkWriter | undefined;
    let downstream: Downstream | undefined;
    let finalised = false;
    const bufferBytes = this.#options.writeBufferBytes ?? writeBufferBytesDefault;
    // No message says the window before the first ack: a small file's write would pay a
    // message each way for nothing, and a large one starts within its first window.
    const acks = new UpstreamAcks(request, () => windowForWrites(bufferBytes, this.#active));
    try {
      // Only the last DataNode hashes the whole chunk: see the module doc.
      writer = await store.createWriter(body.chunkId, body.generation, {
        hashWhole: next === undefined,
      });
      if (next !== undefined) {
        downstream = await Downstream.open(
          peers,
          next,
          {
            chunkId: body.chunkId,
            generation: body.generation,
            token: downstreamTokens?.[0] ?? body.token,
            downstream: rest,
            ...(downstreamTokens ? { downstreamTokens: downstreamTokens.slice(1) } : {}),
            ...(purpose === "replicate" ? { purpose } : {}),
          },
          { onAck: () => acks.update() },
        );
      }
      acks.downstream = downstream;
      const idleMs = this.#options.frameIdleTimeoutMs ?? 60_000;
      const last = await receive(request, { writer, downstream, acks, self, idleMs });
      let replica: ReplicaInfo;
      let remote: ResponseOf<"WRITE_CHUNK"> | undefined;
      if (downstream !== undefined && writer.size > 0) {
        // Several frames: the downstream answers first, with the whole chunk's xxh64 (module
        // doc). Should it fail, nothing was finalised here.
        remote = await downstream.result();
        replica = await writer.finalize(last.bytes, {
          xxh64: last.xxh64,
          wholeXxh64: remote.xxh64,
        });
        finalised = true;
      } else {
        const [local, answer] = await Promise.allSettled([
          writer.finalize(last.bytes, { xxh64: last.xxh64 }),
          downstream?.result(),
        ]);
        if (local.status === "rejected") throw local.reason;
        finalised = true;
        replica = local.value;
        if (answer.status === "rejected") throw answer.reason;
        remote = answer.value;
      }
      const stored = remote?.stored ?? [];
      if (remote && (remote.size !== replica.size || remote.xxh64 !== replica.xxh64)) {
        throw new BigFsError(
          "CHECKSUM_MISMATCH",
          `${describeDataNode(downstream!.target)} stored ${remote.size} bytes with xxh64 ` +
            `${xxh64Hex(remote.xxh64)}, but ${describeDataNode(self)} stored ` +
            `${replica.size} bytes with xxh64 ${xxh64Hex(replica.xxh64)}`,
        );
      }
      this.#options.onStored(replica);
      this.#options.logger.info(
        {
          chunkId: body.chunkId,
          generation: body.generation,
          size: replica.size,
          purpose,
          downstream: stored,
          durationMs: Date.now() - startedMs,
        },
        "chunk stored",
      );
      return { stored: [self.id, ...stored], size: replica.size, xxh64: replica.xxh64 };
    } catch (error) {
      const reason = namingDataNode(error, self);
      downstream?.cancel(reason);
      if (writer !== undefined && !finalised) await writer.abort().catch(() => {});
      if (finalised) await store.delete(body.chunkId).catch(() => false);
      this.#options.logger.warn(
        { chunkId: body.chunkId, generation: body.generation, err: reason },
        "chunk write failed",
      );
      throw reason;
    } finally {
      this.#active -= 1;
    }
  }
}

/**
 * Sends `{ ackedBytes, windowBytes }` upstream as bytes are written here and acknowledged
 * downstream, each with the sender's send window as it stands (see `windowForWrites`).
 */
class UpstreamAcks {
  readonly #request: IncomingRequest<"WRITE_CHUNK">;
  readonly #window: () => number;
  /** The next DataNode, whose acks bound ours; none at the end of the pipeline. */
  downstream: Downstream | undefined;
  #writtenBytes = 0;
  #sentBytes = 0;

  constructor(request: IncomingRequest<"WRITE_CHUNK">, window: () => number) {
    this.#request = request;
    this.#window = window;
  }

  written(bytes: number): void {
    this.#writtenBytes = bytes;
    this.update();
  }

  update(): void {
    const acked = Math.min(this.#writtenBytes, this.downstream?.ackedBytes ?? Infinity);
    if (acked <= this.#sentBytes) return;
    this.#sentBytes = acked;
    this.#request.sendMessage({ ackedBytes: acked, windowBytes: this.#window() }).catch(() => {});
  }
}

/**
 * Takes frames until the one marked `end`: checks, forwards and writes each, but the last,
 * which it returns (checked and forwarded) for the caller to write as it finalises, in one
 * call with the replica's metadata.
 */
interface Receiver {
  writer: ChunkWriter;
  downstream: Downstream | undefined;
  acks: UpstreamAcks;
  self: DataNodeRef;
  idleMs: number;
}

async function receive(
  request: IncomingRequest<"WRITE_CHUNK">,
  { writer, downstream, acks, self, idleMs }: Receiver,
): Promise<{ bytes: readonly Uint8Array[]; xxh64: bigint }> {
  const { chunkId } = request.body;
  // Waits are cut short through a signal, not raced against a pending promise, which would
  // keep every frame raced against it until the chunk is done (see `untilAborted`).
  const stopper = new AbortController();
  const stopped = stopper.signal;
  const stop = (error: unknown) => {
    if (!stopped.aborted) stopper.abort(error);
  };
  const onAbort = () =>
    stop(new BigFsError("UNAVAILABLE", `Write of chunk ${chunkId} was cancelled upstream`));
  if (request.signal.aborted) onAbort();
  request.signal.addEventListener("abort", onAbort, { once: true });
  downstream?.failure.catch(stop);
  // Local writes not yet done, oldest first (the writer runs them in order).
  const writing: Promise<void>[] = [];
  try {
    let offset = 0;
    for (;;) {
      const idle = setTimeout(() => {
        stop(
          new BigFsError(
            "TIMEOUT",
            `${describeDataNode(self)}: no frame of chunk ${chunkId} came for ${idleMs} ms`,
          ),
        );
      }, idleMs);
      const item = await untilAborted(request.items.next(), stopped).finally(() =>
        clearTimeout(idle),
      );
      if (item === undefined) {
        throw new BigFsError(
          "UNAVAILABLE",
          `Write of chunk ${chunkId} ended before its last frame`,
        );
      }
      if (item.kind !== 5) continue;
      if (item.chunkId !== chunkId || item.offset !== BigInt(offset)) {
        throw new BigFsError(
          "INVALID_ARGUMENT",
          `Cannot write chunk ${chunkId}: expected a frame of chunk ${chunkId} at offset ${offset}, ` +
            `got chunk ${item.chunkId} at offset ${item.offset}`,
        );
      }
      // The frame's bytes stay in the pieces the socket delivered them in: hashed, forwarded
      // and written from there, never joined.
      const actual = xxh64(item.parts);
      if (actual !== item.xxh64) {
        throw new BigFsError(
          "CHECKSUM_MISMATCH",
          `${describeDataNode(self)} found a checksum mismatch in chunk ${chunkId} at offset ` +
            `${offset}: the frame says ${xxh64Hex(item.xxh64)}, its bytes hash to ${xxh64Hex(actual)}`,
        );
      }
      offset += item.byteLength;
      const forwarded = downstream?.send({
        chunkId,
        offset: item.offset,
        bytes: item.parts,
        xxh64: item.xxh64,
        end: item.end,
      });
      // The last frame is written as the replica is finalised, with its metadata; it is
      // acknowledged by the response, which follows once it is durable: an ack as well would
      // be one more message each way per chunk (most of a small file's).
      if (item.end) {
        await untilAborted(Promise.all([forwarded, ...writing]), stopped);
        return { bytes: item.parts, xxh64: actual };
      }
      // Verified just above: the store reuses it rather than hashing the segment again.
      const local = writer.write(item.parts, { xxh64: actual });
      const writtenBytes = offset;
      local.then(() => acks.written(writtenBytes), stop);
      writing.push(local);
      await untilAborted(Promise.resolve(forwarded), stopped);
      while (writing.length > localWritesMax) await untilAborted(writing.shift()!, stopped);
    }
  } finally {
    request.signal.removeEventListener("abort", onAbort);
    // Never leave a write to the temp file running while the writer is aborted.
    await Promise.allSettled(writing);
  }
}
