/**
 * How much the disk under a chunk store can still take, asked of the file system (statfs).
 * The store's capacity is what the operator allows; this is what the disk allows, which is
 * less when the disk is shared with other data or smaller than the capacity flag says.
 *
 * @module
 */
import { statfs } from "node:fs/promises";

/**
 * Bytes an unprivileged writer may still write on the file system holding `path`; 0 when it
 * has no free inodes left (no new chunk file could be created). `undefined` when the file
 * system cannot tell.
 */
export async function diskFreeBytes(path: string): Promise<number | undefined> {
  try {
    const stats = await statfs(path);
    // A file system without an inode limit reports 0 files in all.
    if (stats.files > 0 && stats.ffree === 0) return 0;
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}
