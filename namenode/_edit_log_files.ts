/**
 * The edit log's segment files on disk: opened for appending, created durably (header
 * written, the file and its folder fsynced), and written in full.
 *
 * @module
 */

import { writeSync } from "node:fs";
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

/**
 * Writes at `position` in the calling thread, not in libuv's pool. A batch of records is a
 * few KiB copied into the page cache, a few microseconds; through the pool the same write
 * cost a hand-off to a pool thread and a wake-up of the event loop when it was done (a
 * quarter of the NameNode's time under mkdir load went to such hand-offs), and the batch's
 * fdatasync, which does wait for the disk, could only start after that round trip. What
 * makes a record durable is still the fdatasync, which stays in the pool.
 */
export async function writeInPlace(
  fd: number,
  bytes: Uint8Array,
  position: number,
): Promise<number> {
  return writeSync(fd, bytes, 0, bytes.byteLength, position);
}

/** Opens a segment with `fs.promises`: the default `EditLogOptions.openSegmentFile`. */
export async function openSegmentFileDefault(
  path: string,
  flags: "r+" | "wx",
): Promise<SegmentFile> {
  const handle = await open(path, flags);
  return {
    write: (bytes, position) => writeInPlace(handle.fd, bytes, position),
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
