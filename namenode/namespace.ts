/**
 * The NameNode's namespace: the tree of directories and files, and the files being written.
 *
 * A pure data structure: no I/O, no clock, no randomness. Every change is a
 * {@linkcode NamespaceOp}, plain data that carries all its inputs (ids, times), so the edit
 * log replays it to the same state. {@linkcode Namespace.apply} either throws a
 * {@linkcode BigFsError} and changes nothing, or succeeds.
 *
 * Rules where HDFS leaves a choice:
 * - `create` makes missing parent directories, as HDFS `create` does by default. The file is
 *   under construction and invisible (to `list`, `stat`, `rename`, `delete` of its path)
 *   until `complete`. Only another create at the same path sees it (`LEASE_CONFLICT`).
 * - A file under construction belongs to its parent directory node and its name, not to a
 *   path string: renaming a directory carries its files under construction along, and they
 *   complete at the new place. Renaming or deleting a complete file does not touch a file
 *   under construction at the same path. Deleting a directory abandons the files under
 *   construction below it; a non-recursive delete of a directory whose only entries are
 *   files under construction fails with `NOT_EMPTY`, so a writer is not silently cut off.
 * - `complete` checks its path again: a directory there is `IS_A_DIRECTORY`; a complete file
 *   there (one renamed in meanwhile) is replaced when the create said overwrite, else
 *   `EXISTS`.
 * - `addChunk` appends, so a writer may keep several chunks uncommitted at once. With
 *   `replaces` it puts the new chunk in place of an uncommitted one whose pipeline failed
 *   (the writer asks again with other DataNodes); the replaced chunk is returned for garbage
 *   collection.
 * - `rename` onto itself succeeds and changes nothing (HDFS returns true), for files and
 *   directories. It never overwrites and never moves into an existing directory.
 * - File ids and chunk ids must each be above every id seen before (the NameNode allocates
 *   `highestFileId + 1n`, `highestChunkId + 1n`); this keeps chunk ids unique without a set
 *   of them all. Generation numbers are only tracked (`highestGeneration`), not required to
 *   grow, since a chunk id already makes `(id, generation)` unique.
 *
 * The parts: the operations' wire form is in `_namespace_ops.ts`, the nodes in
 * `_namespace_nodes.ts`, and the image format ({@linkcode Namespace.toImage}) is described
 * and implemented in `_namespace_image.ts`.
 */
import { BigFsError } from "#protocol";
import { ImageSnapshot } from "./_image_snapshot.js";
import { decodeImage, encodeImage, type ImageContent, imageSteps } from "./_namespace_image.js";
import type { ImageParts } from "./_namespace_image_io.js";
import {
  byName,
  childPath,
  chunksPerFileMax,
  clientNameLengthMax,
  DirectoryNode,
  FileNode,
  type MutableChunk,
  PendingFile,
  replicationMax,
  u64Max,
} from "./_namespace_nodes.js";
import type {
  AbandonOp,
  AddChunkOp,
  CommitChunkOp,
  CompleteOp,
  CreateOp,
  DeleteOp,
  MkdirOp,
  NamespaceOp,
  RenameOp,
  SetReplicationOp,
} from "./_namespace_ops.js";
import { splitPath } from "./path.js";

export { chunksPerFileMax, clientNameLengthMax, replicationMax } from "./_namespace_nodes.js";
export {
  type AbandonOp,
  type AddChunkOp,
  type CommitChunkOp,
  type CompleteOp,
  type CreateOp,
  type DeleteOp,
  decodeOp,
  encodeOp,
  type MkdirOp,
  type NamespaceOp,
  type RenameOp,
  type SetReplicationOp,
} from "./_namespace_ops.js";

/** One entry of a listing or a `stat`, as the wire's `fileEntry` has it. */
export interface FileEntry {
  name: string;
  type: "file" | "directory";
  /** Bytes in the file; 0 for a directory. */
  size: number;
  /** 0 for a directory. */
  replication: number;
  /** 0 for a directory. */
  chunkSizeBytes: number;
  mtimeMs: number;
}

/** A chunk of a file. Chunks of complete files are always committed and never change. */
export interface ChunkRecord {
  readonly id: bigint;
  readonly generation: bigint;
  /** Bytes in the chunk; 0 until committed. */
  readonly size: number;
  /** xxh64 of the chunk's bytes; 0n until committed. */
  readonly xxh64: bigint;
  readonly committed: boolean;
}

