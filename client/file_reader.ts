/**
 * One file being read: OPEN says where each chunk's replicas are (least loaded first), then
 * chunks are read from replicas several at a time and handed out strictly in order.
 *
 * Nothing unverified is handed out: a chunk's bytes are kept until the whole chunk (or the
 * part of it the range needs) has passed its checks in {@linkcode readReplica}, and only then
 * given to the consumer. So memory is bounded by the window: `window × chunk size` bytes
 * (2 × 64 MiB = 128 MiB with the defaults: four chunks of 32 MiB or less; see
 * `windowFor`). A consumer that stops taking pieces stops further reads.
 *
 * A download into a local file needs no such hold: {@linkcode FileReader.readInto} writes each
 * checked frame at its place in a file nobody sees until every chunk passed (`local_io.ts`
 * renames it into place only then), so it holds only frames on their way to the disk.
 *
 * A replica that fails is left for the next one; one that gave bad bytes is reported to the
 * NameNode (REPORT_BAD_REPLICA), which stops listing it and replaces it. A DataNode that could
 * not serve a chunk at all is tried last for the rest of the file (as HDFS's input stream keeps its
 * dead nodes): one that cannot be reached, often silently until the stall timeout, would
 * otherwise cost that timeout again for every chunk it is listed first for. When no listed replica
 * works, or none is listed yet (a chunk written a moment ago whose DataNodes have not reported
 * it), the file is located again after a pause, a bounded number of times; then the read fails
 * naming the path and the chunk.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { BigFsError, type ByteParts, type ConnectionPool, type Logger } from "#protocol";
import {
  type LocatedChunk,
  ReplicaReadError,
  type ReplicaRef,
  readReplica,
} from "./chunk_reader.js";
import type { NamenodeClient } from "./namenode_client.js";
import { windowFor } from "./options.js";

/** What a download works with: the client's parts and settings. */
export interface DownloadContext {
  namenode: NamenodeClient;
  pool: ConnectionPool;
  logger: Logger;
  chunksInFlight: number;
  bufferBytesMax: number;
  stallTimeoutMs: number;
}

/** Pauses before locating a file's chunks again when no replica of one could be read. */
const relocateDelaysMs = [100, 300, 900, 2_700];

interface RangePart {
  index: number;
  /** Offset within the chunk. */
  offset: number;
  length: number;
}

/** An open file: its size and chunks, and verified reads of any range of it. */
export class FileReader {
  readonly path: string;
  readonly #context: DownloadContext;
  #size: number;
  #chunks: LocatedChunk[];
  #relocating: Promise<void> | undefined;
  /** DataNodes that could not serve a chunk of this file (bad bytes aside): tried last. */
  readonly #failedDatanodes = new Set<string>();

  private constructor(
    context: DownloadContext,
    path: string,
    size: number,
    chunks: LocatedChunk[],
  ) {
    this.#context = context;
    this.path = path;
    this.#size = size;
    this.#chunks = chunks;
  }

  /** OPENs `path`; fails with the NameNode's error (`NOT_FOUND`, `IS_A_DIRECTORY`, ...). */
  static async open(context: DownloadContext, path: string): Promise<FileReader> {
    const { size, chunks } = await context.namenode.request("OPEN", { path });
    return new FileReader(context, path, size, chunks);
  }

  /** Bytes in the file. */
  get size(): number {
    return this.#size;
  }

