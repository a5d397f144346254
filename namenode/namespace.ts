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
 * Image format (`toImage`): a CBOR sequence. Item 0 is a header map
 * `{ format: "bigfs-namespace-image", version: 1, highestFileId, highestChunkId,
 * highestGeneration, directories, files, underConstruction }` (the last three are record
 * counts). Then one CBOR array per record, in a canonical order so that equal namespaces give
 * equal bytes:
 * - directory `[0, parentIndex, name, mtimeMs]`, depth-first, children by name; the first is
 *   the root `[0, -1, "", mtimeMs]`, and a directory's index is its place among directories;
 * - file `[1, directoryIndex, name, replication, chunkSizeBytes, mtimeMs, chunks]` right after
 *   its directory's record, by name, with `chunks` flat: `id, generation, size, xxh64, ...`;
 * - then files under construction by file id:
 *   `[2, fileId, directoryIndex, name, clientName, replication, chunkSizeBytes, overwrite,
 *   chunks]`, with `chunks` flat: `id, generation, size, xxh64, committed, ...`.
 * Ids, generations and checksums are CBOR 64-bit unsigned integers (bigints); the rest are
 * CBOR integers, strings and booleans.
 */
import { BigFsError, cbor } from "#protocol";
import { splitPath } from "./path.js";

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

/** Makes a directory, and with `parents` its missing parents too (`mkdir -p`). */
export interface MkdirOp {
  op: "mkdir";
  path: string;
  parents: boolean;
  mtimeMs: number;
}
/** Starts a file under construction; makes missing parent directories. */
export interface CreateOp {
  op: "create";
  path: string;
  fileId: bigint;
  clientName: string;
  replication: number;
  chunkSizeBytes: number;
  overwrite: boolean;
  mtimeMs: number;
}
/**
 * Adds an uncommitted chunk to a file under construction: appended, or (when `replaces` is
 * a chunk id, not `0n`) in place of an uncommitted chunk whose pipeline failed. Several
 * chunks may be uncommitted at once: a client keeps several in flight.
 */
export interface AddChunkOp {
  op: "addChunk";
  fileId: bigint;
  chunkId: bigint;
  generation: bigint;
  /** The uncommitted chunk this one replaces, or `0n` to append. */
  replaces: bigint;
}
/** Records a chunk's final size and checksum. */
export interface CommitChunkOp {
  op: "commitChunk";
  fileId: bigint;
  chunkId: bigint;
  generation: bigint;
  size: number;
  xxh64: bigint;
}
/** Makes a file under construction visible at its path. */
export interface CompleteOp {
  op: "complete";
  fileId: bigint;
  mtimeMs: number;
}
/** Drops a file under construction. */
export interface AbandonOp {
  op: "abandon";
  fileId: bigint;
}
/** Deletes a file or a directory. */
export interface DeleteOp {
  op: "delete";
  path: string;
  recursive: boolean;
  mtimeMs: number;
}
/** Moves a file or a directory. */
export interface RenameOp {
  op: "rename";
  source: string;
  destination: string;
  mtimeMs: number;
}
/** Changes a complete file's replication. */
export interface SetReplicationOp {
  op: "setReplication";
  path: string;
  replication: number;
}

/** Every change to the namespace, as the edit log records it. */
export type NamespaceOp =
  | MkdirOp
  | CreateOp
  | AddChunkOp
  | CommitChunkOp
  | CompleteOp
  | AbandonOp
  | DeleteOp
  | RenameOp
  | SetReplicationOp;

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
  bytes: number;
}

/** A complete file found by {@linkcode Namespace.walkFiles}. */
export interface WalkedFile {
  path: string;
  entry: FileEntry;
  readonly chunks: readonly ChunkRecord[];
}

/** Highest replication a file may ask for; the wire lists at most 64 replicas per chunk. */
export const replicationMax = 64;
/** Most chunks one file may have; the wire's STAT lists at most 1,000,000. */
export const chunksPerFileMax = 1_000_000;
/** Longest client name, as the wire allows. */
export const clientNameLengthMax = 256;

const u64Max = (1n << 64n) - 1n;
const imageFormat = "bigfs-namespace-image";
const imageVersion = 1;

interface MutableChunk {
  id: bigint;
  generation: bigint;
  size: number;
  xxh64: bigint;
  committed: boolean;
}