/** A file under construction that an operation dropped: its lease is void. */
export interface AbandonedFile {
  readonly fileId: bigint;
  readonly path: string;
  readonly clientName: string;
}

/** What a successful operation leaves for the rest of the NameNode to do. */
export interface OpResult {
  /** Chunks no file refers to any more, to garbage-collect from the DataNodes. */
  readonly freedChunks: readonly ChunkRecord[];
  /** Files under construction the operation dropped (`abandon`, `delete` of a directory). */
  readonly abandonedFiles: readonly AbandonedFile[];
}

/** A file under construction, as {@linkcode Namespace.file} describes it. */
export interface UnderConstructionFile {
  readonly fileId: bigint;
  /** Where the file will appear on `complete`. */
  readonly path: string;
  readonly clientName: string;
  readonly replication: number;
  readonly chunkSizeBytes: number;
  readonly overwrite: boolean;
  /** A copy: later operations do not change it. */
  readonly chunks: readonly ChunkRecord[];
}

/** Totals below a path, as `hdfs dfs -count` gives them (a directory counts itself). */
export interface ContentSummary {
  files: number;
  directories: number;
  /** Bytes of the files: one replica's worth. */
  bytes: number;
  /** Bytes times each file's replication: the disk space its replicas take (HDFS's du). */
  spaceConsumedBytes: number;
}

/** A complete file found by {@linkcode Namespace.walkFiles}. */
export interface WalkedFile {
  path: string;
  entry: FileEntry;
  readonly chunks: readonly ChunkRecord[];
}

const noResult: OpResult = Object.freeze({
  freedChunks: Object.freeze([]),
  abandonedFiles: Object.freeze([]),
});

function pathOf(names: readonly string[], count = names.length): string {
  return `/${names.slice(0, count).join("/")}`;
}

function sizeOf(chunks: readonly MutableChunk[]): number {
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.size;
  return bytes;
}

function directoryEntry(name: string, directory: DirectoryNode): FileEntry {
  return {
    name,
    type: "directory",
    size: 0,
    replication: 0,
    chunkSizeBytes: 0,
    mtimeMs: directory.mtimeMs,
  };
}

function fileEntry(name: string, file: FileNode): FileEntry {
  return {
    name,
    type: "file",
    size: sizeOf(file.chunks),
    replication: file.replication,
    chunkSizeBytes: file.chunkSizeBytes,
    mtimeMs: file.mtimeMs,
  };
}

function copyChunk(chunk: MutableChunk): ChunkRecord {
  return { ...chunk };
}

function invalidArgument(message: string): BigFsError {
  return new BigFsError("INVALID_ARGUMENT", message);
}

function checkUint(value: number, field: string, action: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`${action}: ${field} must be a whole number ≥ 0, not ${value}`);
  }
}

function checkU64(value: bigint, field: string, action: string, min: bigint): void {
  if (typeof value !== "bigint" || value < min || value > u64Max) {
    throw invalidArgument(`${action}: ${field} must be a bigint in ${min}..2^64-1, not ${value}`);
  }
}

function checkReplication(value: number, action: string): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > replicationMax) {
    throw invalidArgument(`${action}: replication must be 1..${replicationMax}, not ${value}`);
  }
}

/** The NameNode's namespace tree and its files under construction. */
export class Namespace {
  #root = new DirectoryNode(null, "", 0);
  #pendingById = new Map<bigint, PendingFile>();
  #highestFileId = 0n;
  #highestChunkId = 0n;
  #highestGeneration = 0n;
  #fileCount = 0;
  #directoryCount = 1;
  #chunkCount = 0;
  /**
   * While an image is written a slice at a time: the state it began with, saved as it is about
   * to change. Every change to what an image holds tells it first (`this.#snapshot?.saving…`).
   */
  #snapshot: ImageSnapshot | undefined;

