/**
 * The small pieces of durable file I/O every daemon needs: writing a buffer completely at a
 * position (a positional write may take several calls), fsyncing a folder so that the names
 * created, renamed or removed in it survive a crash, and replacing a small file whole.
 */
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

/** Anything with `FileHandle.write`'s positional form. */
export interface PositionalWriter {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
}

/** Writes all of `bytes` at `position`, however many calls that takes. */
export async function writeAll(
  handle: PositionalWriter,
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const { bytesWritten } = await handle.write(
      bytes,
      written,
      bytes.byteLength - written,
      position + written,
    );
    // Each pass writes at least one byte, so this loop ends.
    if (!(bytesWritten > 0)) throw new Error(`write returned ${bytesWritten} bytes`);
    written += bytesWritten;
  }
}

/** Anything with `FileHandle.writev`'s positional form. */
export interface PositionalVectorWriter extends PositionalWriter {
  writev(buffers: readonly Uint8Array[], position: number): Promise<{ bytesWritten: number }>;
}

/**
 * Writes `parts` one after another from `position`, as one piece of the file: one `writev`,
 * more calls only for whatever a short write left.
 */
export async function writeAllParts(
  handle: PositionalVectorWriter,
  parts: readonly Uint8Array[],
  position: number,
): Promise<void> {
  if (parts.length === 1) return writeAll(handle, parts[0]!, position);
  const { bytesWritten } = await handle.writev(parts, position);
  let skip = bytesWritten;
  let at = position;
  for (const part of parts) {
    if (skip >= part.byteLength) {
      skip -= part.byteLength;
    } else {
      await writeAll(handle, part.subarray(skip), at + skip);
      skip = 0;
    }
    at += part.byteLength;
  }
}

/**
 * Replaces the file at `path` with `contents` (or its parts, in order, never joined), durably
 * and whole: written to `path.tmp`, fsynced, renamed over `path`, and the folder fsynced. A
 * failure removes the temp file; a crash leaves the old file or the new one, and perhaps a
 * stale `.tmp`, which the next replace overwrites.
 */
export async function replaceFileDurably(
  path: string,
  contents: string | Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const temp = `${path}.tmp`;
  try {
    const file = await open(temp, "w");
    try {
      if (typeof contents === "string" || contents instanceof Uint8Array) {
        await file.writeFile(contents);
      } else {
        await writeAllParts(file, contents, 0);
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
  await syncFolder(dirname(path));
}

/** Fsyncs a folder, so the names created, renamed or removed in it are durable. */
export async function syncFolder(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
