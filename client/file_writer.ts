/**
 * One upload: CREATE, then for each chunk ADD_CHUNK → {@linkcode writeChunk} → COMMIT_CHUNK,
 * several chunks in flight at once, then COMPLETE, which makes the file visible atomically.
 * A small file costs two NameNode round trips, not four: CREATE asks for the first chunk
 * (`firstChunk`) when the source has any bytes, and the chunk in which the source ended is
 * committed by COMPLETE itself (`lastChunk`).
 *
 * Memory is bounded whatever the file size: a chunk is cut from the source only once a slot of
 * the window is free. From a stream, its bytes are kept until its pipeline has stored it (to
 * send again through a new pipeline if this one fails), so at most `window × chunk size` bytes
 * are held. From a local file (`file_chunk_source.ts`), a chunk holds nothing: its frames are
 * read from the file as the pipeline takes them, and read again for a new pipeline, so what is
 * held is the window's frames on their way to sockets. The window is therefore
 * `chunksInFlight` (default 4) from a file, whatever the chunk size, and from a stream what
 * fits in `bufferBytesMax` (two 64 MiB chunks by default).
 * ADD_CHUNK is asked in chunk order (the NameNode appends chunks in the order they are added);
 * writes and commits then proceed in any order.
 *
 * A failed pipeline is replaced, as in HDFS: ADD_CHUNK again with `replacesChunkId` (the new
 * chunk takes the failed one's place) and `excludeDatanodes` naming every DataNode that failed
 * during this upload, at most `attemptsPerChunk` pipelines per chunk. A pipeline shorter than
 * the replication is accepted: the NameNode re-replicates later. Any other failure stops the
 * whole upload: in-flight writes are cancelled and the file is abandoned (ABANDON, best effort;
 * if even that fails the lease expires and the NameNode collects the chunks the same way).
 *
 * A cluster that is still starting is waited for, as HDFS clients wait out `addBlock`'s
 * `NotReplicatedYetException` and start-up safe mode: CREATE refused with `SAFE_MODE`, and
 * ADD_CHUNK refused with `SAFE_MODE` or (while no DataNode has failed this upload) `NO_SPACE`
 * (no DataNode registered yet), are asked again after the pauses of `startupRetryDelaysMs`
 * (6.3 s in all) before the upload fails.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  BigFsError,
  type ConnectionPool,
  type Logger,
  type RequestOf,
  type ResponseOf,
  untilAborted,
} from "#protocol";
import { Slots } from "./_slots.js";
import { type ChunkData, ChunkSource, peekNonEmpty } from "./chunk_source.js";
import { type ChunkGrant, PipelineError, writeChunk } from "./chunk_writer.js";
import { FileChunkSource, FileSource } from "./file_chunk_source.js";
import type { LeaseRenewer } from "./lease_renewer.js";
import type { NamenodeClient } from "./namenode_client.js";
import { frameBytes, type PutOptions, type PutResult, uploadWindowFor } from "./options.js";

/** What an upload works with: the client's parts and settings. */
export interface UploadContext {
  namenode: NamenodeClient;
  pool: ConnectionPool;
  leases: LeaseRenewer;
  clientName: string;
  logger: Logger;
  chunksInFlight: number;
  bufferBytesMax: number;
  stallTimeoutMs: number;
  attemptsPerChunk: number;
}

type WritePathMessage = "ADD_CHUNK" | "COMMIT_CHUNK" | "COMPLETE" | "ABANDON";

// Codes of pipeline failures that a new pipeline may cure.
const retryableCodes = new Set([
  "UNAVAILABLE",
  "TIMEOUT",
  "BUSY",
  "CHECKSUM_MISMATCH",
  "NO_SPACE",
  "INTERNAL",
  "STALE_GENERATION",
]);

// Pauses before asking again when the NameNode says it cannot place or accept data yet.
const startupRetryDelaysMs = [100, 200, 400, 800, 1_600, 3_200];

/**
 * `request()`, asked again after a pause while it fails with one of `codes`: the answer of a
 * cluster still starting (in safe mode, or with no DataNode registered yet).
 */
async function whileStarting<T>(
  request: () => Promise<T>,
  codes: ReadonlySet<string>,
  signal: AbortSignal | undefined,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      const delayMs = startupRetryDelaysMs[attempt];
      if (delayMs === undefined || !(error instanceof BigFsError && codes.has(error.code))) {
        throw error;
      }
      await sleep(delayMs, undefined, signal ? { signal } : {}).catch(() => {
        signal?.throwIfAborted();
      });
    }
  }
}

const createRetryCodes: ReadonlySet<string> = new Set(["SAFE_MODE"]);
const addChunkRetryCodes: ReadonlySet<string> = new Set(["SAFE_MODE", "NO_SPACE"]);

