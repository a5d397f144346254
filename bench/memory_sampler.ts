/**
 * Peak resident memory of processes while something runs: `VmRSS` from `/proc/<pid>/status`
 * read every `intervalMs` (100 ms by default), plus once just before and once just after, so
 * even a run shorter than one interval has two samples. Linux only, like
 * {@linkcode DaemonProcess.residentBytes}.
 *
 * The bench process samples itself on its own event loop, so a sample is late when that loop
 * is busy; the RSS a late sample reads is still the process's RSS at that moment.
 */
import { readFile } from "node:fs/promises";

/** How often {@linkcode sampleResidentPeaks} reads `VmRSS` unless told otherwise. */
export const rssSampleIntervalMs = 100;

/** `VmRSS` of `pid` in bytes, or undefined when the process is gone or has no such line. */
export async function residentBytesOf(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Runs `run` while sampling the resident memory of each of `pids`; returns what `run`
 * returned and, per pid in the same order, the largest `VmRSS` seen in bytes (0 when the
 * process could not be read at all).
 */
export async function sampleResidentPeaks<T>(
  pids: readonly number[],
  run: () => Promise<T>,
  intervalMs = rssSampleIntervalMs,
): Promise<{ value: T; peakBytes: number[] }> {
  const peakBytes = pids.map(() => 0);
  const sampleAll = async () => {
    const values = await Promise.all(pids.map(residentBytesOf));
    values.forEach((bytes, index) => {
      if (bytes !== undefined && bytes > peakBytes[index]!) peakBytes[index] = bytes;
    });
  };
  await sampleAll();
  let sampling = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (sampling) {
      await new Promise<void>((resolveWait) => {
        const timer = setTimeout(resolveWait, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolveWait();
        };
      });
      if (sampling) await sampleAll();
    }
  })();
  try {
    const value = await run();
    return { value, peakBytes };
  } finally {
    sampling = false;
    wake?.();
    await loop;
    await sampleAll();
  }
}

/** Bytes as MiB, the unit memory results are reported in. */
export const toMiB = (bytes: number) => bytes / (1024 * 1024);
