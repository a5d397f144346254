/**
 * Peak resident memory of processes while something runs. Linux only, like
 * {@linkcode DaemonProcess.residentBytes}.
 *
 * Each process's peak is first reset (`echo 5 > /proc/<pid>/clear_refs`, which makes the
 * kernel's high-water mark `VmHWM` equal to the current `VmRSS`), then `VmHWM` is read every
 * `intervalMs` (100 ms by default), plus once just before and once just after. `VmHWM` only
 * grows, so the peak between two samples is not missed: the last sample holds the true peak
 * of the whole run, however short it rose. Where the reset is refused (another user's
 * process), `VmHWM` would include the process's past, so `VmRSS` is sampled instead, which
 * can miss a peak shorter than the interval.
 */
import { readFile, writeFile } from "node:fs/promises";

/** How often {@linkcode sampleResidentPeaks} reads `/proc` unless told otherwise. */
export const rssSampleIntervalMs = 100;

/** `VmRSS` and `VmHWM` of a process, in bytes. */
export interface ResidentMemory {
  residentBytes: number;
  peakBytes: number;
}

/** `VmRSS` and `VmHWM` of `pid`, or undefined when the process is gone or has none. */
export async function residentMemoryOf(pid: number): Promise<ResidentMemory | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    if (rss === null || hwm === null) return undefined;
    return { residentBytes: Number(rss[1]) * 1024, peakBytes: Number(hwm[1]) * 1024 };
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak resident memory (`VmHWM`) of `pid`; false when refused. */
export async function resetResidentPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `run` while sampling the resident memory of each of `pids`; returns what `run`
 * returned and, per pid in the same order, the peak resident memory in bytes during the run
 * (0 when the process could not be read at all).
 */
export async function sampleResidentPeaks<T>(
  pids: readonly number[],
  run: () => Promise<T>,
  intervalMs = rssSampleIntervalMs,
): Promise<{ value: T; peakBytes: number[] }> {
  const peakBytes = pids.map(() => 0);
  const hwmUsable = await Promise.all(pids.map(resetResidentPeak));
  const sampleAll = async () => {
    const values = await Promise.all(pids.map(residentMemoryOf));
    values.forEach((memory, index) => {
      if (memory === undefined) return;
      const bytes = hwmUsable[index] ? memory.peakBytes : memory.residentBytes;
      if (bytes > peakBytes[index]!) peakBytes[index] = bytes;
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
