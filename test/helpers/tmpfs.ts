/**
 * Small real file systems for disk-full tests: a tmpfs of a given size mounted on a temp
 * folder (tests run as root, here and in CI), filled to the last byte with a filler file and
 * freed again. `unmount()` belongs in a `finally`: it unmounts (lazily, should a process still
 * hold a file there) and removes the folder. Mounts left by a test process that died are
 * unmounted when it exits.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, open, rm, rmdir, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const mounted = new Set<string>();

process.on("exit", () => {
  for (const path of mounted) {
    try {
      execFileSync("umount", ["--lazy", path]);
    } catch {
      // Nothing more can be done on the way out.
    }
  }
});

/** A mounted tmpfs. */
export interface Tmpfs {
  /** Where it is mounted. */
  readonly path: string;
  /** Writes a filler file until the file system is full; resolves with the bytes written. */
  fill(name?: string): Promise<number>;
  /** Removes a filler file: its space comes back. */
  free(name?: string): Promise<void>;
  /** Cuts `bytes` (whole pages) off the end of a filler file: that much space comes back. */
  shrink(bytes: number, name?: string): Promise<void>;
  /** Unmounts and removes the mount point. Safe to call more than once. */
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `sizeBytes` (a multiple of the page size) on a new temp folder. */
export async function mountTmpfs(sizeBytes: number): Promise<Tmpfs> {
  const path = await mkdtemp(join(tmpdir(), "bigfs-tmpfs-"));
  try {
    await run("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes},mode=0700`, "tmpfs", path]);
  } catch (error) {
    await rmdir(path).catch(() => {});
    throw new Error(`Cannot mount a tmpfs on ${path} (tests need root): ${String(error)}`);
  }
  mounted.add(path);
  let unmounting: Promise<void> | undefined;
  return {
    path,
    fill: (name = "filler") => fill(join(path, name)),
    free: (name = "filler") => rm(join(path, name)),
    async shrink(bytes, name = "filler") {
      const filler = join(path, name);
      const { size } = await stat(filler);
      if (bytes > size) throw new RangeError(`Cannot shrink ${filler} by ${bytes}: it has ${size}`);
      await truncate(filler, size - bytes);
    },
    unmount() {
      unmounting ??= (async () => {
        await run("umount", ["--lazy", path]);
        mounted.delete(path);
        await rmdir(path);
      })();
      return unmounting;
    },
  };
}

/** Appends to `path` until the disk says ENOSPC; the bytes written. */
async function fill(path: string): Promise<number> {
  const block = Buffer.alloc(64 * 1024, 0x5a);
  const handle = await open(path, "a");
  let written = 0;
  try {
    // Bounded: a tmpfs has a size, and each pass writes at least one byte or ends.
    for (;;) {
      const { bytesWritten } = await handle.write(block, 0, block.length);
      if (bytesWritten === 0) return written;
      written += bytesWritten;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOSPC") return written;
    throw error;
  } finally {
    await handle.close();
  }
}
