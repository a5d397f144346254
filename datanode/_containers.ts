/**
 * Containers: small replicas appended to shared files, one fdatasync for many.
 *
 * A replica written in one frame (every small file's) is not given a file of its own: it is
 * appended, as a record, to the store's active container, and a batch of records is written
 * with one `writev` and made durable with one fdatasync (group commit, as the NameNode's edit
 * log does). A file per replica cost a create, a write, an fdatasync, a close, a rename and a
 * share of a folder fsync, and on this machine's ext4 the inode allocation alone could take
 * hundreds of microseconds of CPU; storing a 4 KiB replica was most of a small put's cost. The
 * idea is Haystack's and Ozone's containers.
 *
 * ```text
 * containers/container_<n>.log: [ record ][ record ] ...
 * record: [ header: 40 bytes ][ payload ]
 * header: magic `BFSR` (4) | kind u8: 1 replica, 2 tombstone | 3 zero bytes
 *         | chunk id u64 | generation u64 | payload length u32 | 4 zero bytes
 *         | xxh64 of the 32 bytes before it (8)
 * replica payload: exactly what a replica's own file holds (`_chunk_meta.ts`): data, metadata
 *                  and footer, every checksum included
 * tombstone payload: none
 * ```
 *
 * - Durability: a record is acknowledged only once the fdatasync that followed its write has
 *   ended. Each start of the store begins a new container (its name made durable with a
 *   folder fsync before the first record is acknowledged), and so does a failed write, so a
 *   torn record can only be a container's last. The start-up scan skips a record that does not
 *   check out to the next one that does (damage: the container is kept aside, `.damaged`,
 *   when it goes), or stops there when none does (a torn tail), and logs what it left.
 * - Deletes append a tombstone, written with the next batch but not fdatasynced for its own
 *   sake, as deletes of replica files are not durable either (a delete that a crash undoes
 *   brings back a replica the NameNode no longer wants, and it asks again).
 * - A container none of whose replicas is live any more is removed. Its tombstones may still
 *   be needed: one whose deleted record's container is still there is appended to the active
 *   container, durably, before it goes (see `#remove`); one whose is gone is dropped.
 * - A container more than half dead is reported through `onSparse`; the store then copies its
 *   live replicas to the active container (compaction), and it goes with its last one.
 * - A newer generation of a chunk, in a container or in a file of its own, replaces an older
 *   one: the scan keeps the newest generation it finds, and later copies of a record win.
 * - Space: live records count as used; dead ones stay on disk until their container goes.
 *
 * @module
 */
