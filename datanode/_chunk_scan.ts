/**
 * Start-up: cleaning what a crash left behind and indexing the finalised chunks, reading only
 * metadata files and data file sizes (never data), so start-up takes seconds with hundreds of
 * thousands of chunks.
 *
 * What each state on disk means, given how a replica is finalised (data renamed into place,
 * then metadata, then the folder fsynced; an older generation's metadata removed, then its
 * data) and deleted (metadata removed, then data):
 *
 * - data and metadata of the same generation: a finalised replica; kept if it checks out;
 * - data without metadata: a finalise or a delete that a crash cut short; the replica was never
 *   committed, or was already deleted, so the data file is removed;
 * - metadata without data, metadata that does not decode, or a data file whose size is not the
 *   size in the metadata: corrupt; both files move to `corrupt/` for an operator to look at;
 * - two finalised generations of one id: a replace cut short after its commit point; the newest
 *   good one is kept and the older ones removed.
 *
 * @module
 */
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "#protocol";
import {
  type ChunkFileKind,
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
import { decodeChunkMeta } from "./_chunk_meta.js";

/** A finalised replica in the store's index. */
export interface StoredReplica {
  info: Readonly<{ id: bigint; generation: bigint; size: number; xxh64: bigint }>;
  /** Data plus metadata file bytes: what the replica takes on disk. */
  footprintBytes: number;
}

// How many chunks are looked at at once: enough to keep a disk's queue busy, bounded.
const scanConcurrency = 32;

interface Found {
  folder: string;
  /** Kinds present per generation. */
  generations: Map<bigint, Set<ChunkFileKind>>;
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

/** Lists every chunk file under `chunks/`, grouped by id. */
async function findChunkFiles(dataDir: string, logger: Logger): Promise<Map<bigint, Found>> {
  const found = new Map<bigint, Found>();
  const root = join(dataDir, chunksFolderName);
  for (const first of await readdir(root)) {
    if (!levelFolderNamePattern.test(first)) continue;
    for (const second of await readdirIfFolder(join(root, first))) {
      if (!levelFolderNamePattern.test(second)) continue;
      const folder = join(root, first, second);
      for (const name of await readdirIfFolder(folder)) {
        const match = chunkFileNamePattern.exec(name);
        const id = match ? BigInt(match[1]!) : undefined;
        if (!match || id === undefined || chunkFolder(dataDir, id) !== folder) {
          logger.warn({ path: join(folder, name) }, "unknown file in a chunk folder left alone");
          continue;
        }
        const entry = found.get(id) ?? { folder, generations: new Map() };
        found.set(id, entry);
        const generation = BigInt(match[2]!);
        const kinds = entry.generations.get(generation) ?? new Set<ChunkFileKind>();
        entry.generations.set(generation, kinds);
        kinds.add(match[3] as ChunkFileKind);
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

/** Checks one finalised replica from its metadata and data size; undefined when it is bad. */
async function loadReplica(
  folder: string,
  id: bigint,
  generation: bigint,
  logger: Logger,
): Promise<StoredReplica | undefined> {
  const metaPath = join(folder, chunkFileName(id, generation, "meta"));
  const dataPath = join(folder, chunkFileName(id, generation, "data"));
  try {
    const bytes = await readFile(metaPath);
    const meta = decodeChunkMeta(bytes, `chunk ${id}`);
    if (meta.id !== id || meta.generation !== generation) {
      throw new Error(`metadata is for chunk ${meta.id} generation ${meta.generation}`);
    }
    const { size } = await stat(dataPath);
    if (size !== meta.sizeBytes) {
      throw new Error(`data file is ${size} bytes, metadata says ${meta.sizeBytes}`);
    }
    const info = Object.freeze({ id, generation, size, xxh64: meta.xxh64 });
    return { info, footprintBytes: size + bytes.byteLength };
  } catch (error) {
    logger.error({ chunkId: id, generation, path: metaPath, err: error }, "chunk quarantined");
    return undefined;
  }
}

async function settleChunk(
  dataDir: string,
  id: bigint,
  found: Found,
  logger: Logger,
): Promise<StoredReplica | undefined> {
  const newestFirst = [...found.generations.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  let kept: StoredReplica | undefined;
  for (const generation of newestFirst) {
    const kinds = found.generations.get(generation)!;
    const names = [...kinds].map((kind) => chunkFileName(id, generation, kind));
    if (!kinds.has("meta") || kept !== undefined) {
      // Uncommitted data, or a generation that a newer good one replaced.
      logger.info({ chunkId: id, generation }, "removing a chunk file left by a crash");
      for (const name of names) await rm(join(found.folder, name), { force: true });
      continue;
    }
    kept = kinds.has("data") ? await loadReplica(found.folder, id, generation, logger) : undefined;
    if (kept === undefined) {
      if (!kinds.has("data")) logger.error({ chunkId: id, generation }, "chunk has no data file");
      for (const name of names) await quarantine(dataDir, found.folder, name);
    }
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