/**
 * Uploads `source` to `path`; resolves once COMPLETE is durable on the NameNode.
 *
 * @throws {BigFsError} naming the path and the reason; nothing is left visible at the path.
 * When `options.signal` aborts, rejects with its reason.
 */
export async function uploadFile(
  context: UploadContext,
  path: string,
  source: AsyncIterable<unknown> | FileSource,
  options: PutOptions = {},
): Promise<PutResult> {
  options.signal?.throwIfAborted();
  const peeked =
    source instanceof FileSource
      ? { empty: source.sizeBytes === 0, source }
      : await peekNonEmpty(source);
  // Reading may have run the caller's code, which may have aborted.
  options.signal?.throwIfAborted();
  const created = await whileStarting(
    () =>
      context.namenode.request("CREATE", {
        path,
        clientName: context.clientName,
        ...(peeked.empty ? {} : { firstChunk: true }),
        ...(options.replication === undefined ? {} : { replication: options.replication }),
        ...(options.chunkSizeBytes === undefined ? {} : { chunkSizeBytes: options.chunkSizeBytes }),
        ...(options.overwrite === undefined ? {} : { overwrite: options.overwrite }),
      }),
    createRetryCodes,
    options.signal,
  );
  const release = context.leases.hold();
  try {
    return await new Upload(context, path, created, options).run(peeked.source);
  } finally {
    release();
  }
}

class Upload {
  readonly #context: UploadContext;
  readonly #path: string;
  readonly #created: ResponseOf<"CREATE">;
  readonly #options: PutOptions;
  readonly #stop = new AbortController();
  readonly #excluded = new Set<string>();
  readonly #tasks = new Set<Promise<void>>();
  /** CREATE's grant for the first chunk, until it is used. */
  #firstGrant: ChunkGrant | undefined;
  /** The last chunk's commit, which COMPLETE carries. */
  #lastCommit: Omit<RequestOf<"COMMIT_CHUNK">, "path" | "fileId" | "clientName"> | undefined;
  #lastChunk: ChunkData | undefined;
  #failure: unknown;
  // Progress: bytes of committed chunks plus the best ack of each chunk in flight.
  readonly #ackedByChunk = new Map<number, number>();
  #progressBytes = 0;
  #reportedBytes = 0;

  constructor(
    context: UploadContext,
    path: string,
    created: ResponseOf<"CREATE">,
    options: PutOptions,
  ) {
    this.#context = context;
    this.#path = path;
    this.#created = created;
    this.#firstGrant = created.chunk;
    this.#options = options;
  }