  /** Highest file id any operation has used; allocate above it. */
  get highestFileId(): bigint {
    return this.#highestFileId;
  }
  /** Highest chunk id any operation has used; allocate above it. */
  get highestChunkId(): bigint {
    return this.#highestChunkId;
  }
  /** Highest generation number any operation has used. */
  get highestGeneration(): bigint {
    return this.#highestGeneration;
  }
  /** Complete files. */
  get fileCount(): number {
    return this.#fileCount;
  }
  /** Directories, the root included. */
  get directoryCount(): number {
    return this.#directoryCount;
  }
  /** Chunks of complete files and of files under construction. */
  get chunkCount(): number {
    return this.#chunkCount;
  }
  /** Files under construction. */
  get underConstructionCount(): number {
    return this.#pendingById.size;
  }

  /**
   * Validates `op` and applies it, or throws and changes nothing.
   *
   * @throws {BigFsError} `NOT_FOUND`, `EXISTS`, `NOT_EMPTY`, `NOT_A_DIRECTORY`,
   * `IS_A_DIRECTORY`, `INVALID_PATH`, `LEASE_CONFLICT`, `STALE_GENERATION` or
   * `INVALID_ARGUMENT`, with a message naming the operation, the path and the reason.
   */
  apply(op: NamespaceOp): OpResult {
    switch (op.op) {
      case "mkdir":
        return this.#mkdir(op);
      case "create":
        return this.#create(op);
      case "addChunk":
        return this.#addChunk(op);
      case "commitChunk":
        return this.#commitChunk(op);
      case "complete":
        return this.#complete(op);
      case "abandon":
        return this.#abandon(op);
      case "delete":
        return this.#delete(op);
      case "rename":
        return this.#rename(op);
      case "setReplication":
        return this.#setReplication(op);
      default:
        throw invalidArgument(
          `Cannot apply namespace operation: unknown op ${JSON.stringify((op as { op: unknown }).op)}`,
        );
    }
  }

  /** Entries of a directory by name, or a file's own entry (like `ls file`). */
  list(path: string): FileEntry[] {
    const names = splitPath(path);
    const node = this.#lookup(names, `Cannot list ${pathOf(names)}`);
    if (node instanceof FileNode) return [fileEntry(names.at(-1) ?? "", node)];
    const entries = [...node.children].sort(byName);
    return entries.map(([name, child]) =>
      child instanceof FileNode ? fileEntry(name, child) : directoryEntry(name, child),
    );
  }

  /** A file's or directory's entry, and a file's chunks (copies). */
  stat(path: string): { entry: FileEntry; chunks: ChunkRecord[] } {
    const names = splitPath(path);
    const node = this.#lookup(names, `Cannot stat ${pathOf(names)}`);
    const name = names.at(-1) ?? "";
    if (node instanceof DirectoryNode) return { entry: directoryEntry(name, node), chunks: [] };
    return { entry: fileEntry(name, node), chunks: node.chunks.map(copyChunk) };
  }

  /** The chunks of a complete file, in order. Never changes: chunks of complete files are final. */
  chunksOf(path: string): readonly ChunkRecord[] {
    const names = splitPath(path);
    const action = `Cannot list chunks of ${pathOf(names)}`;
    const node = this.#lookup(names, action);
    if (node instanceof DirectoryNode) {
      throw new BigFsError("IS_A_DIRECTORY", `${action}: it is a directory`);
    }
    return node.chunks;
  }

  /**
   * Files, directories and bytes at or below `path`, and the space their replicas take at each
   * file's replication; files under construction do not count.
   */
  contentSummary(path: string): ContentSummary {
    const names = splitPath(path);
    const node = this.#lookup(names, `Cannot summarise ${pathOf(names)}`);
    const summary: ContentSummary = { files: 0, directories: 0, bytes: 0, spaceConsumedBytes: 0 };
    const count = (file: FileNode) => {
      const bytes = sizeOf(file.chunks);
      summary.files++;
      summary.bytes += bytes;
      summary.spaceConsumedBytes += bytes * file.replication;
    };
    if (node instanceof FileNode) {
      count(node);
      return summary;
    }
    const stack: DirectoryNode[] = [node];
    for (let directory = stack.pop(); directory; directory = stack.pop()) {
      summary.directories++;
      for (const child of directory.children.values()) {
        if (child instanceof DirectoryNode) stack.push(child);
        else count(child);
      }
    }
    return summary;
  }

