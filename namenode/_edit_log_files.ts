/**
 * The edit log's segment files on disk: opened for appending, created durably (header
 * written, the file and its folder fsynced), and written in full.
 *
 * @module
 */

import { open } from "node:fs/promises";
import { join } from "node:path";
import { syncFolder } from "#protocol";
import { encodeSegmentHeader, type Segment } from "./_edit_log_format.js";

/**
 * The part of an open file that appends go through, so a test can inject a failed write or
 * sync. The default wraps a `fs.promises` FileHandle.
 */
export interface SegmentFile {
  /** Writes `bytes` at `position` and returns how many bytes were written. */
  write(bytes: Uint8Array, position: number): Promise<number>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Writes all of `bytes` at `position`, however many writes it takes. */
export async function writeAll(
  file: SegmentFile,
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const count = await file.write(bytes.subarray(written), position + written);
    // Each pass writes at least one byte, so this loop ends.
    if (!(count > 0)) throw new Error(`write returned ${count} bytes`);
    written += count;
  }
}

/** Opens a segment with `fs.promises`: the default `EditLogOptions.openSegmentFile`. */
export async function openSegmentFileDefault(
  path: string,
  flags: "r+" | "wx",
): Promise<SegmentFile> {
  const handle = await open(path, flags);
  return {
    write: async (bytes, position) =>
      (await handle.write(bytes, 0, bytes.byteLength, position)).bytesWritten,
    datasync: () => handle.datasync(),
    sync: () => handle.sync(),
    close: () => handle.close(),
  };
}

/** Creates a segment with its header, fsyncs it and the folder, and returns it open. */
export async function createSegment(
  folder: string,
  segment: Segment,
  openFile: (path: string, flags: "r+" | "wx") => Promise<SegmentFile>,
): Promise<SegmentFile> {
  const file = await openFile(join(folder, segment.name), "wx");
  try {
    await writeAll(file, encodeSegmentHeader(segment.firstTxid), 0);
    await file.sync();
    await syncFolder(folder);
  } catch (error) {
    await file.close().catch(() => {});
    throw error;
  }
  return file;
}