import { closeSync, openSync } from "node:fs";
import { type FileHandle, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { BigFsError, type Logger, syncFolder, writeAllParts, xxh64 } from "#protocol";
import { ensureChunkFolder, isNotFound } from "./_chunk_layout.js";
import type { ChunkMeta } from "./_chunk_meta.js";
import { metaOfWhole, readAtSync } from "./_chunk_read.js";

/** The folder of containers in a data folder. */
export const containersFolderName = "containers";

const containerNamePattern = /^container_(\d{1,15})\.log$/;
const recordMagic = 0x42465352; // "BFSR"
const magicBytes = Buffer.from("BFSR", "latin1");
/** Bytes of a record's header. */
export const recordHeaderBytes = 40;
const kindReplica = 1;
const kindTombstone = 2;

/** Containers are rolled over once they reach this size; default 64 MiB. */
const containerBytesMaxDefault = 64 * 1024 * 1024;

/** Where a replica's payload is. */
export interface ContainerPlace {
  container: number;
  /** Offset of the payload (after the header) in the container. */
  offset: number;
  /** Payload bytes. */
  bytes: number;
}

/** A live replica found by the start-up scan. */
export interface ContainerReplica {
  meta: ChunkMeta;
  place: ContainerPlace;
}

/** A tombstone, and the container that held the record it deleted when it was written. */
interface Tombstone {
  id: bigint;
  generation: bigint;
  origin: number;
}

interface ContainerState {
  path: string;
  /** Bytes of the file, torn tail included. */
  bytes: number;
  /** Live replicas in it. */
  live: number;
  /** Bytes of its live replicas' records. */
  liveBytes: number;
  /** For blocking reads; opened on the first. */
  fd: number | undefined;
  removing: boolean;
  /** The tombstones in it, carried to the active container should it go before older ones. */
  tombstones: Tombstone[];
  /** Whether a replica record was ever written to it (one with only tombstones is never rolled). */
  hadReplica: boolean;
  /** The scan skipped damaged bytes in it: when it goes, it is kept aside, not removed. */
  damaged: boolean;
}

interface Pending {
  parts: Uint8Array[];
  bytes: number;
  /** A replica record, live once written; a tombstone is not. */
  live: boolean;
  /** Resolved only once fdatasynced; a tombstone of a delete is not waited for. */
  durable: boolean;
  /** What a tombstone deletes. */
  tombstone?: Tombstone;
  /** The chunk a replica record is of. */
  id?: bigint;
  resolve: (place: { container: number; offset: number }) => void;
  reject: (error: unknown) => void;
}

/** The state of a container file of `bytes`, nothing in it counted yet. */
function newState(path: string, bytes: number): ContainerState {
  return {
    path,
    bytes,
    live: 0,
    liveBytes: 0,
    fd: undefined,
    removing: false,
    tombstones: [],
    hadReplica: false,
    damaged: false,
  };
}

/** More than half of the container's bytes are dead records (or a torn tail). */
function isSparse(state: ContainerState): boolean {
  return state.liveBytes * 2 < state.bytes;
}

function containerName(sequence: number): string {
  return `container_${String(sequence).padStart(8, "0")}.log`;
}

function encodeHeader(kind: number, id: bigint, generation: bigint, payloadBytes: number): Buffer {
  const header = Buffer.alloc(recordHeaderBytes);
  header.writeUInt32BE(recordMagic, 0);
  header.writeUInt8(kind, 4);
  header.writeBigUInt64BE(id, 8);
  header.writeBigUInt64BE(generation, 16);
  header.writeUInt32BE(payloadBytes, 24);
  header.writeBigUInt64BE(xxh64(header.subarray(0, 32)), 32);
  return header;
}

interface Header {
  kind: number;
  id: bigint;
  generation: bigint;
  payloadBytes: number;
}

/**
 * Where the next record that checks out starts, from `from` on: its magic, header checksum
 * and length (within `bytes`) all good; undefined when none does.
 */
function nextRecord(bytes: Buffer, from: number): number | undefined {
  for (let at = bytes.indexOf(magicBytes, from); at >= 0; at = bytes.indexOf(magicBytes, at + 1)) {
    const header = decodeHeader(bytes, at);
    if (header !== undefined && at + recordHeaderBytes + header.payloadBytes <= bytes.byteLength) {
      return at;
    }
  }
  return undefined;
}

/** What a scan of a container's bytes finds, in order. */
export type ScannedRecord =
  | {
      kind: "replica" | "tombstone";
      id: bigint;
      generation: bigint;
      /** Where the payload starts, and its length (a tombstone has none). */
      offset: number;
      payloadBytes: number;
    }
  /** Bytes that do not check out, with a good record after them at `next`: damage. */
  | { kind: "damaged"; offset: number; next: number }
  /** Bytes that do not check out, and nothing good after them: a torn tail. */
  | { kind: "torn"; offset: number };

/**
 * The records of a container file's `bytes`, in order. A record that does not check out is
 * skipped to the next one that does (damage), or ends the scan when none does (a torn tail).
 */
export function* scanRecords(bytes: Buffer): Generator<ScannedRecord> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const header = decodeHeader(bytes, offset);
    const end = header === undefined ? -1 : offset + recordHeaderBytes + header.payloadBytes;
    if (header === undefined || end > bytes.byteLength) {
      const next = nextRecord(bytes, offset + 1);
      if (next === undefined) {
        yield { kind: "torn", offset };
        return;
      }
      yield { kind: "damaged", offset, next };
      offset = next;
      continue;
    }
    yield {
      kind: header.kind === kindTombstone ? "tombstone" : "replica",
      id: header.id,
      generation: header.generation,
      offset: offset + recordHeaderBytes,
      payloadBytes: header.payloadBytes,
    };
    offset = end;
  }
}

function decodeHeader(bytes: Buffer, offset: number): Header | undefined {
  const header = bytes.subarray(offset, offset + recordHeaderBytes);
  if (header.byteLength < recordHeaderBytes) return undefined;
  if (header.readUInt32BE(0) !== recordMagic) return undefined;
  if (header.readBigUInt64BE(32) !== xxh64(header.subarray(0, 32))) return undefined;
  const kind = header.readUInt8(4);
  if (kind !== kindReplica && kind !== kindTombstone) return undefined;
  return {
    kind,
    id: header.readBigUInt64BE(8),
    generation: header.readBigUInt64BE(16),
    payloadBytes: header.readUInt32BE(24),
  };
}

