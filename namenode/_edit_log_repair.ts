/**
 * Repair of a damaged edit log: a segment is copied aside as `<name>.broken` (durably) and
 * truncated to its last good record, or moved aside whole. An earlier copy is never
 * overwritten.
 *
 * @module
 */

import { constants } from "node:fs";
import { copyFile, open, rename, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { syncFolder } from "#protocol";

// How many `.broken` copies of one segment may pile up before repair stops and asks for help.
const brokenCopiesMax = 100;

/** A `<path>.broken` name that is not taken yet, so an earlier copy is never overwritten. */
async function freeBrokenName(path: string): Promise<string> {
  for (let index = 0; index < brokenCopiesMax; index++) {
    const candidate = index === 0 ? `${path}.broken` : `${path}.broken.${index}`;
    try {
      await stat(candidate);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return candidate;
      throw error;
    }
  }
  throw new Error(
    `Cannot repair edit log segment ${basename(path)}: ${brokenCopiesMax} copies exist`,
  );
}

/** Copies the segment aside (durably) and truncates it to `offset`. */
export async function cutSegment(path: string, offset: number): Promise<string> {
  const brokenCopy = await freeBrokenName(path);
  await copyFile(path, brokenCopy, constants.COPYFILE_EXCL);
  const copy = await open(brokenCopy, "r");
  try {
    await copy.sync();
  } finally {
    await copy.close();
  }
  await syncFolder(dirname(path));
  const handle = await open(path, "r+");
  try {
    await handle.truncate(offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return brokenCopy;
}

/** Renames the whole segment to a `.broken` name. */
export async function moveAside(path: string): Promise<string> {
  const brokenCopy = await freeBrokenName(path);
  await rename(path, brokenCopy);
  await syncFolder(dirname(path));
  return brokenCopy;
}