  /**
   * Verified bytes of `[start, endExclusive)`, in order. Breaking out of the loop (or the
   * signal aborting) cancels the reads in flight.
   */
  async *read(
    start: number,
    endExclusive: number,
    signal?: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    const parts = this.#plan(start, Math.min(endExclusive, this.#size));
    if (parts.length === 0) return;
    if (parts.length === 1) {
      // One read, done before its first piece is handed out: nothing is left in flight to
      // cancel when the caller stops early, so no controller of our own (its cost is a
      // measurable share of a small file's read).
      for (const piece of await this.#readPart(parts[0]!, signal)) yield piece;
      return;
    }
    const chunkBytesMax = Math.max(...parts.map((part) => part.length));
    const { chunksInFlight, bufferBytesMax } = this.#context;
    const window = windowFor(chunkBytesMax, chunksInFlight, bufferBytesMax);
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const queue: Promise<Uint8Array[]>[] = [];
    let next = 0;
    const launch = () => {
      while (queue.length < window && next < parts.length) {
        const reading = this.#readPart(parts[next++]!, stop.signal);
        reading.catch(() => {});
        queue.push(reading);
      }
    };
    try {
      launch();
      while (queue.length > 0) {
        const pieces = await queue[0]!;
        queue.shift();
        for (const piece of pieces) yield piece;
        launch();
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      // Reads still in flight (the caller stopped early, or one failed) are cancelled.
      if (queue.length > 0 && !stop.signal.aborted) {
        stop.abort(new BigFsError("UNAVAILABLE", `Read of ${this.path} stopped`));
      }
    }
  }

  /**
   * Reads the whole file into `write`, which puts bytes at a byte position of the file (a local
   * file nobody sees yet), holding no chunk in memory: chunks are read `window` at a time, in
   * any order, each frame written as it arrives and checked. A chunk whose end-to-end check
   * fails is read again from another replica over the same positions, so `write` may see a
   * range twice; what it holds is verified only once this resolves. `onChunk` is told the bytes
   * of each chunk once verified.
   */
  async readInto(
    write: (position: number, bytes: ByteParts) => Promise<void>,
    options: { signal?: AbortSignal; onChunk?: (bytes: number) => void } = {},
  ): Promise<void> {
    const parts = this.#plan(0, this.#size);
    if (parts.length === 0) return;
    const { chunksInFlight, bufferBytesMax } = this.#context;
    const window = windowFor(
      Math.max(...parts.map((part) => part.length)),
      chunksInFlight,
      bufferBytesMax,
    );
    const stop = new AbortController();
    const { signal } = options;
    const onAbort = () => stop.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let next = 0;
    const worker = async () => {
      while (next < parts.length) {
        const part = parts[next++]!;
        const chunkOffset = this.#chunks[part.index]!.offset;
        await this.#readPart(part, stop.signal, (offset, bytes) =>
          write(chunkOffset + part.offset + offset, bytes),
        );
        options.onChunk?.(part.length);
      }
    };
    try {
      const workers = Array.from({ length: Math.min(window, parts.length) }, worker);
      // The first failure stops the others at once, rather than after their chunks, and they
      // are waited for: none may still write once this settles (the file is then removed).
      const settled = await Promise.allSettled(
        workers.map((running) =>
          running.catch((error: unknown) => {
            if (!stop.signal.aborted) stop.abort(error);
            throw error;
          }),
        ),
      );
      if (settled.some((result) => result.status === "rejected")) throw stop.signal.reason;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** The chunks, and the part of each, that `[start, end)` covers. */
  #plan(start: number, end: number): RangePart[] {
    const parts: RangePart[] = [];
    for (const [index, chunk] of this.#chunks.entries()) {
      const from = Math.max(start, chunk.offset);
      const to = Math.min(end, chunk.offset + chunk.size);
      if (from < to) parts.push({ index, offset: from - chunk.offset, length: to - from });
    }
    return parts;
  }

  async #readPart(
    part: RangePart,
    signal: AbortSignal | undefined,
    onData?: (offset: number, bytes: ByteParts) => Promise<void>,
  ): Promise<Uint8Array[]> {
    const { pool, stallTimeoutMs } = this.#context;
    const failures: string[] = [];
    const corrupt = new Set<string>();
    for (let round = 0; ; round++) {
      const chunk = this.#chunks[part.index]!;
      for (const replica of this.#inReadOrder(chunk.replicas)) {
        if (corrupt.has(replica.id)) continue;
        try {
          const pieces = await readReplica(pool, chunk, replica, {
            offset: part.offset,
            length: part.length,
            ...(signal === undefined ? {} : { signal }),
            stallTimeoutMs,
            ...(onData === undefined ? {} : { onData }),
          });
          this.#failedDatanodes.delete(replica.id);
          return pieces;
        } catch (error) {
          signal?.throwIfAborted();
          const message = error instanceof Error ? error.message : String(error);
          failures.push(message);
          this.#context.logger.warn(
            { path: this.path, chunkId: chunk.id, datanode: replica.id, err: message },
            "replica read failed",
          );
          if (error instanceof ReplicaReadError && error.corrupt) {
            corrupt.add(replica.id);
            await this.#reportBad(chunk, replica.id, message);
          } else {
            this.#failedDatanodes.add(replica.id);
          }
        }
      }
      if (chunk.replicas.length === 0) failures.push("no live replica is listed");
      const delayMs = relocateDelaysMs[round];
      if (delayMs === undefined) break;
      await sleep(delayMs, undefined, signal ? { signal } : {});
      await this.#relocate();
    }
    const chunk = this.#chunks[part.index]!;
    const code = failures.some((failure) => failure.includes("checksum mismatch"))
      ? "CHECKSUM_MISMATCH"
      : "UNAVAILABLE";
    throw new BigFsError(
      code,
      `Cannot read ${this.path}: chunk ${part.index} (id ${chunk.id}, bytes ${chunk.offset}..${chunk.offset + chunk.size}) has no readable replica: ${failures.slice(-4).join("; ")}`,
    );
  }

  /** The replicas in the NameNode's order, those whose DataNode failed this file moved last. */
  #inReadOrder(replicas: readonly ReplicaRef[]): readonly ReplicaRef[] {
    const failed = this.#failedDatanodes;
    if (failed.size === 0) return replicas;
    return [
      ...replicas.filter((replica) => !failed.has(replica.id)),
      ...replicas.filter((replica) => failed.has(replica.id)),
    ];
  }

  async #reportBad(chunk: LocatedChunk, datanodeId: string, reason: string): Promise<void> {
    try {
      await this.#context.namenode.request("REPORT_BAD_REPLICA", {
        chunkId: chunk.id,
        generation: chunk.generation,
        datanodeId,
        reason: reason.slice(0, 1024),
      });
    } catch (error) {
      this.#context.logger.warn(
        { chunkId: chunk.id, datanode: datanodeId, err: error },
        "could not report a bad replica",
      );
    }
  }

  /** OPENs the file again for fresh replica lists; one OPEN serves every chunk waiting. */
  #relocate(): Promise<void> {
    this.#relocating ??= (async () => {
      try {
        const { size, chunks } = await this.#context.namenode.request("OPEN", { path: this.path });
        const changed =
          size !== this.#size ||
          chunks.length !== this.#chunks.length ||
          chunks.some((chunk, index) => chunk.id !== this.#chunks[index]!.id);
        if (changed) {
          throw new BigFsError(
            "STALE_GENERATION",
            `Cannot read ${this.path}: the file was replaced while it was being read`,
          );
        }
        this.#chunks = chunks;
      } finally {
        this.#relocating = undefined;
      }
    })();
    return this.#relocating;
  }
}