/** Options for {@linkcode Containers.open}. */
export interface ContainersOptions {
  logger: Logger;
  /** Roll over to a new container at this size; default 64 MiB. */
  containerBytesMax?: number;
  /**
   * Called when a container other than the active one is more than half dead: its live
   * replicas are worth moving, so that it can go (see `ChunkStore`).
   */
  onSparse?: (container: number) => void;
  /**
   * Whether a tombstone of chunk `id` at `generation` would delete what the store holds or is
   * writing of that chunk now: a replica (in a container or a file) or a writer at that
   * generation or below. Such a tombstone is not carried forward (see `#remove`).
   */
  wouldDelete?: (id: bigint, generation: bigint) => boolean;
}

/** The store's containers: appends with group commit, reads, and removal of dead ones. */
export class Containers {
  readonly #folder: string;
  readonly #logger: Logger;
  readonly #containerBytesMax: number;
  readonly #onSparse: ((container: number) => void) | undefined;
  readonly #wouldDelete: (id: bigint, generation: bigint) => boolean;
  readonly #states = new Map<number, ContainerState>();
  #active: { sequence: number; handle: FileHandle; bytes: number } | undefined;
  #nextSequence: number;
  #queue: Pending[] = [];
  #draining = false;
  /** The append loop while it runs. */
  #drained: Promise<void> = Promise.resolve();
  #syncs = 0;
  /** Set by `close`: appends from outside fail; removals under way may still carry tombstones. */
  #closing = false;
  /** Set once `close` has let the appends and removals under way end: every append fails. */
  #closed = false;
  /** Removals of containers under way (one started inside the append loop is not awaited). */
  readonly #removals = new Set<Promise<void>>();
  /** The sums of every state's `bytes` and `liveBytes`, kept as they change: read per frame. */
  #totalBytes = 0;
  #liveBytes = 0;

  private constructor(folder: string, options: ContainersOptions, nextSequence: number) {
    this.#folder = folder;
    this.#logger = options.logger;
    this.#containerBytesMax = options.containerBytesMax ?? containerBytesMaxDefault;
    this.#onSparse = options.onSparse;
    this.#wouldDelete = options.wouldDelete ?? (() => false);
    this.#nextSequence = nextSequence;
  }

  /**
   * Scans the containers in `dataDir` and returns them with the live replicas found: the
   * newest generation of each chunk, less those a later tombstone deleted. The caller merges
   * them with the replica files, then calls {@linkcode Containers.settle}.
   */
  static async open(
    dataDir: string,
    options: ContainersOptions,
  ): Promise<{ containers: Containers; replicas: Map<bigint, ContainerReplica> }> {
    const folder = join(dataDir, containersFolderName);
    // Durable at once: a container's name is synced into this folder, not this folder's own.
    await ensureChunkFolder(folder);
    const sequences: number[] = [];
    for (const name of await readdir(folder)) {
      const match = containerNamePattern.exec(name);
      if (match) sequences.push(Number(match[1]));
      else
        options.logger.warn(
          { path: join(folder, name) },
          "unknown file among containers left alone",
        );
    }
    sequences.sort((a, b) => a - b);
    const containers = new Containers(folder, options, (sequences.at(-1) ?? 0) + 1);
    const replicas = new Map<bigint, ContainerReplica>();
    for (const sequence of sequences) await containers.#scan(sequence, replicas);
    return { containers, replicas };
  }

  /** How many fdatasyncs appends have made: fewer than the records when they were shared. */
  get syncs(): number {
    return this.#syncs;
  }

  /** Bytes of every container on disk, dead records and torn tails included. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /**
   * Bytes of live replicas' records: what the store counts as used. The rest of
   * {@linkcode Containers.totalBytes} is dead records, freed when their container goes.
   */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** How many containers there are. */
  get count(): number {
    return this.#states.size;
  }

