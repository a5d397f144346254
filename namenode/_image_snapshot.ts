/**
 * The namespace as it was when an image began, for an image written a slice at a time while
 * changes go on (`Namespace.imageInSlices`): copy on first write. Before the namespace changes
 * anything an image holds, it tells the snapshot, which saves what is about to change, once;
 * the encoder reads saved state where there is some and the live tree everywhere else.
 *
 * What an image holds, and so what is saved:
 * - a directory's children: for each name that changes, the node it had (or that it had
 *   none), not the whole map, so a change in a directory of a million files costs no more
 *   than in one of ten; a node that leaves is not changed after, unless it is saved in turn;
 * - a directory's name and mtime;
 * - a complete file's replication (its chunks and the rest never change);
 * - which files are under construction, and each one's chunks (deep: a commit changes them).
 *
 * A node created after the snapshot is reachable only through a name that changed after it,
 * whose saved entry does not hold it.
 *
 * @module
 */
import type { ImageView } from "./_namespace_image.js";
import type { DirectoryNode, FileNode, MutableChunk, PendingFile } from "./_namespace_nodes.js";

export class ImageSnapshot implements ImageView {
  readonly #livePending: ReadonlyMap<bigint, PendingFile>;
  /** Per directory, each changed name's child at the start (`undefined`: it had none). */
  readonly #children = new Map<DirectoryNode, Map<string, DirectoryNode | FileNode | undefined>>();
  readonly #directories = new Map<DirectoryNode, { name: string; mtimeMs: number }>();
  readonly #replication = new Map<FileNode, number>();
  #pendingById: ReadonlyMap<bigint, PendingFile> | undefined;
  readonly #pendingChunks = new Map<PendingFile, readonly MutableChunk[]>();

  /** Takes the snapshot now; `pendingById` is the namespace's live map. */
  constructor(pendingById: ReadonlyMap<bigint, PendingFile>) {
    this.#livePending = pendingById;
  }

  /** `directory`'s child `name` is about to be added, replaced or removed. */
  savingChild(directory: DirectoryNode, name: string): void {
    let changed = this.#children.get(directory);
    if (changed === undefined) {
      changed = new Map();
      this.#children.set(directory, changed);
    }
    if (!changed.has(name)) changed.set(name, directory.children.get(name));
  }

  /** `directory`'s name or mtime is about to change. */
  savingDirectory(directory: DirectoryNode): void {
    if (!this.#directories.has(directory)) {
      this.#directories.set(directory, { name: directory.name, mtimeMs: directory.mtimeMs });
    }
  }

  /** `file`'s replication is about to change. */
  savingReplication(file: FileNode): void {
    if (!this.#replication.has(file)) this.#replication.set(file, file.replication);
  }

  /** A file is about to start or stop being under construction. */
  savingPendingFiles(): void {
    this.#pendingById ??= new Map(this.#livePending);
  }

  /** `pending`'s chunks are about to change: one added or replaced, or one committed. */
  savingPendingChunks(pending: PendingFile): void {
    if (!this.#pendingChunks.has(pending)) {
      this.#pendingChunks.set(
        pending,
        pending.chunks.map((chunk) => ({ ...chunk })),
      );
    }
  }

  childNames(directory: DirectoryNode): string[] {
    const live = directory.children;
    const changed = this.#children.get(directory);
    if (changed === undefined) return [...live.keys()];
    const names: string[] = [];
    // Live now and at the start (unchanged, or replaced), then gone since.
    for (const name of live.keys()) {
      if (!changed.has(name) || changed.get(name) !== undefined) names.push(name);
    }
    for (const [name, node] of changed) {
      if (node !== undefined && !live.has(name)) names.push(name);
    }
    return names;
  }

  childOf(directory: DirectoryNode, name: string): DirectoryNode | FileNode | undefined {
    const changed = this.#children.get(directory);
    return changed?.has(name) ? changed.get(name) : directory.children.get(name);
  }

  nameOf(directory: DirectoryNode): string {
    return this.#directories.get(directory)?.name ?? directory.name;
  }

  mtimeOf(directory: DirectoryNode): number {
    return this.#directories.get(directory)?.mtimeMs ?? directory.mtimeMs;
  }

  replicationOf(file: FileNode): number {
    return this.#replication.get(file) ?? file.replication;
  }

  pendingFiles(): Iterable<PendingFile> {
    return (this.#pendingById ?? this.#livePending).values();
  }

  chunksOf(pending: PendingFile): readonly MutableChunk[] {
    return this.#pendingChunks.get(pending) ?? pending.chunks;
  }
}
