/**
 * The namespace's in-memory nodes and limits, shared by the tree (`namespace.ts`) and the
 * image format (`_namespace_image.ts`).
 *
 * @module
 */

/** Highest replication a file may ask for; the wire lists at most 64 replicas per chunk. */
export const replicationMax = 64;
/** Most chunks one file may have; the wire's STAT lists at most 1,000,000. */
export const chunksPerFileMax = 1_000_000;
/** Longest client name, as the wire allows. */
export const clientNameLengthMax = 256;

/** The largest 64-bit unsigned integer: ids, generations and checksums are at most this. */
export const u64Max = (1n << 64n) - 1n;

/** A chunk as a node holds it: a file under construction commits it in place. */
export interface MutableChunk {
  id: bigint;
  generation: bigint;
  size: number;
  xxh64: bigint;
  committed: boolean;
}

// Nodes are small classes with fixed shapes, and a file knows neither its name nor its
// parent (the parent's map holds both), to keep a million files cheap.

/** A directory: its children by name, and the files under construction in it by name. */
export class DirectoryNode {
  readonly children = new Map<string, DirectoryNode | FileNode>();
  pending: Map<string, PendingFile> | undefined = undefined;
  constructor(
    public parent: DirectoryNode | null,
    public name: string,
    public mtimeMs: number,
  ) {}
}

const noChunks: readonly MutableChunk[] = Object.freeze([]);

/** A complete file; its name is the key in its parent's `children`. */
export class FileNode {
  /**
   * The chunk of a one-chunk file, else the array of them: most files have one chunk, and an
   * array of one costs almost as much as the chunk.
   */
  readonly #chunks: MutableChunk | readonly MutableChunk[];

  constructor(
    public replication: number,
    public readonly chunkSizeBytes: number,
    public readonly mtimeMs: number,
    chunks: readonly MutableChunk[],
  ) {
    this.#chunks = chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? noChunks : chunks;
  }

  /** The file's chunks in order; never changes. */
  get chunks(): readonly MutableChunk[] {
    const chunks = this.#chunks;
    return Array.isArray(chunks) ? chunks : [chunks as MutableChunk];
  }

  /** How many chunks the file has (without building {@linkcode chunks}' array). */
  get chunkCount(): number {
    const chunks = this.#chunks;
    return Array.isArray(chunks) ? chunks.length : 1;
  }

  /** Chunk `index` (below {@linkcode chunkCount}), without building an array. */
  chunkAt(index: number): MutableChunk {
    const chunks = this.#chunks;
    return Array.isArray(chunks) ? chunks[index]! : (chunks as MutableChunk);
  }
}

/** A file under construction, held by its parent directory and its name. */
export class PendingFile {
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

/** The absolute path of a directory, found by walking up to the root. */
export function directoryPath(directory: DirectoryNode): string {
  const names: string[] = [];
  for (let node: DirectoryNode | null = directory; node?.parent; node = node.parent) {
    names.push(node.name);
  }
  return `/${names.reverse().join("/")}`;
}

/** The absolute path of `name` in `directory`. */
export function childPath(directory: DirectoryNode, name: string): string {
  const parent = directoryPath(directory);
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/** Orders `[name, node]` entries by name, by UTF-16 code unit. */
export function byName<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
