/**
 * The namespace as it was when an image began, for an image written a slice at a time while
 * changes go on (`Namespace.imageInSlices`): copy on first write. Before the namespace changes
 * anything an image holds, it tells the snapshot, which saves what is about to change, once;
 * the encoder reads saved state where there is some and the live tree everywhere else.
 *
 * What an image holds, and so what is saved:
 * - a directory's children (the map, shallow: a node that leaves it is not changed after,
 *   unless it is saved in turn), its name and its mtime;
 * - a complete file's replication (its chunks and the rest never change);
 * - which files are under construction, and each one's chunks (deep: a commit changes them).
 *
 * A node created after the snapshot is reachable only through a map that changed after it,
 * whose saved copy does not hold it. Copying a directory's map costs one pass over its
 * children, once per image.
 *
 * @module
 */
import type { ImageView } from "./_namespace_image.js";
import type { DirectoryNode, FileNode, MutableChunk, PendingFile } from "./_namespace_nodes.js";

export class ImageSnapshot implements ImageView {
  readonly #livePending: ReadonlyMap<bigint, PendingFile>;
  readonly #children = new Map<DirectoryNode, ReadonlyMap<string, DirectoryNode | FileNode>>();
  readonly #directories = new Map<DirectoryNode, { name: string; mtimeMs: number }>();
  readonly #replication = new Map<FileNode, number>();
  #pendingById: ReadonlyMap<bigint, PendingFile> | undefined;
  readonly #pendingChunks = new Map<PendingFile, readonly MutableChunk[]>();

  /** Takes the snapshot now; `pendingById` is the namespace's live map. */
  constructor(pendingById: ReadonlyMap<bigint, PendingFile>) {
    this.#livePending = pendingById;
  }

  /** `directory` is about to gain or lose children. */
  savingChildren(directory: DirectoryNode): void {
    if (!this.#children.has(directory)) this.#children.set(directory, new Map(directory.children));
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

  childrenOf(directory: DirectoryNode): ReadonlyMap<string, DirectoryNode | FileNode> {
    return this.#children.get(directory) ?? directory.children;
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