// Nodes are small classes with fixed shapes, and a file knows neither its name nor its
// parent (the parent's map holds both), to keep a million files cheap.
class DirectoryNode {
  readonly children = new Map<string, DirectoryNode | FileNode>();
  pending: Map<string, PendingFile> | undefined = undefined;
  constructor(
    public parent: DirectoryNode | null,
    public name: string,
    public mtimeMs: number,
  ) {}
}

class FileNode {
  constructor(
    public replication: number,
    public readonly chunkSizeBytes: number,
    public readonly mtimeMs: number,
    public readonly chunks: readonly MutableChunk[],
  ) {}
}

class PendingFile {
  readonly chunks: MutableChunk[] = [];
  constructor(
    public readonly fileId: bigint,
    public readonly parent: DirectoryNode,
    public readonly name: string,
    public readonly clientName: string,
    public readonly replication: number,
    public readonly chunkSizeBytes: number,
    public readonly overwrite: boolean,
  ) {}
}

const noResult: OpResult = Object.freeze({
  freedChunks: Object.freeze([]),
  abandonedFiles: Object.freeze([]),
});

function pathOf(names: readonly string[], count = names.length): string {
  return `/${names.slice(0, count).join("/")}`;
}

function directoryPath(directory: DirectoryNode): string {
  const names: string[] = [];
  for (let node: DirectoryNode | null = directory; node?.parent; node = node.parent) {
    names.push(node.name);
  }
  return `/${names.reverse().join("/")}`;
}