  async run(source: AsyncIterable<unknown> | FileSource): Promise<PutResult> {
    const { chunkSizeBytes } = this.#created;
    const { chunksInFlight, bufferBytesMax } = this.#context;
    const chunks =
      source instanceof FileSource
        ? new FileChunkSource(source, chunkSizeBytes, frameBytes)
        : new ChunkSource(source, chunkSizeBytes, frameBytes);
    const slots = new Slots(
      uploadWindowFor(source instanceof FileSource, chunkSizeBytes, chunksInFlight, bufferBytesMax),
    );
    const stop = this.#stop.signal;
    const outer = this.#options.signal;
    const onOuterAbort = () => this.#fail(outer?.reason);
    outer?.addEventListener("abort", onOuterAbort, { once: true });
    if (outer?.aborted) onOuterAbort();
    let count = 0;
    try {
      for (;;) {
        await slots.acquire(stop);
        const chunk = await untilAborted(chunks.next(), stop);
        if (chunk === undefined) {
          slots.release();
          break;
        }
        const first = this.#firstGrant;
        this.#firstGrant = undefined;
        const grant = first ?? (await untilAborted(this.#addChunk(), stop));
        const task = this.#send(chunk, grant).finally(() => slots.release());
        this.#tasks.add(task);
        task.then(
          () => this.#tasks.delete(task),
          (error: unknown) => this.#fail(error),
        );
        count++;
      }
      await Promise.all(this.#tasks);
      stop.throwIfAborted();
      await this.#request("COMPLETE", this.#lastCommit ? { lastChunk: this.#lastCommit } : {});
      if (this.#lastChunk) this.#committed(this.#lastChunk);
      this.#progress(chunks.bytesRead);
      this.#context.logger.debug(
        { path: this.#path, fileId: this.#created.fileId, size: chunks.bytesRead, chunks: count },
        "upload complete",
      );
      return { size: chunks.bytesRead, chunks: count };
    } catch (error) {
      this.#fail(error);
      await Promise.allSettled(this.#tasks);
      await chunks.close().catch(() => {});
      await this.#request("ABANDON", {}).catch((abandonError: unknown) => {
        this.#context.logger.warn(
          { path: this.#path, fileId: this.#created.fileId, err: abandonError },
          "could not abandon a failed upload; its lease will expire",
        );
      });
      throw this.#describe(this.#failure);
    } finally {
      outer?.removeEventListener("abort", onOuterAbort);
    }
  }

  /** Writes one chunk, through new pipelines while they fail and attempts remain; commits it. */
  async #send(chunk: ChunkData, firstGrant: ChunkGrant): Promise<void> {
    const { pool, stallTimeoutMs, attemptsPerChunk, logger } = this.#context;
    const stop = this.#stop.signal;
    let grant = firstGrant;
    for (let attempt = 1; ; attempt++) {
      try {
        await writeChunk(pool, grant, chunk, {
          signal: stop,
          stallTimeoutMs,
          onAck: (ackedBytes) => this.#acked(chunk.index, ackedBytes),
        });
        break;
      } catch (error) {
        if (stop.aborted) throw stop.reason;
        if (!(error instanceof PipelineError)) throw error;
        if (error.datanode === undefined && !retryableCodes.has(error.code)) throw error;
        if (error.datanode !== undefined) this.#excluded.add(error.datanode.id);
        logger.warn(
          {
            path: this.#path,
            chunkId: grant.chunkId,
            chunk: chunk.index,
            attempt,
            datanode: error.datanode?.id,
            err: error.message,
          },
          "pipeline failed",
        );
        if (attempt >= attemptsPerChunk) {
          throw new BigFsError(
            error.code,
            `chunk ${chunk.index} failed on ${attempt} pipelines, the last with: ${error.message}`,
            { cause: error },
          );
        }
        grant = await this.#addChunk(grant.chunkId);
      }
    }
    const commit = {
      chunkId: grant.chunkId,
      generation: grant.generation,
      size: chunk.sizeBytes,
      xxh64: chunk.xxh64,
    };
    if (chunk.last) {
      // No chunk follows: COMPLETE commits this one, once every other chunk is committed.
      this.#lastCommit = commit;
      this.#lastChunk = chunk;
      return;
    }
    await this.#request("COMMIT_CHUNK", commit);
    this.#committed(chunk);
  }

  #addChunk(replacesChunkId?: bigint): Promise<ChunkGrant> {
    return whileStarting(
      () =>
        this.#request("ADD_CHUNK", {
          ...(this.#excluded.size > 0 ? { excludeDatanodes: [...this.#excluded] } : {}),
          ...(replacesChunkId === undefined ? {} : { replacesChunkId }),
        }),
      // After DataNodes failed, NO_SPACE means none is left that this upload may use.
      this.#excluded.size === 0 ? addChunkRetryCodes : createRetryCodes,
      this.#stop.signal,
    );
  }

  /** A write-path request for this file, with its path, file id and client name filled in. */
  #request<N extends WritePathMessage>(
    name: N,
    rest: Omit<RequestOf<N>, "path" | "fileId" | "clientName">,
  ): Promise<ResponseOf<N>> {
    const body = {
      ...rest,
      path: this.#path,
      fileId: this.#created.fileId,
      clientName: this.#context.clientName,
    } as unknown as RequestOf<N>;
    return this.#context.namenode.request(name, body);
  }

  #fail(error: unknown): void {
    if (this.#failure === undefined) this.#failure = error ?? new Error("upload failed");
    if (!this.#stop.signal.aborted) this.#stop.abort(this.#failure);
  }

  #describe(error: unknown): unknown {
    const outer = this.#options.signal;
    if (outer?.aborted && error === outer.reason) return error;
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof BigFsError ? error.code : "INTERNAL";
    const failed =
      this.#excluded.size > 0 ? ` (DataNodes that failed: ${[...this.#excluded].join(", ")})` : "";
    return new BigFsError(code, `Cannot upload ${this.#path}: ${message}${failed}`, {
      cause: error,
    });
  }

  #acked(index: number, ackedBytes: number): void {
    const before = this.#ackedByChunk.get(index) ?? 0;
    if (ackedBytes <= before) return;
    this.#ackedByChunk.set(index, ackedBytes);
    this.#progress(this.#progressBytes + ackedBytes - before);
  }

  #committed(chunk: ChunkData): void {
    const before = this.#ackedByChunk.get(chunk.index) ?? 0;
    this.#ackedByChunk.delete(chunk.index);
    this.#progress(this.#progressBytes + chunk.sizeBytes - before);
  }

  #progress(bytes: number): void {
    this.#progressBytes = bytes;
    if (bytes <= this.#reportedBytes) return;
    this.#reportedBytes = bytes;
    this.#options.onProgress?.(bytes);
  }
}
