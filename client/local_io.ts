/**
 * The local end of a transfer: an upload's source opened as a stream of bytes, and a
 * download's bytes written to a file or a stream.
 *
 * A download to a file path goes to a temporary file next to it, renamed over the path only
 * once every byte arrived verified (written in place, in any order, by
 * {@linkcode writeLocalFile}, or in order by {@linkcode writeDestination}), so a failed download never leaves a truncated file that
 * looks complete (HDFS's `get` does the same with `._COPYING_`). A path that exists and is
 * not a regular file (`/dev/null`, a FIFO) is written in place.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, type Stats } from "node:fs";
import { type FileHandle, open, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, type Writable } from "node:stream";
import {
  BigFsError,
  type ByteParts,
  bytePartsList,
  type ErrorCodeName,
  writeAllParts,
} from "#protocol";
import { writeToStream } from "./_stream_destination.js";
import { FileSource } from "./file_chunk_source.js";
import { frameBytes, type GetDestination, type PutSource } from "./options.js";

const localErrorCodes: Record<string, ErrorCodeName> = {
  ENOENT: "NOT_FOUND",
  EISDIR: "IS_A_DIRECTORY",
  EACCES: "ACCESS_DENIED",
  EPERM: "ACCESS_DENIED",
};

/** An open upload source and how to release it. */
export interface OpenedSource {
  /** A regular file is read in place, chunk by chunk; anything else as a stream. */
  source: AsyncIterable<unknown> | FileSource;
  close(): Promise<void>;
}

/**
 * Opens `source` for reading: a path is opened now, so a missing file fails before anything
 * is created on the cluster. A path to a regular file gives a {@linkcode FileSource} of its
 * size now; any other path (a FIFO, a device) is read as a stream.
 */
export async function openSource(source: PutSource, remotePath: string): Promise<OpenedSource> {
  if (typeof source !== "string") {
    const stream = source instanceof Readable ? source : new Readable().wrap(source);
    return { source: stream, close: async () => {} };
  }
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  let info: Stats;
  try {
    handle = await open(source, "r");
    info = await handle.stat();
    if (info.isDirectory()) {
      throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    }
  } catch (error) {
    await handle?.close().catch(() => {});
    const errno = (error as NodeJS.ErrnoException).code;
    throw new BigFsError(
      localErrorCodes[errno ?? ""] ?? "UNAVAILABLE",
      `Cannot upload ${source} to ${remotePath}: ${errno ?? (error as Error).message}`,
      { cause: error },
    );
  }
  const opened = handle;
  if (info.isFile()) {
    return {
      source: new FileSource(opened, info.size, source),
      close: () => opened.close().catch(() => {}),
    };
  }
  const stream = handle.createReadStream({ highWaterMark: frameBytes, autoClose: false });
  return {
    source: stream,
    close: async () => {
      stream.destroy();
      await handle.close().catch(() => {});
    },
  };
}

/** Options for {@linkcode writeDestination}. */
export interface WriteDestinationOptions {
  /** Called with the bytes written so far. */
  onBytes?: (bytesDone: number) => void;
  signal?: AbortSignal;
}

/** Writes `pieces` to `destination`; resolves with the bytes written once all are written. */
export async function writeDestination(
  pieces: AsyncIterable<Uint8Array>,
  destination: GetDestination,
  options: WriteDestinationOptions = {},
): Promise<number> {
  let bytesDone = 0;
  const onPiece = (bytes: number) => {
    bytesDone += bytes;
    options.onBytes?.(bytesDone);
  };
  const signal = options.signal ? { signal: options.signal } : {};
  if (typeof destination !== "string") {
    // The process's own stdout and stderr stay open for whatever the caller writes next.
    const end = destination !== process.stdout && destination !== process.stderr;
    await writeToStream(pieces, destination as Writable, { end, onPiece, ...signal });
    return bytesDone;
  }
  const inPlace = await stat(destination).then(
    (found) => !found.isFile(),
    () => false,
  );
  const target = inPlace ? destination : temporaryPathFor(destination);
  try {
    const file = createWriteStream(target, { flags: inPlace ? "w" : "wx" });
    await writeToStream(pieces, file, { end: true, onPiece, ...signal });
    if (!inPlace) {
      // The rename must not land before the bytes: make them durable first.
      const handle = await open(target, "r+");
      await handle.sync().finally(() => handle.close());
      await rename(target, destination);
    }
  } catch (error) {
    if (!inPlace) await unlink(target).catch(() => {});
    throw error;
  }
  return bytesDone;
}

/** Puts bytes at a byte position of the file being written. */
export type PositionalWrite = (position: number, bytes: ByteParts) => Promise<void>;

/**
 * Writes a download into the local file `destination` through `fill`, which puts bytes at
 * positions, in any order and a range more than once if it must: into a temp file beside the
 * destination, made durable and renamed over it only once `fill` resolved, so nothing is held
 * in memory to put the bytes in order. Returns false, having written nothing, when
 * `destination` exists and is not a regular file (`/dev/null`, a FIFO), which takes bytes only
 * in order: {@linkcode writeDestination} writes those.
 */
export async function writeLocalFile(
  destination: string,
  fill: (write: PositionalWrite) => Promise<void>,
): Promise<boolean> {
  const inPlace = await stat(destination).then(
    (found) => !found.isFile(),
    () => false,
  );
  if (inPlace) return false;
  const target = temporaryPathFor(destination);
  let handle: FileHandle | undefined;
  try {
    handle = await open(target, "wx");
    const file = handle;
    await fill((position, bytes) => writeAllParts(file, bytePartsList(bytes), position));
    // The rename must not land before the bytes: make them durable first.
    await file.sync();
    await file.close();
    handle = undefined;
    await rename(target, destination);
  } catch (error) {
    await handle?.close().catch(() => {});
    await unlink(target).catch(() => {});
    throw error;
  }
  return true;
}

function temporaryPathFor(destination: string): string {
  return join(
    dirname(destination),
    `.${basename(destination)}.bigfs-${randomBytes(6).toString("hex")}.tmp`,
  );
}

/** `bytes` as a Buffer over the same memory, for consumers that expect Buffers. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