  /**
   * Counts `live` as the replicas the store kept from the scan, removes containers with none,
   * and starts a new active container, durable before anything is appended to it.
   */
  async settle(live: Iterable<ContainerPlace>): Promise<void> {
    for (const place of live) {
      const state = this.#states.get(place.container)!;
      state.live += 1;
      state.liveBytes += recordHeaderBytes + place.bytes;
      this.#liveBytes += recordHeaderBytes + place.bytes;
    }
    // The active container first: tombstones carried out of dead containers go there.
    const active = await this.#roll();
    for (const [sequence, state] of [...this.#states]) {
      if (sequence === active.sequence) continue;
      if (state.live === 0) await this.#remove(sequence, state);
      else if (isSparse(state)) this.#onSparse?.(sequence);
    }
  }

  /** The containers more than half dead, the active one aside. */
  sparse(): number[] {
    const found: number[] = [];
    for (const [sequence, state] of this.#states) {
      if (sequence !== this.#active?.sequence && state.live > 0 && isSparse(state)) {
        found.push(sequence);
      }
    }
    return found;
  }

  /**
   * Appends a replica record whose payload is `parts` (a replica file's bytes) and resolves,
   * once it is durable, with where the payload is.
   */
  async appendReplica(
    id: bigint,
    generation: bigint,
    parts: readonly Uint8Array[],
  ): Promise<ContainerPlace> {
    let bytes = 0;
    for (const part of parts) bytes += part.byteLength;
    const header = encodeHeader(kindReplica, id, generation, bytes);
    const { container, offset } = await this.#append(
      [header, ...parts],
      recordHeaderBytes + bytes,
      { live: true, durable: true, carried: false },
      undefined,
      id,
    );
    return { container, offset: offset + recordHeaderBytes, bytes };
  }

