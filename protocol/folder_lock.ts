/**
 * A lock that keeps a second daemon off a data folder: `<folder>/in_use.lock` holds the pid
 * of the process using it. A lock whose process is gone (killed with SIGKILL, say) is stale
 * and taken over; one held by a live process refuses start-up, naming it.
 */
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";

/**
 * Lock files this process holds. The pid in a lock file cannot tell a second daemon in this
 * same process (tests start several) from a stale lock left by an earlier process that had
 * our pid (common in containers), so the process remembers its own locks.
 */
const heldLocks = new Set<string>();

/** A held folder lock. */
export interface FolderLock {
  /** The lock file. */
  readonly path: string;
  /** Removes the lock file. */
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the lock on `folder` (creating the folder) for `daemon` (`"NameNode"`, ...).
 *
 * @throws {Error} naming the folder and the process that holds it.
 */
export async function lockFolder(folder: string, daemon: string): Promise<FolderLock> {
  const lockPath = join(resolve(folder), "in_use.lock");
  const inUse = (holder: number) =>
    new Error(
      `Cannot start ${daemon}: data folder ${folder} is in use by process ${holder} (lock file ${lockPath})`,
    );
  if (heldLocks.has(lockPath)) throw inUse(process.pid);
  // Reserved before the first await, so two starts in this process cannot both get past here.
  heldLocks.add(lockPath);
  try {
    await mkdir(folder, { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(lockPath, "wx");
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        return {
          path: lockPath,
          async release() {
            await rm(lockPath, { force: true });
            heldLocks.delete(lockPath);
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const holder = Number.parseInt(await readFile(lockPath, "utf8").catch(() => ""), 10);
      if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw inUse(holder);
      }
      // The holder is gone, or was an earlier process with our pid: the lock is stale.
      await rm(lockPath, { force: true });
    }
    throw new Error(`Cannot start ${daemon}: could not take the lock ${lockPath}`);
  } catch (error) {
    heldLocks.delete(lockPath);
    throw error;
  }
}
