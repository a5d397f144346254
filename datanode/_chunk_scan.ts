/**
 * Start-up: cleaning what a crash left behind and indexing the finalised chunks, reading only
 * each replica's footer and metadata (never its data), so start-up takes seconds with hundreds
 * of thousands of chunks.
 *
 * What each state on disk means, given how a replica is finalised (its file fdatasynced with
 * its metadata, renamed into place, the folder fsynced; then an older generation's file
 * removed):
 *
 * - a file in `tmp/`: a write that never finished; removed;
 * - a replica file whose footer or metadata does not check out: corrupt; moved to `corrupt/`
 *   for an operator to look at;
 * - two finalised generations of one id: a replace cut short after its commit point; the newest
 *   good one is kept and the older ones removed.
 *
 * @module
 */
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { BigFsError, type Logger } from "#protocol";
import {
  chunkFileName,
  chunkFileNamePattern,
  chunkFolder,
  chunksFolderName,
  corruptFolderName,
  isNotFound,
  levelFolderNamePattern,
  tempFileNamePattern,
  tmpFolderName,
} from "./_chunk_layout.js";
import { readReplicaMeta } from "./_chunk_read.js";
import type { ContainerPlace } from "./_containers.js";

/** A finalised replica in the store's index. */
export interface StoredReplica {
  info: Readonly<{ id: bigint; generation: bigint; size: number; xxh64: bigint }>;
  /** The replica file's bytes: what it takes on disk (its container's, for a contained one). */
  footprintBytes: number;
  /** Where the replica is when it is in a container (`_containers.ts`), not a file. */
  place?: ContainerPlace;
}

// How many chunks are looked at at once: enough to keep a disk's queue busy, bounded.
const scanConcurrency = 32;

interface Found {
  folder: string;
  /** Generations present. */
  generations: Set<bigint>;
}

/** Removes the temp files a crash left in `tmp/`; anything else there is logged and kept. */
export async function removeTempLeftovers(dataDir: string, logger: Logger): Promise<number> {
  const folder = join(dataDir, tmpFolderName);
  let removed = 0;
  for (const name of await readdir(folder)) {
    if (!tempFileNamePattern.test(name)) {
      logger.warn({ path: join(folder, name) }, "unknown file in the temp folder left alone");
      continue;
    }
    await rm(join(folder, name), { force: true });
    removed++;
  }
  return removed;
}

async function readdirIfFolder(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOTDIR") return [];
    throw error;
  }
}

// Format 1 kept each replica's checksums in a `.meta` file of their own.
const formatOneMetaPattern = /^chunk_\d{1,20}_\d{1,20}\.meta$/;

function formatOneFound(path: string): BigFsError {
  return new BigFsError(
    "INVALID_ARGUMENT",
    `Cannot open the chunk store: ${path} is a replica in the format of an earlier BigFS ` +
      "(checksums in a .meta file of their own), which this version does not read. Nothing " +
      "was changed; start this DataNode on an empty folder and let the NameNode re-replicate.",
  );
}

/**
 * Lists every chunk file under `chunks/`, grouped by id.
 *
 * @throws {BigFsError} before anything is moved or removed, when it finds a replica of
 * format 1, so an older store is never mistaken for a corrupt one.
 */
async function findChunkFiles(dataDir: string, logger: Logger): Promise<Map<bigint, Found>> {
  const found = new Map<bigint, Found>();
  const root = join(dataDir, chunksFolderName);
  for (const first of await readdir(root)) {
    if (!levelFolderNamePattern.test(first)) continue;
    for (const second of await readdirIfFolder(join(root, first))) {
      if (!levelFolderNamePattern.test(second)) continue;
      const folder = join(root, first, second);
      for (const name of await readdirIfFolder(folder)) {
        if (formatOneMetaPattern.test(name)) throw formatOneFound(join(folder, name));
        const match = chunkFileNamePattern.exec(name);
        const id = match ? BigInt(match[1]!) : undefined;
        if (!match || id === undefined || chunkFolder(dataDir, id) !== folder) {
          logger.warn({ path: join(folder, name) }, "unknown file in a chunk folder left alone");
          continue;
        }
        const entry = found.get(id) ?? { folder, generations: new Set<bigint>() };
        found.set(id, entry);
        entry.generations.add(BigInt(match[2]!));
      }
    }
  }
  return found;
}

/** Moves a file to `corrupt/`, under a name that cannot collide with an earlier one. */
async function quarantine(dataDir: string, folder: string, name: string): Promise<void> {
  try {
    await rename(join(folder, name), join(dataDir, corruptFolderName, `${name}.${Date.now()}`));
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** Checks one finalised replica from its footer and metadata; undefined when it is bad. */
async function loadReplica(
  folder: string,
  id: bigint,
  generation: bigint,
  logger: Logger,
): Promise<StoredReplica | undefined> {
  const path = join(folder, chunkFileName(id, generation));
  try {
    const { meta, fileBytes } = await readReplicaMeta(path, `chunk ${id}`);
    if (meta.id !== id || meta.generation !== generation) {
      throw new Error(`metadata is for chunk ${meta.id} generation ${meta.generation}`);
    }
    const info = Object.freeze({ id, generation, size: meta.sizeBytes, xxh64: meta.xxh64 });
    return { info, footprintBytes: fileBytes };
  } catch (error) {
    logger.error({ chunkId: id, generation, path, err: error }, "chunk quarantined");
    return undefined;
  }
}

async function settleChunk(
  dataDir: string,
  id: bigint,
  found: Found,
  logger: Logger,
): Promise<StoredReplica | undefined> {
  const newestFirst = [...found.generations].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  let kept: StoredReplica | undefined;
  for (const generation of newestFirst) {
    const name = chunkFileName(id, generation);
    if (kept !== undefined) {
      // A generation that a newer good one replaced.
      logger.info({ chunkId: id, generation }, "removing a replaced chunk file left by a crash");
      await rm(join(found.folder, name), { force: true });
      continue;
    }
    kept = await loadReplica(found.folder, id, generation, logger);
    if (kept === undefined) await quarantine(dataDir, found.folder, name);
  }
  return kept;
}

/**
 * Builds the index of finalised replicas, removing crash leftovers and quarantining corrupt
 * chunks as described in the module comment.
 */
export async function scanChunks(
  dataDir: string,
  logger: Logger,
): Promise<Map<bigint, StoredReplica>> {
  await mkdir(join(dataDir, corruptFolderName), { recursive: true });
  const found = await findChunkFiles(dataDir, logger);
  const replicas = new Map<bigint, StoredReplica>();
  const entries = found.entries();
  const worker = async (): Promise<void> => {
    for (const [id, files] of entries) {
      const replica = await settleChunk(dataDir, id, files, logger);
      if (replica !== undefined) replicas.set(id, replica);
    }
  };
  await Promise.all(Array.from({ length: scanConcurrency }, worker));
  return replicas;
}
