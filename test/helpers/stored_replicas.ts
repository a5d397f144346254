/**
 * The replicas a DataNode's data folder holds, read straight from disk as its start-up scan
 * would see them: files of their own under `chunks/`, and records in `containers/` (the newest
 * generation of each chunk, less those a later tombstone deleted). Tests use this to count
 * replicas, and to damage one where it lies.
 */
import { open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  containersFolderName,
  recordHeaderBytes,
  scanRecords,
} from "../../datanode/_containers.js";

/** One replica on disk. */
export interface ReplicaOnDisk {
  chunkId: bigint;
  generation: bigint;
  /** The replica's own file, or the container holding it. */
  path: string;
  /** Where the replica's bytes (its data, then its checksums) start in `path`. */
  offset: number;
  /** Bytes of chunk data. */
  sizeBytes: number;
  /** Bytes of the replica: data and checksums. */
  fileBytes: number;
  /** What the DataNode counts as used for it: a contained one's record header too. */
  footprintBytes: number;
  contained: boolean;
}

const chunkFileName = /^chunk_(\d+)_(\d+)\.data$/;
const containerName = /^container_\d+\.log$/;

/** Every replica in a DataNode's data folder; none when the folder is missing. */
export async function replicasOnDisk(dataDir: string): Promise<ReplicaOnDisk[]> {
  return [...(await replicaFiles(join(dataDir, "chunks"))), ...(await contained(dataDir))];
}

/** Flips every bit of byte `at` of a replica's bytes (0 is its first data byte), in place. */
export async function flipReplicaByte(replica: ReplicaOnDisk, at: number): Promise<void> {
  const handle = await open(replica.path, "r+");
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, replica.offset + at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, replica.offset + at);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A replica's bytes, data and checksums. */
export async function replicaBytes(replica: ReplicaOnDisk): Promise<Buffer> {
  const handle = await open(replica.path, "r");
  try {
    const bytes = Buffer.alloc(replica.fileBytes);
    await handle.read(bytes, 0, bytes.byteLength, replica.offset);
    return bytes;
  } finally {
    await handle.close();
  }
}

async function replicaFiles(root: string): Promise<ReplicaOnDisk[]> {
  const found: ReplicaOnDisk[] = [];
  const walk = async (folder: string): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
        continue;
      }
      const match = chunkFileName.exec(entry.name);
      if (!match) continue;
      const sizes = await fileSizes(path);
      if (sizes === undefined) continue; // deleted while we looked
      found.push({
        chunkId: BigInt(match[1]!),
        generation: BigInt(match[2]!),
        path,
        offset: 0,
        ...sizes,
        footprintBytes: sizes.fileBytes,
        contained: false,
      });
    }
  };
  await walk(root);
  return found;
}

/** A replica file's data bytes (from its footer) and whole length. */
async function fileSizes(
  path: string,
): Promise<{ sizeBytes: number; fileBytes: number } | undefined> {
  const handle = await open(path, "r").catch(() => undefined);
  if (handle === undefined) return undefined;
  try {
    const { size: fileBytes } = await handle.stat();
    const footer = Buffer.alloc(16);
    await handle.read(footer, 0, 16, Math.max(0, fileBytes - 16));
    return { sizeBytes: Number(footer.readBigUInt64BE(8)), fileBytes };
  } finally {
    await handle.close();
  }
}

/** The live records of every container, oldest container first. */
async function contained(dataDir: string): Promise<ReplicaOnDisk[]> {
  const folder = join(dataDir, containersFolderName);
  const names = (await readdir(folder).catch(() => [] as string[]))
    .filter((name) => containerName.test(name))
    .sort();
  const live = new Map<bigint, ReplicaOnDisk>();
  for (const name of names) {
    const path = join(folder, name);
    const bytes = await readFile(path).catch(() => Buffer.alloc(0));
    // The store's own scan: a test damages payloads, and sees the records the store would.
    for (const record of scanRecords(bytes)) {
      if (record.kind !== "replica" && record.kind !== "tombstone") continue;
      const { id: chunkId, generation } = record;
      const known = live.get(chunkId);
      if (record.kind === "tombstone") {
        if (known !== undefined && known.generation <= generation) live.delete(chunkId);
      } else if (known === undefined || known.generation <= generation) {
        const footerAt = record.offset + record.payloadBytes - 16;
        live.set(chunkId, {
          chunkId,
          generation,
          path,
          offset: record.offset,
          sizeBytes: Number(bytes.readBigUInt64BE(footerAt + 8)),
          fileBytes: record.payloadBytes,
          footprintBytes: recordHeaderBytes + record.payloadBytes,
          contained: true,
        });
      }
    }
  }
  return [...live.values()];
}
