/**
 * The options and result shapes of {@linkcode BigFsClient}, and the defaults they fall back to.
 */
import type { Readable, Writable } from "node:stream";
import type { fileEntry, Logger, ResponseOf, schema } from "#protocol";

/** One entry of a directory listing, as the NameNode sends it. */
export type FileEntry = schema.Infer<typeof fileEntry>;

/** What `stat` answers: the entry and each chunk's replicas. */
export type FileStatus = ResponseOf<"STAT">;

/** What `contentSummary` answers: files, directories and bytes below a path. */
export type ContentSummary = ResponseOf<"CONTENT_SUMMARY">;

/** What `report` answers: every DataNode the NameNode knows. */
export type DatanodeReport = ResponseOf<"DATANODE_REPORT">;

/** What `fsck` answers: chunk health below a path. */
export type FsckReport = ResponseOf<"FSCK">;

/** Options for {@linkcode BigFsClient.connect}. */
export interface BigFsClientOptions {
  /** Where the NameNode listens. */
  namenode: { host: string; port: number };
  /** The cluster secret. */
  secret: Uint8Array;
  /** Names this client's leases on the NameNode; default `bigfs-client-<random>`. */
  clientName?: string;
  /** Chunks moving at once, per upload and per download; default 4. */
  chunksInFlight?: number;
  /**
   * Most chunk bytes one upload or download holds in memory; default 128 MiB. The window of
   * chunks in flight shrinks below `chunksInFlight` when `chunksInFlight × chunk size` would
   * exceed it (never below one chunk). An upload from a local file holds no chunk's bytes, so
   * its window is `chunksInFlight` whatever the chunk size ({@linkcode uploadWindowFor}).
   */
  bufferBytesMax?: number;
  /** How often leases are renewed while a file is being written; default 10 s. */
  leaseRenewIntervalMs?: number;
  /** Deadline of a NameNode request; default 30 s. */
  requestTimeoutMs?: number;
  /** A chunk transfer that makes no progress for this long fails; default 30 s. */
  stallTimeoutMs?: number;
  /** Pipelines tried per chunk before an upload fails; default 5. */
  attemptsPerChunk?: number;
  /** Default: a silent logger. */
  logger?: Logger;
}

/** Options for {@linkcode BigFsClient.put}. */
export interface PutOptions {
  /** Replicas per chunk; default the NameNode's. */
  replication?: number;
  /** Chunk size of the new file; default the NameNode's. */
  chunkSizeBytes?: number;
  /** Replace a file that exists at the path; default false (`EXISTS`). */
  overwrite?: boolean;
  /** Called as the pipelines acknowledge bytes; never goes backwards. */
  onProgress?: (bytesDone: number) => void;
  /** Aborting it stops the upload and abandons the file. */
  signal?: AbortSignal;
}

/** Options for {@linkcode BigFsClient.get}. */
export interface GetOptions {
  /** Called as verified bytes reach the destination. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Aborting it stops the download. */
  signal?: AbortSignal;
}

/** Options for {@linkcode BigFsClient.createReadStream}. */
export interface ReadStreamOptions {
  /** First byte to read; default 0. */
  start?: number;
  /** Last byte to read, inclusive as in `fs.createReadStream`; default the last byte. */
  end?: number;
}

/** Options for {@linkcode BigFsClient.createWriteStream}. */
export type WriteStreamOptions = Omit<PutOptions, "onProgress">;

/** What an upload stored. */
export interface PutResult {
  /** Bytes in the file. */
  size: number;
  /** Chunks in the file. */
  chunks: number;
}

/** What a download delivered. */
export interface GetResult {
  /** Bytes written to the destination. */
  size: number;
}

/** An upload's source: a local file path or a stream of bytes. */
export type PutSource = string | NodeJS.ReadableStream | Readable;

/** A download's destination: a local file path or a stream. */
export type GetDestination = string | NodeJS.WritableStream | Writable;

/** Bytes per DATA frame: the DataNode's checksum segment size, so frames map onto segments. */
export const frameBytes = 256 * 1024;

/** Defaults of {@linkcode BigFsClientOptions}. */
export const clientDefaults = {
  chunksInFlight: 4,
  bufferBytesMax: 128 * 1024 * 1024,
  leaseRenewIntervalMs: 10_000,
  requestTimeoutMs: 30_000,
  stallTimeoutMs: 30_000,
  attemptsPerChunk: 5,
} as const;

/**
 * Chunks an upload keeps in flight. From a stream each chunk's bytes are held until stored, so
 * the memory bound limits the window as for any transfer ({@linkcode windowFor}); from a local
 * file a chunk holds no bytes (its frames are read as they are sent, at most a send window
 * of them on their way), so the window is `chunksInFlight` whatever the chunk size.
 */
export function uploadWindowFor(
  fromFile: boolean,
  chunkSizeBytes: number,
  chunksInFlight: number,
  bufferBytesMax: number,
): number {
  return fromFile
    ? Math.max(1, chunksInFlight)
    : windowFor(chunkSizeBytes, chunksInFlight, bufferBytesMax);
}

/** Chunks one transfer keeps in flight for a given chunk size, within the memory bound. */
export function windowFor(
  chunkSizeBytes: number,
  chunksInFlight: number,
  bufferBytesMax: number,
): number {
  return Math.max(1, Math.min(chunksInFlight, Math.floor(bufferBytesMax / chunkSizeBytes)));
}