  /**
   * Every complete file at or below `path` with its chunks, depth-first and by name (for
   * fsck). Each directory's entries are read when the walk reaches it.
   */
  *walkFiles(path: string): Generator<WalkedFile, void, undefined> {
    const names = splitPath(path);
    const node = this.#lookup(names, `Cannot walk ${pathOf(names)}`);
    if (node instanceof FileNode) {
      yield {
        path: pathOf(names),
        entry: fileEntry(names.at(-1) ?? "", node),
        chunks: node.chunks,
      };
      return;
    }
    const stack: [string, DirectoryNode][] = [[pathOf(names), node]];
    for (let item = stack.pop(); item; item = stack.pop()) {
      const [directoryPathName, directory] = item;
      const prefix = directoryPathName === "/" ? "/" : `${directoryPathName}/`;
      const entries = [...directory.children].sort(byName);
      for (const [name, child] of entries) {
        if (child instanceof FileNode) {
          yield { path: prefix + name, entry: fileEntry(name, child), chunks: child.chunks };
        }
      }
      for (let index = entries.length - 1; index >= 0; index--) {
        const [name, child] = entries[index]!;
        if (child instanceof DirectoryNode) stack.push([prefix + name, child]);
      }
    }
  }

  /** The file under construction with this id, or `undefined`. */
  file(fileId: bigint): UnderConstructionFile | undefined {
    const pending = this.#pendingById.get(fileId);
    return pending && describePending(pending);
  }

