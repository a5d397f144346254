/**
 * Where a chunk store keeps its files, and the small file-system helpers it shares.
 *
 * ```
 * <dataDir>/chunks/<(id >> 16) & 0xff, 2 hex>/<(id >> 8) & 0xff, 2 hex>/chunk_<id>_<generation>.data
 * <dataDir>/tmp/chunk_<id>_<generation>_<sequence>.data.tmp          replicas being written
 * <dataDir>/corrupt/<name>.<unix ms>                                  quarantined at start-up
 * ```
 *
 * One file per replica: the chunk's bytes, then its checksums (`_chunk_meta.ts`). The NameNode
 * hands out chunk ids in sequence, so the folder is picked by bits 8 to 23 of the id: 256
 * consecutive chunks share a folder (as HDFS's `subdir` levels do), a new folder is made only
 * once per 256 chunks, and a million chunks spread over about 4,000 folders of 256 files.
 * `tmp/` sits on the same file system as `chunks/`, so renaming a finished file into place is
 * atomic. Paths are built only from bigint ids and generations (checked to be u64s) and
 * numbers, never from strings that came over the network.
 *
 * @module
 */
import { mkdir, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BigFsError, syncFolder } from "#protocol";

const u64Max = 2n ** 64n - 1n;

export const chunksFolderName = "chunks";
export const tmpFolderName = "tmp";
export const corruptFolderName = "corrupt";

/** Names of finalised chunk files: id, generation. */
export const chunkFileNamePattern = /^chunk_(\d{1,20})_(\d{1,20})\.data$/;
/** Names of files being written. */
export const tempFileNamePattern = /^chunk_\d{1,20}_\d{1,20}_\d{1,20}\.data\.tmp$/;
/** Names of the two folder levels under `chunks/`. */
export const levelFolderNamePattern = /^[0-9a-f]{2}$/;

/** Throws unless `value` is a bigint in the u64 range: anything else is a caller's bug. */
export function assertU64(value: bigint, what: string): void {
  if (typeof value !== "bigint") {
    throw new TypeError(`Cannot use ${what}: ${String(value)} is a ${typeof value}, not a bigint`);
  }
  if (value < 0n || value > u64Max)
    throw new RangeError(`Cannot use ${what}: ${value} is not a u64`);
}

function hex2(value: bigint): string {
  return value.toString(16).padStart(2, "0");
}

/** The folder that holds chunk `id`'s files. */
export function chunkFolder(dataDir: string, id: bigint): string {
  return join(dataDir, chunksFolderName, hex2((id >> 16n) & 0xffn), hex2((id >> 8n) & 0xffn));
}

/** The name of a finalised chunk file. */
export function chunkFileName(id: bigint, generation: bigint): string {
  return `chunk_${id}_${generation}.data`;
}

/** The path of a finalised chunk file. */
export function chunkFilePath(dataDir: string, id: bigint, generation: bigint): string {
  return join(chunkFolder(dataDir, id), chunkFileName(id, generation));
}

/** The path of a file being written; `sequence` tells apart writers of the same replica. */
export function tempFilePath(
  dataDir: string,
  id: bigint,
  generation: bigint,
  sequence: number,
): string {
  return join(dataDir, tmpFolderName, `chunk_${id}_${generation}_${sequence}.data.tmp`);
}

/**
 * Creates a chunk folder (and its parent level) if missing. A folder just created is only
 * durable once its parent is fsynced, so the parents of whatever was created are.
 */
export async function ensureChunkFolder(folder: string): Promise<void> {
  const firstCreated = await mkdir(folder, { recursive: true });
  if (firstCreated === undefined) return;
  await syncFolder(dirname(firstCreated));
  if (firstCreated !== folder) await syncFolder(dirname(folder));
}

/** True for the errors a full disk or an exhausted quota raise. */
export function isNoSpace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** True when a file-system error says the file does not exist. */
export function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ENOENT";
}

/**
 * Removes a file that may already be gone: one `unlink`, where `rm` with `force` would `lstat`
 * it first (a second call through the thread pool for every replica deleted).
 */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** A full disk as the `NO_SPACE` error peers understand; other errors are returned as they are. */
export function asNoSpace(error: unknown, action: string): unknown {
  if (!isNoSpace(error)) return error;
  return new BigFsError("NO_SPACE", `${action}: the disk is full`, { cause: error });
}
