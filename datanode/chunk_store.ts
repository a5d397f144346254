/**
 * The DataNode's chunk store: chunk replicas on the local disk, each one file holding the
 * chunk's bytes followed by an xxh64 per segment (default 256 KiB) and of the whole chunk.
 *
 * - Layout: `_chunk_layout.ts`. File format, byte by byte: `_chunk_meta.ts`.
 * - Writing: {@linkcode ChunkWriter} appends to a temp file in `tmp/`, hashing as bytes
 *   arrive; chunk data goes past the page cache where the disk takes it (`_direct_io.ts`).
 * - Finalising, in this order: append the metadata; fdatasync the file; rename it into place
 *   (the commit point); fsync the chunk folder (grouped with other replicas', see
 *   `_folder_sync.ts`); then remove an older generation's file. File names carry the
 *   generation, so no rename ever overwrites a committed file, and a crash between any two
 *   steps leaves the complete old replica, or the complete new one (maybe next to the old
 *   one), plus leftovers that `open()` recognises and removes (see `_chunk_scan.ts`).
 * - Deleting: the replica leaves the index at once and its file is removed. The folder is not
 *   fsynced for it: a delete that a crash undoes brings back a replica the NameNode no longer
 *   wants, and it asks for that replica to be deleted again after the next block report.
 * - Reading: `_chunk_read.ts`; every segment read is checked against its stored xxh64.
 * - Space: {@linkcode ChunkStore.usedBytes} counts the files of finalised replicas plus what
 *   open writers have reserved; a reservation that would pass `capacityBytes` is `NO_SPACE`,
 *   as is `ENOSPC` from the disk. A failed write removes its temp file; nothing stored is
 *   touched, and `onNoSpace` is called so the DataNode can tell the NameNode at once.
 *   {@linkcode ChunkStore.remainingBytes} is the room left: capacity less use, or the disk's
 *   free space when that is less (see `_disk_space.ts`).
 *
 * @module
 */
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { BigFsError, createLogger, isBigFsError, type Logger } from "#protocol";
import {
  asNoSpace,
  assertU64,
  chunkFilePath,
  chunkFolder,
  chunksFolderName,
  ensureChunkFolder,
  isNotFound,
  removeFile,
  tempFilePath,
  tmpFolderName,
} from "./_chunk_layout.js";
import { type ChunkMeta, trailerBytesFor } from "./_chunk_meta.js";
import {
  type OpenReplica,
  openReplica,
  readPieces,
  replicaFromBytes,
  type VerifyHooks,
  verifyOpen,
  verifyReplica,
} from "./_chunk_read.js";
import { removeTempLeftovers, type StoredReplica, scanChunks } from "./_chunk_scan.js";
import { ChunkWriter, type ReplicaInfo, type WriterHost } from "./_chunk_writer.js";
import { type ContainerPlace, Containers, recordHeaderBytes } from "./_containers.js";
import { DirectBuffers, probeDirectIo } from "./_direct_io.js";
import { diskFreeBytes } from "./_disk_space.js";
import { FolderSyncs } from "./_folder_sync.js";

export type { VerifyHooks } from "./_chunk_read.js";
export { type ChunkWriteOptions, ChunkWriter, type ReplicaInfo } from "./_chunk_writer.js";

/** Options for {@linkcode ChunkStore.open}. */
export interface ChunkStoreOptions {
  /** The most bytes the store may use, finalised chunks and writers' reservations together. */
  capacityBytes: number;
  /** Bytes per checksummed segment of new chunks; default 256 KiB. */
  segmentBytes?: number;
  logger?: Logger;
  /** Called each time a write is refused `NO_SPACE` (the capacity or the disk is full). */
  onNoSpace?: () => void;
  /**
   * Whether chunk data may bypass the page cache (`O_DIRECT`, see `_direct_io.ts`); default
   * true, used when the file system takes it.
   */
  directIo?: boolean;
  /** Aligned 1 MiB blocks for direct I/O; default 32. Fewer lets tests use them all up. */
  directBlocks?: number;
  /** Containers roll over at this size (`_containers.ts`); default 64 MiB. */
  containerBytesMax?: number;
}