  /**
   * Marks a deleted replica's record dead and queues its tombstone, which goes to disk with the
   * next batch but is not fdatasynced for its own sake (deletes need not be durable; see the
   * module comment): deleting thousands of replicas waits for no fdatasync. No tombstone is
   * needed when the container goes with this release: written to a new active container, it
   * would start a container of tombstones alone.
   */
  async appendTombstone(id: bigint, generation: bigint, place: ContainerPlace): Promise<void> {
    await this.release(place);
    // The record goes with its container when that was its last live one: nothing to delete.
    const origin = this.#states.get(place.container);
    if (origin === undefined || origin.removing) return;
    this.#appendTombstone({ id, generation, origin: place.container }, false).catch(
      (error: unknown) => {
        this.#logger.warn({ chunkId: id, err: error }, "cannot append a tombstone");
      },
    );
  }

  /** Appends a tombstone: of a delete (not durable), or carried out of a container (durable). */
  #appendTombstone(tombstone: Tombstone, carried: boolean): Promise<unknown> {
    const header = encodeHeader(kindTombstone, tombstone.id, tombstone.generation, 0);
    return this.#append(
      [header],
      recordHeaderBytes,
      { live: false, durable: carried, carried },
      tombstone,
    );
  }

  /** Marks a record dead (replaced or deleted); removes its container once none is live. */
  async release(place: ContainerPlace): Promise<void> {
    const state = this.#states.get(place.container);
    if (state === undefined) return;
    state.live -= 1;
    state.liveBytes -= recordHeaderBytes + place.bytes;
    this.#liveBytes -= recordHeaderBytes + place.bytes;
    if (state.live > 0) {
      if (place.container !== this.#active?.sequence && isSparse(state)) {
        this.#onSparse?.(place.container);
      }
      return;
    }
    if (place.container !== this.#active?.sequence) {
      await this.#remove(place.container, state);
    } else if (!this.#draining) {
      // The active container holds nothing live: it goes too, and the next append starts
      // another.
      await this.#retireActive();
    }
  }

  /**
   * Reads a replica's payload: its whole file, as a replica file would be read. Payloads are
   * small (the store contains replicas of at most 64 KiB), so this is one blocking read on
   * this thread, as for a small replica file (see `_chunk_read.ts`): no hand-off to the pool,
   * and no container can be removed under it.
   */
  read(place: ContainerPlace): Buffer {
    const state = this.#states.get(place.container);
    if (state === undefined || state.removing) {
      // As a replica file removed under a read would be.
      const error: NodeJS.ErrnoException = new Error(`Container ${place.container} is gone`);
      error.code = "ENOENT";
      throw error;
    }
    state.fd ??= openSync(state.path, "r");
    // Short only if the container was cut under us: its metadata check then fails.
    return readAtSync(state.fd, place.bytes, place.offset);
  }

  /**
   * Stops appending: what is queued is written first, removals under way end, later appends
   * fail, files are closed. Nothing is left changing the folder when it resolves.
   */
  async close(): Promise<void> {
    this.#closing = true;
    // What is queued (tombstones nobody waits for, among others) is written first, and a
    // removal started in the append loop may still be carrying its tombstones out.
    while (this.#draining || this.#removals.size > 0) {
      await this.#drained;
      await Promise.allSettled(this.#removals);
    }
    this.#closed = true;
    await this.#active?.handle.close().catch(() => {});
    this.#active = undefined;
    for (const state of this.#states.values()) {
      if (state.fd !== undefined) closeSync(state.fd);
      state.fd = undefined;
    }
  }

  #append(
    parts: Uint8Array[],
    bytes: number,
    { live, durable, carried }: { live: boolean; durable: boolean; carried: boolean },
    tombstone?: Tombstone,
    id?: bigint,
  ): Promise<{ container: number; offset: number }> {
    if (this.#closed || (this.#closing && !carried)) {
      return Promise.reject(new BigFsError("UNAVAILABLE", "The chunk store is closed"));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({
        parts,
        bytes,
        live,
        durable,
        resolve,
        reject,
        ...(tombstone && { tombstone }),
        ...(id !== undefined && { id }),
      });
      if (!this.#draining) this.#drained = this.#drain();
    });
  }

  /** Writes queued records a batch at a time: one `writev`, one fdatasync per batch. */
  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      // Removing a container may queue the tombstones it carries out: loop until none is left.
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        try {
          await this.#writeBatch(batch);
        } catch (error) {
          for (const pending of batch) pending.reject(error);
          // The container may now end in a torn record: what follows goes to a new one.
          await this.#retireActive();
        }
        if (this.#queue.length > 0) continue;
        // Replicas released while a batch was being written may have left the active
        // container with nothing live (see `release`). One that never held a replica stays:
        // it holds only tombstones, perhaps carried out of another, and would be carried on
        // and on.
        const state = this.#active && this.#states.get(this.#active.sequence);
        if (state !== undefined && state.live <= 0 && state.hadReplica) {
          await this.#retireActive();
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    let active = this.#active;
    if (active === undefined || active.bytes >= this.#containerBytesMax) {
      await this.#retireActive();
      active = await this.#roll();
    }
    const start = active.bytes;
    const parts: Uint8Array[] = [];
    const places: { container: number; offset: number }[] = [];
    let at = start;
    for (const pending of batch) {
      places.push({ container: active.sequence, offset: at });
      parts.push(...pending.parts);
      at += pending.bytes;
    }
    const state = this.#states.get(active.sequence)!;
    try {
      await writeAllParts(active.handle, parts, start);
    } finally {
      // Whatever reached the file counts against the disk, a torn tail included.
      active.bytes = at;
      this.#totalBytes += at - state.bytes;
      state.bytes = at;
    }
    // A batch of tombstones alone is not fdatasynced: the next replica's batch carries them.
    if (batch.some((pending) => pending.durable)) {
      await active.handle.datasync();
      this.#syncs += 1;
    }
    for (const [index, pending] of batch.entries()) {
      if (pending.live) {
        state.live += 1;
        state.liveBytes += pending.bytes;
        this.#liveBytes += pending.bytes;
      }
      if (pending.tombstone) state.tombstones.push(pending.tombstone);
      if (pending.id !== undefined) state.hadReplica = true;
      pending.resolve(places[index]!);
    }
  }

  /** Starts a new active container, its name durable before it is used. */
  async #roll(): Promise<{ sequence: number; handle: FileHandle; bytes: number }> {
    const sequence = this.#nextSequence++;
    const path = join(this.#folder, containerName(sequence));
    const handle = await open(path, "wx");
    try {
      await syncFolder(this.#folder);
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
    this.#states.set(sequence, newState(path, 0));
    this.#active = { sequence, handle, bytes: 0 };
    return this.#active;
  }

  /** Closes the active container; removes it if nothing in it is live. */
  async #retireActive(): Promise<void> {
    const active = this.#active;
    if (active === undefined) return;
    this.#active = undefined;
    await active.handle.close().catch(() => {});
    const state = this.#states.get(active.sequence);
    if (state === undefined) return;
    if (state.live <= 0) {
      // Not awaited: this may run inside the drain, and removing may append tombstones.
      this.#remove(active.sequence, state).catch((error: unknown) => {
        this.#logger.error({ container: active.sequence, err: error }, "cannot remove a container");
      });
    } else if (isSparse(state)) {
      this.#onSparse?.(active.sequence);
    }
  }

  /**
   * Removes a container none of whose replicas is live. Its tombstones may still be needed:
   * the container that held the record a tombstone deleted, while it is still there, would
   * give the record back at the next start. Those are appended to the active container first
   * (and once that container is gone, so is the need), but for a tombstone that would
   * delete what the store holds or is writing of its chunk now: that was written after the
   * tombstone (its record may already wait in the active container's batch), and a copy of
   * the tombstone coming after it would delete it at the next start.
   */
  #remove(sequence: number, state: ContainerState): Promise<void> {
    const removal = this.#removeNow(sequence, state);
    this.#removals.add(removal);
    const forget = () => this.#removals.delete(removal);
    removal.then(forget, forget);
    return removal;
  }

  async #removeNow(sequence: number, state: ContainerState): Promise<void> {
    if (state.removing) return;
    state.removing = true;
    const carried = state.tombstones.filter(
      (tombstone) =>
        tombstone.origin !== sequence &&
        this.#states.has(tombstone.origin) &&
        !this.#wouldDelete(tombstone.id, tombstone.generation),
    );
    if (carried.length > 0) {
      try {
        await Promise.all(carried.map((tombstone) => this.#appendTombstone(tombstone, true)));
      } catch (error) {
        // Kept, with its tombstones, until the next start tries again.
        state.removing = false;
        throw error;
      }
    }
    this.#states.delete(sequence);
    this.#totalBytes -= state.bytes;
    this.#liveBytes -= state.liveBytes;
    // Larger reads hold handles of their own; a blocking one cannot be under way now.
    if (state.fd !== undefined) closeSync(state.fd);
    state.fd = undefined;
    try {
      if (state.damaged) {
        // Out of the store's sight (the next scan leaves unknown names alone), for a look.
        await rename(state.path, `${state.path}.damaged`);
        this.#logger.warn(
          { container: sequence, path: `${state.path}.damaged` },
          "container with damaged records kept aside: nothing in it is live",
        );
        return;
      }
      await unlink(state.path);
      this.#logger.info({ container: sequence }, "container removed: nothing in it is live");
    } catch (error) {
      if (!isNotFound(error)) {
        this.#logger.error({ container: sequence, err: error }, "cannot remove a dead container");
      }
    }
  }

  /** Reads one container's records into `replicas`, in order. */
  async #scan(sequence: number, replicas: Map<bigint, ContainerReplica>): Promise<void> {
    const path = join(this.#folder, containerName(sequence));
    const bytes = await readFile(path);
    const state = newState(path, bytes.byteLength);
    this.#states.set(sequence, state);
    this.#totalBytes += bytes.byteLength;
    for (const record of scanRecords(bytes)) {
      if (record.kind === "torn") {
        // A torn last record: a crash mid-batch.
        this.#logger.warn(
          {
            container: sequence,
            offset: record.offset,
            ignoredBytes: bytes.byteLength - record.offset,
          },
          "container ends in a record that does not check out; the rest is ignored",
        );
        continue;
      }
      if (record.kind === "damaged") {
        // Damage in the middle: the records after it are still good. What the damaged bytes
        // held is lost here (the NameNode has it re-replicated); the file is kept for a look.
        state.damaged = true;
        this.#logger.error(
          { container: sequence, offset: record.offset, skippedBytes: record.next - record.offset },
          "container record does not check out; the scan goes on at the next one that does",
        );
        continue;
      }
      const { id, generation } = record;
      const known = replicas.get(id);
      if (record.kind === "tombstone") {
        // Kept only while it deletes something: a record found in this or an older container.
        if (known !== undefined && known.meta.generation <= generation) {
          state.tombstones.push({ id, generation, origin: known.place.container });
          replicas.delete(id);
        }
        continue;
      }
      state.hadReplica = true;
      if (known !== undefined && known.meta.generation > generation) continue;
      const payload = bytes.subarray(record.offset, record.offset + record.payloadBytes);
      try {
        const meta = metaOfWhole(payload, `chunk ${id}`);
        if (meta.id !== id || meta.generation !== generation) {
          throw new Error(`metadata is for chunk ${meta.id} generation ${meta.generation}`);
        }
        const place = { container: sequence, offset: record.offset, bytes: record.payloadBytes };
        replicas.set(id, { meta, place });
      } catch (error) {
        this.#logger.error(
          { chunkId: id, generation, container: sequence, offset: record.offset, err: error },
          "container record with bad metadata skipped",
        );
      }
    }
  }
}