  /** Every file under construction, by file id. */
  *underConstruction(): Generator<UnderConstructionFile, void, undefined> {
    for (const pending of this.#pendingById.values()) yield describePending(pending);
  }

  /** A snapshot of everything, files under construction and id high-water marks included. */
  toImage(): Uint8Array {
    return encodeImage(this.#imageContent());
  }

  /**
   * An image of the namespace as it is at this call, like {@linkcode toImage}'s, but encoded
   * `recordsPerSlice` records at a time with `pause()` awaited in between (by default, a turn
   * of the event loop), while changes go on: each saves what it alters first, for the image
   * (`_image_snapshot.ts`). A checkpoint at a million files then holds the NameNode for a
   * slice at a time, not for the whole image. The image comes as the blocks it was encoded
   * into, with its length and xxh64 (hashed as each block filled): never joined. One image at
   * a time.
   */
  async imageInSlices(
    recordsPerSlice = 4096,
    pause: () => Promise<void> = () => new Promise((resolve) => setImmediate(resolve)),
  ): Promise<ImageParts> {
    if (this.#snapshot !== undefined) throw new Error("An image is already being written");
    const snapshot = new ImageSnapshot(this.#pendingById);
    const steps = imageSteps(this.#imageContent(), snapshot, recordsPerSlice);
    this.#snapshot = snapshot;
    try {
      for (;;) {
        const step = steps.next();
        if (step.done) return step.value;
        await pause();
      }
    } finally {
      this.#snapshot = undefined;
    }
  }

  #imageContent(): ImageContent {
    return {
      root: this.#root,
      pendingById: this.#pendingById,
      highest: [this.#highestFileId, this.#highestChunkId, this.#highestGeneration],
      counts: [this.#fileCount, this.#directoryCount, this.#chunkCount],
    };
  }

  /**
   * Rebuilds a namespace from {@linkcode toImage} bytes, checking them as it goes.
   *
   * @throws {Error} naming the record and what is wrong, for bytes that are not a valid image.
   */
  static fromImage(bytes: Uint8Array): Namespace {
    const image = decodeImage(bytes);
    const namespace = new Namespace();
    namespace.#root = image.root;
    namespace.#pendingById = image.pendingById;
    [namespace.#highestFileId, namespace.#highestChunkId, namespace.#highestGeneration] =
      image.highest;
    [namespace.#fileCount, namespace.#directoryCount, namespace.#chunkCount] = image.counts;
    return namespace;
  }

  /** The directory at `names[0..count)`, every one of which must exist and be a directory. */
  #walk(names: readonly string[], count: number, action: string): DirectoryNode {
    let directory = this.#root;
    for (let index = 0; index < count; index++) {
      const child = directory.children.get(names[index]!);
      if (child === undefined) {
        throw new BigFsError("NOT_FOUND", `${action}: ${pathOf(names, index + 1)} does not exist`);
      }
      if (child instanceof FileNode) {
        throw new BigFsError("NOT_A_DIRECTORY", `${action}: ${pathOf(names, index + 1)} is a file`);
      }
      directory = child;
    }
    return directory;
  }

  #lookup(names: readonly string[], action: string): DirectoryNode | FileNode {
    if (names.length === 0) return this.#root;
    const parent = this.#walk(names, names.length - 1, action);
    const node = parent.children.get(names.at(-1)!);
    if (node === undefined) {
      throw new BigFsError("NOT_FOUND", `${action}: no such file or directory`);
    }
    return node;
  }

  #pending(fileId: bigint, action: string): PendingFile {
    const pending = this.#pendingById.get(fileId);
    if (pending === undefined) {
      throw new BigFsError("NOT_FOUND", `${action}: no file ${fileId} is under construction`);
    }
    return pending;
  }

  /** Makes `names[start..end)` below `from`, which gains a child and so a new mtime. */
  #makeDirectories(
    from: DirectoryNode,
    names: readonly string[],
    start: number,
    end: number,
    mtimeMs: number,
  ): DirectoryNode {
    let directory = from;
    if (start < end) {
      // Only `from` can be in an image under way: the others are new.
      this.#snapshot?.savingDirectory(from);
      this.#snapshot?.savingChild(from, names[start]!);
      directory.mtimeMs = mtimeMs;
    }
    for (let index = start; index < end; index++) {
      const child = new DirectoryNode(directory, names[index]!, mtimeMs);
      directory.children.set(child.name, child);
      this.#directoryCount++;
      directory = child;
    }
    return directory;
  }

  /** The deepest existing directory along `names[0..count)` and how many names it covers. */
  #deepest(
    names: readonly string[],
    count: number,
    action: string,
  ): { directory: DirectoryNode; depth: number } {
    let directory = this.#root;
    let depth = 0;
    for (; depth < count; depth++) {
      const child = directory.children.get(names[depth]!);
      if (child === undefined) break;
      if (child instanceof FileNode) {
        throw new BigFsError("NOT_A_DIRECTORY", `${action}: ${pathOf(names, depth + 1)} is a file`);
      }
      directory = child;
    }
    return { directory, depth };
  }

  #mkdir(op: MkdirOp): OpResult {
    const names = splitPath(op.path);
    const action = `Cannot create directory ${pathOf(names)}`;
    checkUint(op.mtimeMs, "mtimeMs", action);
    if (names.length === 0) {
      if (op.parents) return noResult;
      throw new BigFsError("EXISTS", `${action}: the root directory exists`);
    }
    const { directory, depth } = this.#deepest(names, names.length - 1, action);
    if (depth < names.length - 1) {
      if (!op.parents) {
        throw new BigFsError("NOT_FOUND", `${action}: ${pathOf(names, depth + 1)} does not exist`);
      }
    } else {
      const existing = directory.children.get(names.at(-1)!);
      if (existing instanceof FileNode) {
        throw new BigFsError("EXISTS", `${action}: a file exists there`);
      }
      if (existing !== undefined) {
        if (op.parents) return noResult;
        throw new BigFsError("EXISTS", `${action}: the directory exists`);
      }
    }
    this.#makeDirectories(directory, names, depth, names.length, op.mtimeMs);
    return noResult;
  }

  #create(op: CreateOp): OpResult {
    const names = splitPath(op.path);
    const path = pathOf(names);
    const action = `Cannot create ${path}`;
    if (names.length === 0) {
      throw new BigFsError("IS_A_DIRECTORY", `${action}: it is the root directory`);
    }
    checkU64(op.fileId, "fileId", action, 1n);
    if (op.fileId <= this.#highestFileId) {
      throw invalidArgument(
        `${action}: fileId ${op.fileId} is not above the highest file id yet used, ${this.#highestFileId}`,
      );
    }
    if (
      typeof op.clientName !== "string" ||
      op.clientName === "" ||
      op.clientName.length > clientNameLengthMax
    ) {
      throw invalidArgument(`${action}: clientName must be 1..${clientNameLengthMax} characters`);
    }
    checkReplication(op.replication, action);
    checkUint(op.chunkSizeBytes, "chunkSizeBytes", action);
    if (op.chunkSizeBytes === 0) throw invalidArgument(`${action}: chunkSizeBytes must be ≥ 1`);
    checkUint(op.mtimeMs, "mtimeMs", action);
    const name = names.at(-1)!;
    const { directory, depth } = this.#deepest(names, names.length - 1, action);
    if (depth === names.length - 1) {
      const existing = directory.children.get(name);
      if (existing instanceof DirectoryNode) {
        throw new BigFsError("IS_A_DIRECTORY", `${action}: a directory exists there`);
      }
      if (existing !== undefined && !op.overwrite) {
        throw new BigFsError("EXISTS", `${action}: a file exists there (overwrite not asked)`);
      }
      const holder = directory.pending?.get(name);
      if (holder !== undefined) {
        throw new BigFsError(
          "LEASE_CONFLICT",
          `${action}: file ${holder.fileId} is being written there by client ${holder.clientName}`,
        );
      }
    }
    const parent = this.#makeDirectories(directory, names, depth, names.length - 1, op.mtimeMs);
    const pending = new PendingFile(
      op.fileId,
      parent,
      name,
      op.clientName,
      op.replication,
      op.chunkSizeBytes,
      op.overwrite === true,
    );
    parent.pending ??= new Map();
    parent.pending.set(name, pending);
    this.#snapshot?.savingPendingFiles();
    this.#pendingById.set(op.fileId, pending);
    this.#highestFileId = op.fileId;
    return noResult;
  }

  #addChunk(op: AddChunkOp): OpResult {
    const action = `Cannot add a chunk to file ${op.fileId}`;
    const pending = this.#pending(op.fileId, action);
    checkU64(op.chunkId, "chunkId", action, 1n);
    checkU64(op.generation, "generation", action, 1n);
    if (op.chunkId <= this.#highestChunkId) {
      throw invalidArgument(
        `${action}: chunkId ${op.chunkId} is not above the highest chunk id yet used, ${this.#highestChunkId}`,
      );
    }
    const chunk: ChunkRecord = {
      id: op.chunkId,
      generation: op.generation,
      size: 0,
      xxh64: 0n,
      committed: false,
    };
    let freed: ChunkRecord | undefined;
    if (op.replaces !== 0n) {
      const index = pending.chunks.findIndex((candidate) => candidate.id === op.replaces);
      freed = pending.chunks[index];
      if (freed === undefined) {
        throw new BigFsError(
          "NOT_FOUND",
          `${action}: the file has no chunk ${op.replaces} to replace`,
        );
      }
      if (freed.committed) {
        throw invalidArgument(
          `${action}: chunk ${op.replaces} is committed and cannot be replaced`,
        );
      }
      this.#snapshot?.savingPendingChunks(pending);
      pending.chunks[index] = chunk;
    } else {
      if (pending.chunks.length >= chunksPerFileMax) {
        throw invalidArgument(`${action}: a file has at most ${chunksPerFileMax} chunks`);
      }
      this.#snapshot?.savingPendingChunks(pending);
      pending.chunks.push(chunk);
      this.#chunkCount++;
    }
    this.#highestChunkId = op.chunkId;
    if (op.generation > this.#highestGeneration) this.#highestGeneration = op.generation;
    return freed ? { freedChunks: [freed], abandonedFiles: [] } : noResult;
  }

  #commitChunk(op: CommitChunkOp): OpResult {
    const action = `Cannot commit chunk ${op.chunkId} of file ${op.fileId}`;
    const pending = this.#pending(op.fileId, action);
    checkU64(op.generation, "generation", action, 1n);
    checkU64(op.xxh64, "xxh64", action, 0n);
    checkUint(op.size, "size", action);
    const chunk = pending.chunks.find((candidate) => candidate.id === op.chunkId);
    if (chunk === undefined) {
      throw new BigFsError("NOT_FOUND", `${action}: the file has no such chunk`);
    }
    if (chunk.generation !== op.generation) {
      throw new BigFsError(
        "STALE_GENERATION",
        `${action}: the chunk has generation ${chunk.generation}, not ${op.generation}`,
      );
    }
    if (op.size > pending.chunkSizeBytes) {
      throw invalidArgument(
        `${action}: size ${op.size} is over the file's chunk size ${pending.chunkSizeBytes}`,
      );
    }
    if (chunk.committed) {
      if (chunk.size === op.size && chunk.xxh64 === op.xxh64) return noResult;
      throw invalidArgument(
        `${action}: already committed with size ${chunk.size} and xxh64 ${chunk.xxh64}`,
      );
    }
    this.#snapshot?.savingPendingChunks(pending);
    chunk.size = op.size;
    chunk.xxh64 = op.xxh64;
    chunk.committed = true;
    return noResult;
  }