/**
 * A replica written in one piece goes to a container when its file would be at most this:
 * small files, for which a file of their own was most of what storing them cost. Larger ones
 * keep a file of their own, which direct I/O writes and a delete frees at once.
 */
const containedFileBytesMax = 64 * 1024;

/** A piece of a chunk, as {@linkcode ChunkStore.read} yields it. */
export interface ReadPiece {
  /** Offset of `bytes` in the chunk. */
  offset: number;
  /** The bytes; the consumer owns them. */
  bytes: Uint8Array;
  /** xxh64 of `bytes`. */
  xxh64: bigint;
}

/** Options for {@linkcode ChunkStore.createWriter}. */
export interface CreateWriterOptions {
  /** Space to reserve up front; default one segment. The reservation grows as bytes arrive. */
  sizeBytesMax?: number;
  /**
   * False: the writer does not hash the whole chunk; its xxh64 is given to `finalize`
   * (`wholeXxh64`) unless the chunk is one checked piece. Default true.
   */
  hashWhole?: boolean;
}

const segmentBytesDefault = 256 * 1024;
const segmentBytesMax = 64 * 1024 * 1024;

function assertSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot use ${what}: ${value} is not a non-negative integer`);
  }
}

/** The checksummed store of chunk replicas in one data folder. */
export class ChunkStore {
  readonly #dataDir: string;
  readonly #capacityBytes: number;
  readonly #segmentBytes: number;
  readonly #logger: Logger;
  readonly #onNoSpace: (() => void) | undefined;
  readonly #replicas: Map<bigint, StoredReplica>;
  /** Blocks for direct I/O; undefined when it is off or the file system does not take it. */
  readonly #direct: DirectBuffers | undefined;
  readonly #containers: Containers;
  /** Ids being written; `null` while the writer's temp file is being created. */
  readonly #writers = new Map<bigint, ChunkWriter | null>();
  /** Space reserved per id being written. */
  readonly #reservedBytesById = new Map<bigint, number>();
  readonly #host: WriterHost;
  readonly #folderSyncs = new FolderSyncs();
  /** Chunk folders known to exist (at most 65,536), so a write does not ask the disk again. */
  readonly #knownFolders = new Set<string>();
  #finalisedBytes: number;
  #reservedBytes = 0;
  #tempSequence = Date.now();
  #closed = false;
  /** Containers waiting to be compacted, in the order they were found sparse. */
  readonly #toCompact = new Set<number>();
  /** The compaction under way, if any, and its container. */
  #compacting: Promise<void> | undefined;
  #compactingNow: number | undefined;

  private constructor(
    dataDir: string,
    options: ChunkStoreOptions,
    logger: Logger,
    replicas: Map<bigint, StoredReplica>,
    direct: DirectBuffers | undefined,
    containers: Containers,
  ) {
    this.#dataDir = dataDir;
    this.#direct = direct;
    this.#containers = containers;
    this.#capacityBytes = options.capacityBytes;
    this.#segmentBytes = options.segmentBytes ?? segmentBytesDefault;
    this.#logger = logger;
    this.#onNoSpace = options.onNoSpace;
    this.#replicas = replicas;
    // Replica files; containers count their own bytes.
    this.#finalisedBytes = 0;
    for (const replica of replicas.values()) {
      if (replica.place === undefined) this.#finalisedBytes += replica.footprintBytes;
    }
    this.#host = {
      segmentBytes: this.#segmentBytes,
      direct,
      reserve: (writer, sizeBytes) => this.#reserve(writer.id, sizeBytes),
      release: (writer) => {
        if (this.#writers.get(writer.id) === writer) this.#release(writer.id);
      },
      commit: (writer, meta, fileBytes) => this.#commit(writer, meta, fileBytes),
      commitToContainer: (writer, meta, parts, fileBytes) =>
        fileBytes <= containedFileBytesMax
          ? this.#commitToContainer(writer, meta, parts, fileBytes)
          : undefined,
      refused: (error) => this.#refused(error),
    };
  }

  /**
   * Opens the store in `dataDir`, creating its folders if missing, removing temp files a crash
   * left, and indexing finalised chunks from their metadata (data is not read). Chunks whose
   * metadata does not check out are moved to `<dataDir>/corrupt/` and logged.
   */
  static async open(dataDir: string, options: ChunkStoreOptions): Promise<ChunkStore> {
    assertSize(options.capacityBytes, "capacityBytes");
    const segmentBytes = options.segmentBytes ?? segmentBytesDefault;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1 || segmentBytes > segmentBytesMax) {
      throw new RangeError(`Cannot open chunk store: segmentBytes ${segmentBytes} is out of range`);
    }
    const logger = options.logger ?? createLogger({ name: "datanode", level: "silent" });
    const startedMs = Date.now();
    await mkdir(join(dataDir, chunksFolderName), { recursive: true });
    await mkdir(join(dataDir, tmpFolderName), { recursive: true });
    const tempRemoved = await removeTempLeftovers(dataDir, logger);
    const replicas = await scanChunks(dataDir, logger);
    let direct: DirectBuffers | undefined;
    let directIo: string = "off";
    if (options.directIo ?? true) {
      direct = new DirectBuffers(options.directBlocks);
      // Named as a temp file, so that a crash leaving it behind has it removed at the next start.
      const probe = await probeDirectIo(tempFilePath(dataDir, 0n, 0n, 0), direct);
      directIo = probe.ok ? "on" : `not supported here (${probe.reason})`;
      if (!probe.ok) direct = undefined;
    }
    // The store does not exist yet when the scan finds sparse containers: they wait for it.
    let onSparse = (_container: number): void => {};
    let wouldDelete = (_id: bigint, _generation: bigint): boolean => true;
    const found = await Containers.open(dataDir, {
      logger,
      onSparse: (container) => onSparse(container),
      wouldDelete: (id, generation) => wouldDelete(id, generation),
      ...(options.containerBytesMax === undefined
        ? {}
        : { containerBytesMax: options.containerBytesMax }),
    });
    await mergeContained(dataDir, replicas, found.replicas, logger);
    wouldDelete = (id, generation) => {
      const stored = replicas.get(id);
      return stored !== undefined && stored.info.generation <= generation;
    };
    await found.containers.settle(
      [...replicas.values()].flatMap((replica) => (replica.place ? [replica.place] : [])),
    );
    const store = new ChunkStore(dataDir, options, logger, replicas, direct, found.containers);
    onSparse = (container) => store.#compactSoon(container);
    wouldDelete = (id, generation) => store.#wouldDelete(id, generation);
    for (const container of found.containers.sparse()) store.#compactSoon(container);
    logger.info(
      {
        path: dataDir,
        chunks: replicas.size,
        usedBytes: store.usedBytes,
        directIo,
        containers: found.containers.count,
        tempRemoved,
        durationMs: Date.now() - startedMs,
      },
      "chunk store opened",
    );
    if (store.usedBytes > store.capacityBytes) {
      logger.warn({ usedBytes: store.usedBytes }, "chunk store holds more than its capacity");
    }
    return store;
  }

  /** The configured limit, in bytes. */
  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  /**
   * Bytes of finalised replicas (their files, or their records in containers) plus bytes
   * reserved by open writers. Dead records in containers are not counted: they are garbage,
   * freed with their container, and the disk's own free space bounds what is left anyway.
   */
  get usedBytes(): number {
    return this.#finalisedBytes + this.#containers.liveBytes + this.#reservedBytes;
  }

  /**
   * Bytes on disk that containers hold but no live replica uses: deleted or replaced records
   * (and torn tails), freed when their container is compacted or removed. Not in `usedBytes`.
   */
  get deadContainerBytes(): number {
    return this.#containers.totalBytes - this.#containers.liveBytes;
  }

  /** How many fdatasyncs of containers appends have run (many replicas share one). */
  get containerSyncs(): number {
    return this.#containers.syncs;
  }

  /** Whether chunk data is written and read with direct I/O (`O_DIRECT`). */
  get directIo(): boolean {
    return this.#direct !== undefined;
  }

  /** Bytes of chunk data written and read with direct I/O since the store opened. */
  get directBytes(): { written: number; read: number } {
    return {
      written: this.#direct?.directBytesWritten ?? 0,
      read: this.#direct?.directBytesRead ?? 0,
    };
  }

  /** How many folder fsyncs finalising has run (several replicas may share one). */
  get folderSyncs(): number {
    return this.#folderSyncs.syncs;
  }

  /**
   * Room left for chunks: capacity less use, or what the disk can still take when that is less
   * (asked of the file system on each call).
   */
  async remainingBytes(): Promise<number> {
    const left = Math.max(0, this.#capacityBytes - this.usedBytes);
    const diskBytes = await diskFreeBytes(join(this.#dataDir, chunksFolderName));
    return diskBytes === undefined ? left : Math.min(left, diskBytes);
  }

  /** How many finalised replicas the store holds. */
  get chunkCount(): number {
    return this.#replicas.size;
  }

  /** Every finalised replica. Replicas added or removed while iterating may or may not appear. */
  *list(): IterableIterator<ReplicaInfo> {
    for (const replica of this.#replicas.values()) yield replica.info;
  }

  /** The finalised replica of chunk `id`, if the store has one. */
  get(id: bigint): ReplicaInfo | undefined {
    return this.#replicas.get(id)?.info;
  }

  /**
   * Starts writing generation `generation` of chunk `id`.
   *
   * @throws {BigFsError} `EXISTS` while another writer for `id` is open, or when this
   * generation is already stored; `STALE_GENERATION` when a newer one is stored; `NO_SPACE`
   * when the reservation does not fit.
   */
  async createWriter(
    id: bigint,
    generation: bigint,
    options: CreateWriterOptions = {},
  ): Promise<ChunkWriter> {
    assertU64(id, "chunk id");
    assertU64(generation, "generation");
    const sizeBytesMax = options.sizeBytesMax ?? this.#segmentBytes;
    assertSize(sizeBytesMax, "sizeBytesMax");
    this.#assertOpen(`write chunk ${id}`);
    if (this.#writers.has(id)) {
      throw new BigFsError("EXISTS", `Cannot write chunk ${id}: another writer has it open`);
    }
    this.#assertNotStored(id, generation);
    const tempPath = tempFilePath(this.#dataDir, id, generation, this.#tempSequence++);
    // The writer claims the id and its space before the first await, so racing calls see it.
    this.#writers.set(id, null);
    try {
      this.#reserve(id, sizeBytesMax);
      const writer = new ChunkWriter(this.#host, {
        id,
        generation,
        tempPath,
        ...(options.hashWhole === false ? { hashWhole: false } : {}),
      });
      this.#writers.set(id, writer);
      return writer;
    } catch (error) {
      this.#release(id);
      throw this.#refused(asNoSpace(error, `Cannot write chunk ${id}`));
    }
  }

  /**
   * Reads chunk `id`, or the range of it, checking every segment against its stored xxh64.
   * Pieces follow segment borders; a whole segment's piece carries the stored checksum. A
   * zero-length range yields nothing. Errors surface from the first `next()`.
   *
   * @throws {BigFsError} `NOT_FOUND`; `INVALID_ARGUMENT` for a range past the end;
   * `CHECKSUM_MISMATCH` naming the chunk and segment.
   */
  async *read(
    id: bigint,
    range: { offset?: number; length?: number } = {},
  ): AsyncGenerator<ReadPiece, void, undefined> {
    assertU64(id, "chunk id");
    this.#assertOpen(`read chunk ${id}`);
    let stored = this.#replicas.get(id);
    if (stored === undefined) throw this.#notFound(id, "read");
    const size = stored.info.size;
    const offset = range.offset ?? 0;
    const length = range.length ?? Math.max(0, size - offset);
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0
    ) {
      throw new BigFsError("INVALID_ARGUMENT", `Cannot read chunk ${id}: bad range`);
    }
    if (offset + length > size) {
      throw new BigFsError(
        "INVALID_ARGUMENT",
        `Cannot read chunk ${id}: range ${offset}+${length} ends beyond its ${size} bytes`,
      );
    }
    const open = ({ info, footprintBytes, place }: StoredReplica) =>
      place
        ? this.#openContained(info, place)
        : openReplica(this.#path(info), info, {
            readWhole: true,
            fileBytes: footprintBytes,
            direct: this.#direct,
          });
    let replica: OpenReplica;
    try {
      replica = await open(stored);
    } catch (error) {
      // A newer generation may have replaced the one looked up; read that one instead.
      const current = this.#replicas.get(id);
      if (!isNotFound(error) || current === undefined || current === stored) {
        throw isNotFound(error) ? this.#notFound(id, "read") : error;
      }
      stored = current;
      if (offset + length > stored.info.size) throw this.#notFound(id, "read");
      replica = await open(stored);
    }
    yield* readPieces(replica, offset, offset + length);
  }

  /**
   * Re-reads chunk `id` in full: the metadata's own checksum, every segment and the whole-chunk
   * xxh64. `hooks` let a scrubber pace the reads.
   *
   * @throws {BigFsError} `NOT_FOUND`; `CHECKSUM_MISMATCH` at the first thing that is wrong.
   */
  async verify(id: bigint, hooks: VerifyHooks = {}): Promise<void> {
    assertU64(id, "chunk id");
    this.#assertOpen(`verify chunk ${id}`);
    const stored = this.#replicas.get(id);
    if (stored === undefined) throw this.#notFound(id, "verify");
    const { info, place } = stored;
    try {
      if (place) await verifyOpen(await this.#openContained(info, place), hooks);
      else await verifyReplica(this.#path(info), info, hooks, this.#direct);
    } catch (error) {
      throw isNotFound(error) ? this.#notFound(id, "verify") : error;
    }
  }

  /** Deletes chunk `id`'s finalised replica; false when there was none. Open writers go on. */
  async delete(id: bigint): Promise<boolean> {
    assertU64(id, "chunk id");
    this.#assertOpen(`delete chunk ${id}`);
    const stored = this.#replicas.get(id);
    if (stored === undefined) return false;
    this.#replicas.delete(id);
    if (stored.place) {
      try {
        await this.#containers.appendTombstone(id, stored.info.generation, stored.place);
      } catch (error) {
        // Gone from the index all the same; without its tombstone the replica may come back
        // at the next start, and the NameNode then asks for it to be deleted again.
        this.#logger.warn({ chunkId: id, err: error }, "cannot remove a contained replica");
      }
    } else {
      this.#finalisedBytes -= stored.footprintBytes;
      await removeFile(this.#path(stored.info));
    }
    this.#logger.info({ chunkId: id, generation: stored.info.generation }, "chunk deleted");
    return true;
  }

  /** Aborts open writers; later calls fail with `UNAVAILABLE`. Reads under way finish. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const writers = [...this.#writers.values()].filter((writer) => writer !== null);
    await Promise.allSettled(writers.map((writer) => writer.abort()));
    await this.#compacting;
    await this.#containers.close();
    this.#logger.info({ abortedWriters: writers.length }, "chunk store closed");
  }

  /** Passes `error` on, telling `onNoSpace` first when it is `NO_SPACE`. */
  #refused(error: unknown): unknown {
    if (isBigFsError(error, "NO_SPACE")) {
      this.#logger.warn({ err: error }, "chunk store is out of space");
      this.#onNoSpace?.();
    }
    return error;
  }

  #assertOpen(action: string): void {
    if (this.#closed) throw new BigFsError("UNAVAILABLE", `Cannot ${action}: the store is closed`);
  }

  #assertNotStored(id: bigint, generation: bigint): void {
    const stored = this.#replicas.get(id)?.info;
    if (stored === undefined || stored.generation < generation) return;
    const code = stored.generation === generation ? "EXISTS" : "STALE_GENERATION";
    throw new BigFsError(
      code,
      `Cannot write chunk ${id} generation ${generation}: generation ${stored.generation} is stored`,
    );
  }

  #notFound(id: bigint, action: string): BigFsError {
    return new BigFsError("NOT_FOUND", `Cannot ${action} chunk ${id}: no such chunk`);
  }

  #path(info: ReplicaInfo): string {
    return chunkFilePath(this.#dataDir, info.id, info.generation);
  }

  /** What a chunk of `sizeBytes` may take on disk, rounded up to whole segments. */
  #footprintFor(sizeBytes: number): number {
    const rounded = Math.ceil(sizeBytes / this.#segmentBytes) * this.#segmentBytes;
    return rounded + trailerBytesFor(rounded, this.#segmentBytes);
  }

  #reserve(id: bigint, sizeBytes: number): void {
    const held = this.#reservedBytesById.get(id) ?? 0;
    const wanted = this.#footprintFor(sizeBytes);
    if (wanted <= held) return;
    if (this.usedBytes - held + wanted > this.#capacityBytes) {
      throw new BigFsError(
        "NO_SPACE",
        `Cannot write chunk ${id}: ${wanted} bytes do not fit, ` +
          `${this.usedBytes} of ${this.#capacityBytes} are used`,
      );
    }
    this.#reservedBytesById.set(id, wanted);
    this.#reservedBytes += wanted - held;
  }

  /** Gives back the space reserved for writing `id` and the claim on it. */
  #release(id: bigint): void {
    this.#reservedBytes -= this.#reservedBytesById.get(id) ?? 0;
    this.#reservedBytesById.delete(id);
    this.#writers.delete(id);
  }

  async #commit(writer: ChunkWriter, meta: ChunkMeta, fileBytes: number): Promise<ReplicaInfo> {
    const { id, generation } = writer;
    this.#assertNotStored(id, generation);
    const folder = chunkFolder(this.#dataDir, id);
    const info: ReplicaInfo = Object.freeze({
      id,
      generation,
      size: meta.sizeBytes,
      xxh64: meta.xxh64,
    });
    if (!this.#knownFolders.has(folder)) {
      await ensureChunkFolder(folder);
      this.#knownFolders.add(folder);
    }
    const path = this.#path(info);
    await rename(writer.tempPath, path);
    try {
      await this.#folderSyncs.sync(folder);
    } catch (error) {
      await removeFile(path);
      throw error;
    }
    this.#finalisedBytes += fileBytes;
    await this.#index(info, { info, footprintBytes: fileBytes });
    return info;
  }

  /** Appends a replica written in one piece to a container, then indexes it. */
  async #commitToContainer(
    writer: ChunkWriter,
    meta: ChunkMeta,
    parts: readonly Uint8Array[],
    fileBytes: number,
  ): Promise<ReplicaInfo> {
    const { id, generation } = writer;
    this.#assertNotStored(id, generation);
    const info: ReplicaInfo = Object.freeze({
      id,
      generation,
      size: meta.sizeBytes,
      xxh64: meta.xxh64,
    });
    const place = await this.#containers.appendReplica(id, generation, parts);
    await this.#index(info, { info, footprintBytes: fileBytes + recordHeaderBytes, place });
    return info;
  }

  /**
   * Makes a durable new replica the one the store serves, frees the writer's claim, and
   * removes the replica it replaces (a file, or a record its container no longer counts).
   */
  async #index(info: ReplicaInfo, stored: StoredReplica): Promise<void> {
    const { id, generation } = info;
    const old = this.#replicas.get(id);
    this.#replicas.set(id, stored);
    this.#release(id);
    this.#logger.debug({ chunkId: id, generation, sizeBytes: info.size }, "chunk finalised");
    if (old === undefined) return;
    try {
      if (old.place) {
        // A tombstone, not just a release: should the new replica be a file that is deleted
        // later, the old record must not come back at the next start. It cannot delete the
        // new one, whose generation is higher.
        await this.#containers.appendTombstone(id, old.info.generation, old.place);
      } else {
        this.#finalisedBytes -= old.footprintBytes;
        await removeFile(this.#path(old.info));
      }
    } catch (error) {
      // The new replica is committed; what is left of the old one goes at the next start-up.
      this.#logger.error({ chunkId: id, err: error }, "cannot remove a replaced replica");
    }
  }

  /** Whether a tombstone of `id` at `generation` would delete what is stored or being written. */
  #wouldDelete(id: bigint, generation: bigint): boolean {
    const stored = this.#replicas.get(id);
    if (stored !== undefined && stored.info.generation <= generation) return true;
    if (!this.#writers.has(id)) return false;
    // A writer still being set up (null) has no generation yet: assume the worst.
    const writer = this.#writers.get(id);
    return writer === null || writer === undefined || writer.generation <= generation;
  }

  /** Queues a container more than half dead to have its live replicas moved out. */
  #compactSoon(container: number): void {
    if (this.#closed || container === this.#compactingNow) return;
    this.#toCompact.add(container);
    this.#compacting ??= this.#compactAll().finally(() => {
      this.#compacting = undefined;
      // One queued after the loop looked for the last time.
      const [next] = this.#toCompact;
      if (next !== undefined) {
        this.#toCompact.delete(next);
        this.#compactSoon(next);
      }
    });
  }

  async #compactAll(): Promise<void> {
    for (const container of this.#toCompact) {
      this.#toCompact.delete(container);
      if (this.#closed) return;
      this.#compactingNow = container;
      try {
        await this.#compact(container);
      } catch (error) {
        this.#logger.error({ container, err: error }, "cannot compact a container");
      } finally {
        this.#compactingNow = undefined;
      }
    }
  }

  /**
   * Copies the live replicas of a sparse container to the active one, a batch at a time (their
   * appends share fdatasyncs), then lets the old one go with its last live replica. A replica
   * replaced or deleted while it was copied keeps its new state; the copy is dead at once.
   */
  async #compact(container: number): Promise<void> {
    const live = [...this.#replicas.values()].filter(
      (stored) => stored.place?.container === container,
    );
    const startedMs = Date.now();
    let moved = 0;
    // The reads of a batch are blocking and run in one turn of the event loop: 32 replicas of
    // at most 64 KiB hold it for at most 2 MiB of reads, and still share an fdatasync.
    const batchSize = 32;
    for (let start = 0; start < live.length && !this.#closed; start += batchSize) {
      const batch = live.slice(start, start + batchSize);
      await Promise.all(
        batch.map(async (stored) => {
          const { info, place } = stored;
          if (this.#replicas.get(info.id) !== stored || place === undefined) return;
          let bytes: Buffer;
          try {
            bytes = this.#containers.read(place);
          } catch {
            return; // gone meanwhile
          }
          const copy = await this.#containers.appendReplica(info.id, info.generation, [bytes]);
          if (this.#replicas.get(info.id) === stored) {
            this.#replicas.set(info.id, { ...stored, place: copy });
            await this.#containers.release(place);
            moved++;
          } else if (this.#wouldDelete(info.id, info.generation)) {
            // Written again at this generation since: a tombstone after that record would
            // delete it at the next start. The later record wins over the copy there.
            await this.#containers.release(copy);
          } else {
            // Deleted or replaced while it was copied. The copy needs a tombstone of its own:
            // the delete's may never be written (none is when the record it deleted goes
            // with its container), and the copy would then come back at the next start.
            await this.#containers.appendTombstone(info.id, info.generation, copy);
          }
        }),
      );
    }
    this.#logger.info(
      { container, moved, durationMs: Date.now() - startedMs },
      "container compacted",
    );
  }

  /** A contained replica's whole file, read from its container, metadata checked. */
  async #openContained(info: ReplicaInfo, place: ContainerPlace): Promise<OpenReplica> {
    return replicaFromBytes(this.#containers.read(place), info);
  }
}

/**
 * Merges the replicas found in containers into those found as files: the newest generation of
 * each chunk wins (a file on a tie), and a file an older generation left is removed, as the
 * scan of files does among files.
 */
async function mergeContained(
  dataDir: string,
  replicas: Map<bigint, StoredReplica>,
  contained: Map<bigint, { meta: ChunkMeta; place: ContainerPlace }>,
  logger: Logger,
): Promise<void> {
  for (const [id, { meta, place }] of contained) {
    const file = replicas.get(id);
    if (file !== undefined && file.info.generation >= meta.generation) continue;
    if (file !== undefined) {
      logger.info(
        { chunkId: id, generation: file.info.generation },
        "removing a chunk file a newer contained generation replaced",
      );
      await removeFile(chunkFilePath(dataDir, id, file.info.generation));
    }
    const info = Object.freeze({
      id,
      generation: meta.generation,
      size: meta.sizeBytes,
      xxh64: meta.xxh64,
    });
    replicas.set(id, { info, footprintBytes: place.bytes + recordHeaderBytes, place });
  }
}