function childPath(directory: DirectoryNode, name: string): string {
  const parent = directoryPath(directory);
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

function sizeOf(chunks: readonly MutableChunk[]): number {
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.size;
  return bytes;
}

function byName<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
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

  /** Files, directories and bytes at or below `path`; files under construction do not count. */
  contentSummary(path: string): ContentSummary {
    const names = splitPath(path);
    const node = this.#lookup(names, `Cannot summarise ${pathOf(names)}`);
    const summary: ContentSummary = { files: 0, directories: 0, bytes: 0 };
    if (node instanceof FileNode) {
      return { files: 1, directories: 0, bytes: sizeOf(node.chunks) };
    }
    const stack: DirectoryNode[] = [node];
    for (let directory = stack.pop(); directory; directory = stack.pop()) {
      summary.directories++;
      for (const child of directory.children.values()) {
        if (child instanceof DirectoryNode) stack.push(child);
        else {
          summary.files++;
          summary.bytes += sizeOf(child.chunks);
        }
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
    return encodeImage({
      root: this.#root,
      pendingById: this.#pendingById,
      highest: [this.#highestFileId, this.#highestChunkId, this.#highestGeneration],
      counts: [this.#fileCount, this.#directoryCount, this.#chunkCount],
    });
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
    if (start < end) directory.mtimeMs = mtimeMs;
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
      pending.chunks[index] = chunk;
    } else {
      if (pending.chunks.length >= chunksPerFileMax) {
        throw invalidArgument(`${action}: a file has at most ${chunksPerFileMax} chunks`);
      }
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
    chunk.size = op.size;
    chunk.xxh64 = op.xxh64;
    chunk.committed = true;
    return noResult;
  }

  #complete(op: CompleteOp): OpResult {
    const action = `Cannot complete file ${op.fileId}`;
    const pending = this.#pending(op.fileId, action);
    const path = childPath(pending.parent, pending.name);
    const pathAction = `Cannot complete ${path} (file ${op.fileId})`;
    checkUint(op.mtimeMs, "mtimeMs", pathAction);
    const uncommitted = pending.chunks.find((chunk) => !chunk.committed);
    if (uncommitted !== undefined) {
      throw invalidArgument(`${pathAction}: chunk ${uncommitted.id} is not committed`);
    }
    const parent = pending.parent;
    const existing = parent.children.get(pending.name);
    if (existing instanceof DirectoryNode) {
      throw new BigFsError("IS_A_DIRECTORY", `${pathAction}: a directory exists there now`);
    }
    if (existing !== undefined && !pending.overwrite) {
      throw new BigFsError(
        "EXISTS",
        `${pathAction}: a file exists there now and the create did not ask to overwrite`,
      );
    }
    this.#dropPending(pending);
    const file = new FileNode(pending.replication, pending.chunkSizeBytes, op.mtimeMs, [
      ...pending.chunks,
    ]);
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

// ---------------------------------------------------------------------------------------
// Operations as edit log records

type FieldKind = "string" | "boolean" | "uint" | "u64";

const opFields = {
  mkdir: { path: "string", parents: "boolean", mtimeMs: "uint" },
  create: {
    path: "string",
    fileId: "u64",
    clientName: "string",
    replication: "uint",
    chunkSizeBytes: "uint",
    overwrite: "boolean",
    mtimeMs: "uint",
  },
  addChunk: { fileId: "u64", chunkId: "u64", generation: "u64", replaces: "u64" },
  commitChunk: { fileId: "u64", chunkId: "u64", generation: "u64", size: "uint", xxh64: "u64" },
  complete: { fileId: "u64", mtimeMs: "uint" },
  abandon: { fileId: "u64" },
  delete: { path: "string", recursive: "boolean", mtimeMs: "uint" },
  rename: { source: "string", destination: "string", mtimeMs: "uint" },
  setReplication: { path: "string", replication: "uint" },
} as const satisfies {
  [K in NamespaceOp["op"]]: {
    [F in Exclude<keyof Extract<NamespaceOp, { op: K }>, "op">]-?: FieldKind;
  };
};

function fieldValue(value: unknown, kind: FieldKind, where: string): unknown {
  switch (kind) {
    case "string":
      if (typeof value === "string") return value;
      break;
    case "boolean":
      if (typeof value === "boolean") return value;
      break;
    case "uint":
      if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
      break;
    case "u64":
      if (typeof value === "bigint" && value >= 0n && value <= u64Max) return value;
      // A CBOR encoder may send a small 64-bit value as a plain integer.
      if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
        return BigInt(value);
      }
      break;
  }
  const shown = typeof value === "bigint" ? `${value}n` : JSON.stringify(value);
  throw new Error(
    `${where} must be ${kind === "u64" ? "a 64-bit unsigned integer" : `a ${kind}`}, not ${shown}`,
  );
}

/** Checks a plain value's shape and returns it as a fresh op with its fields in a fixed order. */
function toOp(value: unknown, action: string): NamespaceOp {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(
      `${action}: expected a map, got ${Array.isArray(value) ? "an array" : typeof value}`,
    );
  }
  const record = value as Record<string, unknown>;
  const kind = record.op;
  if (typeof kind !== "string" || !Object.hasOwn(opFields, kind)) {
    throw new Error(`${action}: unknown op ${JSON.stringify(kind)}`);
  }
  const fields: Record<string, FieldKind> = opFields[kind as NamespaceOp["op"]];
  const op: Record<string, unknown> = { op: kind };
  for (const [field, fieldKind] of Object.entries(fields)) {
    if (!Object.hasOwn(record, field)) throw new Error(`${action}: ${kind} has no field ${field}`);
    op[field] = fieldValue(record[field], fieldKind, `${action}: ${kind}.${field}`);
  }
  for (const field of Object.keys(record)) {
    if (field !== "op" && !Object.hasOwn(fields, field)) {
      throw new Error(`${action}: ${kind} has an unknown field ${field}`);
    }
  }
  return op as unknown as NamespaceOp;
}

/**
 * Encodes an operation as one CBOR map for the edit log, with exactly the op's fields.
 *
 * @throws {Error} when a field is missing, unknown or of the wrong type (a bug in the caller).
 */
export function encodeOp(op: NamespaceOp): Uint8Array {
  const checked = toOp(op, "Cannot encode namespace operation");
  // cbor-x returns a view of its reusable buffer: copy it out.
  return new Uint8Array(cbor.encode(checked));
}

/**
 * Decodes an operation from {@linkcode encodeOp} bytes, checking its shape (not its
 * meaning: {@linkcode Namespace.apply} does that).
 *
 * @throws {Error} naming what is wrong.
 */
export function decodeOp(bytes: Uint8Array): NamespaceOp {
  const action = "Cannot decode namespace operation";
  let value: unknown;
  try {
    value = cbor.decode(bytes);
  } catch (error) {
    throw new Error(`${action}: not valid CBOR: ${(error as Error).message}`, { cause: error });
  }
  return toOp(value, action);
}

// ---------------------------------------------------------------------------------------
// Image

/** The state an image holds; counts are files, directories, chunks. */
interface ImageContent {
  root: DirectoryNode;
  pendingById: Map<bigint, PendingFile>;
  highest: [bigint, bigint, bigint];
  counts: [number, number, number];
}

const imageBlockBytes = 1 << 20;

/** Collects CBOR items into 1 MiB blocks, joined once at the end. */
class ImageWriter {
  #blocks: Uint8Array[] = [];
  #block = new Uint8Array(imageBlockBytes);
  #used = 0;
  #total = 0;

  write(item: unknown): void {
    const bytes = cbor.encode(item);
    if (bytes.length > this.#block.length - this.#used) {
      this.#blocks.push(this.#block.subarray(0, this.#used));
      this.#block = new Uint8Array(Math.max(imageBlockBytes, bytes.length));
      this.#used = 0;
    }
    this.#block.set(bytes, this.#used);
    this.#used += bytes.length;
    this.#total += bytes.length;
  }

  finish(): Uint8Array {
    this.#blocks.push(this.#block.subarray(0, this.#used));
    const image = new Uint8Array(this.#total);
    let offset = 0;
    for (const block of this.#blocks) {
      image.set(block, offset);
      offset += block.length;
    }
    return image;
  }
}

function encodeImage(content: ImageContent): Uint8Array {
  const { root, pendingById, highest, counts } = content;
  const writer = new ImageWriter();
  writer.write({
    format: imageFormat,
    version: imageVersion,
    highestFileId: highest[0],
    highestChunkId: highest[1],
    highestGeneration: highest[2],
    directories: counts[1],
    files: counts[0],
    underConstruction: pendingById.size,
  });
  const indexes = new Map<DirectoryNode, number>();
  const stack: [DirectoryNode, number][] = [[root, -1]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [directory, parentIndex] = item;
    const index = indexes.size;
    indexes.set(directory, index);
    writer.write([0, parentIndex, directory.name, directory.mtimeMs]);
    const entries = [...directory.children].sort(byName);
    for (const [name, child] of entries) {
      if (child instanceof FileNode) {
        const chunks: unknown[] = [];
        for (const chunk of child.chunks) {
          chunks.push(chunk.id, chunk.generation, chunk.size, chunk.xxh64);
        }
        writer.write([
          1,
          index,
          name,
          child.replication,
          child.chunkSizeBytes,
          child.mtimeMs,
          chunks,
        ]);
      }
    }
    for (let at = entries.length - 1; at >= 0; at--) {
      const child = entries[at]![1];
      if (child instanceof DirectoryNode) stack.push([child, index]);
    }
  }
  const pendingFiles = [...pendingById.values()].sort((a, b) =>
    a.fileId < b.fileId ? -1 : a.fileId > b.fileId ? 1 : 0,
  );
  for (const pending of pendingFiles) {
    const chunks: unknown[] = [];
    for (const chunk of pending.chunks) {
      chunks.push(chunk.id, chunk.generation, chunk.size, chunk.xxh64, chunk.committed);
    }
    writer.write([
      2,
      pending.fileId,
      indexes.get(pending.parent)!,
      pending.name,
      pending.clientName,
      pending.replication,
      pending.chunkSizeBytes,
      pending.overwrite,
      chunks,
    ]);
  }
  return writer.finish();
}

/** Reads one image record's fields, each checked, with errors naming the record. */
class RecordReader {
  #at = 0;
  constructor(
    private readonly fields: readonly unknown[],
    readonly where: string,
  ) {}

  fail(reason: string): never {
    throw new Error(`Cannot load namespace image: ${this.where}: ${reason}`);
  }
  #next(): unknown {
    if (this.#at >= this.fields.length) this.fail(`too few fields (${this.fields.length})`);
    return this.fields[this.#at++];
  }
  uint(what: string): number {
    const value = this.#next();
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
    return this.fail(`${what} is not a whole number ≥ 0`);
  }
  u64(what: string, min: bigint, max: bigint): bigint {
    const value = this.#next();
    if (typeof value === "bigint" && value >= min && value <= max) return value;
    return this.fail(`${what} is not a 64-bit integer in ${min}..${max}`);
  }
  string(what: string): string {
    const value = this.#next();
    if (typeof value === "string") return value;
    return this.fail(`${what} is not a string`);
  }
  boolean(what: string): boolean {
    const value = this.#next();
    if (typeof value === "boolean") return value;
    return this.fail(`${what} is not a boolean`);
  }
  array(what: string): unknown[] {
    const value = this.#next();
    if (Array.isArray(value)) return value;
    return this.fail(`${what} is not an array`);
  }
  name(what: string): string {
    const value = this.string(what);
    let names: string[];
    try {
      names = splitPath(`/${value}`);
    } catch (error) {
      return this.fail((error as Error).message);
    }
    if (names.length !== 1 || names[0] !== value) this.fail(`${what} is not a valid name`);
    return value;
  }
  end(): void {
    if (this.#at !== this.fields.length) this.fail(`too many fields (${this.fields.length})`);
  }
}

function imageHeaderField(header: Record<string, unknown>, field: string, kind: "uint" | "u64") {
  const value = header[field];
  const ok =
    kind === "u64"
      ? typeof value === "bigint" && value >= 0n && value <= u64Max
      : typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
  if (!ok) throw new Error(`Cannot load namespace image: header field ${field} is not a ${kind}`);
  return value;
}

function decodeImage(bytes: Uint8Array): ImageContent {
  let items: unknown[];
  try {
    items = cbor.decodeMultiple(bytes) as unknown[];
  } catch (error) {
    throw new Error(
      `Cannot load namespace image: not a valid CBOR sequence: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const header = items[0];
  if (
    typeof header !== "object" ||
    header === null ||
    (header as Record<string, unknown>).format !== imageFormat
  ) {
    throw new Error(`Cannot load namespace image: it does not start with a ${imageFormat} header`);
  }
  const fields = header as Record<string, unknown>;
  if (fields.version !== imageVersion) {
    throw new Error(
      `Cannot load namespace image: version ${String(fields.version)} is not ${imageVersion}`,
    );
  }
  const highestFileId = imageHeaderField(fields, "highestFileId", "u64") as bigint;
  const highestChunkId = imageHeaderField(fields, "highestChunkId", "u64") as bigint;
  const highestGeneration = imageHeaderField(fields, "highestGeneration", "u64") as bigint;
  const directoryTotal = imageHeaderField(fields, "directories", "uint") as number;
  const fileTotal = imageHeaderField(fields, "files", "uint") as number;
  const pendingTotal = imageHeaderField(fields, "underConstruction", "uint") as number;
  if (items.length !== 1 + directoryTotal + fileTotal + pendingTotal) {
    throw new Error(
      `Cannot load namespace image: the header counts ${directoryTotal + fileTotal + pendingTotal} records, the image has ${items.length - 1}`,
    );
  }

  const directories: DirectoryNode[] = [];
  const pendingById = new Map<bigint, PendingFile>();
  let files = 0;
  let chunkCount = 0;
  // Chunk ids are unique across the image; a set of them all costs memory only while loading.
  const chunkIds = new Set<bigint>();
  // Chunks are read inline, not with a reader each: an image may hold millions of them.
  const readChunks = (record: RecordReader, chunkSizeBytes: number, withCommitted: boolean) => {
    const width = withCommitted ? 5 : 4;
    const flat = record.array("chunks");
    if (flat.length % width !== 0) {
      record.fail(`chunks has ${flat.length} fields, not a multiple of ${width}`);
    }
    if (flat.length / width > chunksPerFileMax) record.fail("too many chunks");
    const chunks: MutableChunk[] = [];
    for (let at = 0; at < flat.length; at += width) {
      const [id, generation, size, xxh64] = flat.slice(at, at + 4);
      const committed = withCommitted ? flat[at + 4] : true;
      const bad = (reason: string) => record.fail(`chunk ${at / width}: ${reason}`);
      if (typeof id !== "bigint" || id < 1n || id > highestChunkId) {
        bad(`id is not a 64-bit integer in 1..${highestChunkId}`);
      }
      if (typeof generation !== "bigint" || generation < 1n || generation > highestGeneration) {
        bad(`generation is not a 64-bit integer in 1..${highestGeneration}`);
      }
      if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
        bad("size is not a whole number ≥ 0");
      }
      if (typeof xxh64 !== "bigint" || xxh64 < 0n || xxh64 > u64Max) {
        bad("xxh64 is not a 64-bit unsigned integer");
      }
      if (typeof committed !== "boolean") bad("committed is not a boolean");
      const chunk = { id, generation, size, xxh64, committed } as MutableChunk;
      if (chunk.size > chunkSizeBytes) bad("it is larger than the file's chunk size");
      if (chunkIds.has(chunk.id)) bad(`chunk id ${chunk.id} appears twice`);
      chunkIds.add(chunk.id);
      chunkCount++;
      chunks.push(chunk);
    }
    return chunks;
  };
  const directoryAt = (record: RecordReader, index: number, what: string) => {
    const directory = directories[index];
    if (directory === undefined) record.fail(`${what} ${index} is not an earlier directory`);
    return directory;
  };

  for (let at = 1; at < items.length; at++) {
    const item = items[at];
    if (!Array.isArray(item))
      throw new Error(`Cannot load namespace image: record ${at} is not an array`);
    const kind = item[0];
    const record = new RecordReader(item.slice(1), `record ${at} (${String(kind)})`);
    if (at === 1 && kind !== 0) record.fail("the first record is not the root directory");
    if (kind === 0) {
      if (at > directoryTotal + fileTotal)
        record.fail("a directory after the files under construction");
      if (at === 1) {
        if (item.length !== 4 || item[1] !== -1 || item[2] !== "") {
          record.fail('the root must be [0, -1, "", mtimeMs]');
        }
        const mtimeMs = new RecordReader(item.slice(3), record.where).uint("mtimeMs");
        directories.push(new DirectoryNode(null, "", mtimeMs));
        continue;
      }
      const parentIndex = record.uint("parentIndex");
      const parent = directoryAt(record, parentIndex, "parentIndex");
      const name = record.name("name");
      const mtimeMs = record.uint("mtimeMs");
      record.end();
      if (parent.children.has(name)) record.fail(`${childPath(parent, name)} appears twice`);
      const directory = new DirectoryNode(parent, name, mtimeMs);
      parent.children.set(name, directory);
      directories.push(directory);
    } else if (kind === 1) {
      if (at > directoryTotal + fileTotal) record.fail("a file after the files under construction");
      const parent = directoryAt(record, record.uint("directoryIndex"), "directoryIndex");
      const name = record.name("name");
      const replication = record.uint("replication");
      const chunkSizeBytes = record.uint("chunkSizeBytes");
      const mtimeMs = record.uint("mtimeMs");
      const chunks = readChunks(record, chunkSizeBytes, false);
      record.end();
      if (replication < 1 || replication > replicationMax) record.fail("replication out of range");
      if (chunkSizeBytes < 1) record.fail("chunkSizeBytes is 0");
      if (parent.children.has(name)) record.fail(`${childPath(parent, name)} appears twice`);
      parent.children.set(name, new FileNode(replication, chunkSizeBytes, mtimeMs, chunks));
      files++;
    } else if (kind === 2) {
      if (at <= directoryTotal + fileTotal)
        record.fail("a file under construction before the tree ends");
      const fileId = record.u64("fileId", 1n, highestFileId);
      const parent = directoryAt(record, record.uint("directoryIndex"), "directoryIndex");
      const name = record.name("name");
      const clientName = record.string("clientName");
      const replication = record.uint("replication");
      const chunkSizeBytes = record.uint("chunkSizeBytes");
      const overwrite = record.boolean("overwrite");
      const chunks = readChunks(record, chunkSizeBytes, true);
      record.end();
      if (replication < 1 || replication > replicationMax) record.fail("replication out of range");
      if (chunkSizeBytes < 1) record.fail("chunkSizeBytes is 0");
      if (clientName === "" || clientName.length > clientNameLengthMax)
        record.fail("bad clientName");
      if (pendingById.has(fileId)) record.fail(`file id ${fileId} appears twice`);
      if (parent.pending?.has(name)) record.fail(`two files under construction at one path`);
      const pending = new PendingFile(
        fileId,
        parent,
        name,
        clientName,
        replication,
        chunkSizeBytes,
        overwrite,
      );
      pending.chunks.push(...chunks);
      parent.pending ??= new Map();
      parent.pending.set(name, pending);
      pendingById.set(fileId, pending);
    } else {
      record.fail("unknown record kind");
    }
  }
  if (
    directories.length !== directoryTotal ||
    files !== fileTotal ||
    pendingById.size !== pendingTotal
  ) {
    throw new Error(
      `Cannot load namespace image: the header counts ${directoryTotal} directories, ${fileTotal} files and ${pendingTotal} files under construction; the records hold ${directories.length}, ${files} and ${pendingById.size}`,
    );
  }
  return {
    root: directories[0]!,
    pendingById,
    highest: [highestFileId, highestChunkId, highestGeneration],
    counts: [files, directories.length, chunkCount],
  };
}