  #complete(op: CompleteOp): OpResult {
    const action = `Cannot complete file ${op.fileId}`;
    const pending = this.#pending(op.fileId, action);
    // Built only for an error: walking up to the root for every complete is costly.
    const pathAction = () =>
      `Cannot complete ${childPath(pending.parent, pending.name)} (file ${op.fileId})`;
    if (!Number.isSafeInteger(op.mtimeMs) || op.mtimeMs < 0) {
      checkUint(op.mtimeMs, "mtimeMs", pathAction());
    }
    const uncommitted = pending.chunks.find((chunk) => !chunk.committed);
    if (uncommitted !== undefined) {
      throw invalidArgument(`${pathAction()}: chunk ${uncommitted.id} is not committed`);
    }
    const parent = pending.parent;
    const existing = parent.children.get(pending.name);
    if (existing instanceof DirectoryNode) {
      throw new BigFsError("IS_A_DIRECTORY", `${pathAction()}: a directory exists there now`);
    }
    if (existing !== undefined && !pending.overwrite) {
      throw new BigFsError(
        "EXISTS",
        `${pathAction()}: a file exists there now and the create did not ask to overwrite`,
      );
    }
    this.#dropPending(pending);
    const file = new FileNode(pending.replication, pending.chunkSizeBytes, op.mtimeMs, [
      ...pending.chunks,
    ]);
    this.#snapshot?.savingChild(parent, pending.name);
    this.#snapshot?.savingDirectory(parent);
    parent.children.set(pending.name, file);
    parent.mtimeMs = op.mtimeMs;
    this.#fileCount++;
    this.#chunkCount += file.chunks.length;
    if (existing === undefined) return noResult;
    this.#fileCount--;
    this.#chunkCount -= existing.chunks.length;
    return { freedChunks: existing.chunks, abandonedFiles: [] };
  }

  /** Forgets a file under construction; its chunks leave `chunkCount`. */
  #dropPending(pending: PendingFile): void {
    const siblings = pending.parent.pending!;
    siblings.delete(pending.name);
    if (siblings.size === 0) pending.parent.pending = undefined;
    this.#snapshot?.savingPendingFiles();
    this.#pendingById.delete(pending.fileId);
    this.#chunkCount -= pending.chunks.length;
  }

  #abandon(op: AbandonOp): OpResult {
    const pending = this.#pending(op.fileId, `Cannot abandon file ${op.fileId}`);
    const abandoned: AbandonedFile = {
      fileId: pending.fileId,
      path: childPath(pending.parent, pending.name),
      clientName: pending.clientName,
    };
    this.#dropPending(pending);
    return { freedChunks: pending.chunks, abandonedFiles: [abandoned] };
  }

  #delete(op: DeleteOp): OpResult {
    const names = splitPath(op.path);
    const action = `Cannot delete ${pathOf(names)}`;
    checkUint(op.mtimeMs, "mtimeMs", action);
    if (names.length === 0)
      throw invalidArgument(`${action}: the root directory cannot be deleted`);
    const parent = this.#walk(names, names.length - 1, action);
    const name = names.at(-1)!;
    const node = parent.children.get(name);
    if (node === undefined) {
      throw new BigFsError("NOT_FOUND", `${action}: no such file or directory`);
    }
    if (node instanceof DirectoryNode && !op.recursive) {
      if (node.children.size > 0) {
        throw new BigFsError("NOT_EMPTY", `${action}: the directory is not empty`);
      }
      if (node.pending !== undefined) {
        throw new BigFsError(
          "NOT_EMPTY",
          `${action}: ${node.pending.size} file(s) are being written in the directory`,
        );
      }
    }
    this.#snapshot?.savingChild(parent, name);
    this.#snapshot?.savingDirectory(parent);
    parent.children.delete(name);
    parent.mtimeMs = op.mtimeMs;
    if (node instanceof FileNode) {
      this.#fileCount--;
      this.#chunkCount -= node.chunks.length;
      return { freedChunks: node.chunks, abandonedFiles: [] };
    }
    const freedChunks: MutableChunk[] = [];
    const abandonedFiles: AbandonedFile[] = [];
    const stack: [string, DirectoryNode][] = [[pathOf(names), node]];
    for (let item = stack.pop(); item; item = stack.pop()) {
      const [directoryPathName, directory] = item;
      this.#directoryCount--;
      for (const [childName, child] of directory.children) {
        if (child instanceof DirectoryNode)
          stack.push([`${directoryPathName}/${childName}`, child]);
        else {
          this.#fileCount--;
          this.#chunkCount -= child.chunks.length;
          for (const chunk of child.chunks) freedChunks.push(chunk);
        }
      }
      for (const pending of directory.pending?.values() ?? []) {
        this.#snapshot?.savingPendingFiles();
        this.#pendingById.delete(pending.fileId);
        this.#chunkCount -= pending.chunks.length;
        for (const chunk of pending.chunks) freedChunks.push(chunk);
        abandonedFiles.push({
          fileId: pending.fileId,
          path: `${directoryPathName}/${pending.name}`,
          clientName: pending.clientName,
        });
      }
    }
    return { freedChunks, abandonedFiles };
  }

  #rename(op: RenameOp): OpResult {
    const sourceNames = splitPath(op.source);
    const destinationNames = splitPath(op.destination);
    const source = pathOf(sourceNames);
    const destination = pathOf(destinationNames);
    const action = `Cannot rename ${source} to ${destination}`;
    checkUint(op.mtimeMs, "mtimeMs", action);
    if (sourceNames.length === 0) {
      throw invalidArgument(`${action}: the root directory cannot be moved`);
    }
    const sourceParent = this.#walk(sourceNames, sourceNames.length - 1, action);
    const sourceName = sourceNames.at(-1)!;
    const node = sourceParent.children.get(sourceName);
    if (node === undefined) {
      throw new BigFsError("NOT_FOUND", `${action}: ${source} does not exist`);
    }
    if (source === destination) return noResult;
    if (node instanceof DirectoryNode && destination.startsWith(`${source}/`)) {
      throw invalidArgument(`${action}: a directory cannot move into itself or below itself`);
    }
    if (destinationNames.length === 0) {
      throw new BigFsError("EXISTS", `${action}: the root directory exists`);
    }
    const destinationParent = this.#walk(destinationNames, destinationNames.length - 1, action);
    const destinationName = destinationNames.at(-1)!;
    if (destinationParent.children.has(destinationName)) {
      throw new BigFsError("EXISTS", `${action}: ${destination} exists`);
    }
    const snapshot = this.#snapshot;
    if (snapshot !== undefined) {
      snapshot.savingChild(sourceParent, sourceName);
      snapshot.savingChild(destinationParent, destinationName);
      snapshot.savingDirectory(sourceParent);
      snapshot.savingDirectory(destinationParent);
      if (node instanceof DirectoryNode) snapshot.savingDirectory(node);
    }
    sourceParent.children.delete(sourceName);
    destinationParent.children.set(destinationName, node);
    if (node instanceof DirectoryNode) {
      node.parent = destinationParent;
      node.name = destinationName;
    }
    sourceParent.mtimeMs = op.mtimeMs;
    destinationParent.mtimeMs = op.mtimeMs;
    return noResult;
  }

  #setReplication(op: SetReplicationOp): OpResult {
    const names = splitPath(op.path);
    const action = `Cannot set replication of ${pathOf(names)}`;
    const node = this.#lookup(names, action);
    if (node instanceof DirectoryNode) {
      throw new BigFsError("IS_A_DIRECTORY", `${action}: it is a directory`);
    }
    checkReplication(op.replication, action);
    this.#snapshot?.savingReplication(node);
    node.replication = op.replication;
    return noResult;
  }
}

function describePending(pending: PendingFile): UnderConstructionFile {
  return {
    fileId: pending.fileId,
    path: childPath(pending.parent, pending.name),
    clientName: pending.clientName,
    replication: pending.replication,
    chunkSizeBytes: pending.chunkSizeBytes,
    overwrite: pending.overwrite,
    chunks: pending.chunks.map(copyChunk),
  };
}
