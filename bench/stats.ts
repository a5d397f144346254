/**
 * Small statistics for benchmark samples, and the bounded worker pool the scenarios run
 * their operations with.
 */

/** The median, smallest and largest of some samples. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/**
 * The median (mean of the middle two for an even count), min and max of `samples`.
 *
 * @throws {RangeError} when there are no samples.
 */
export function spreadOf(samples: readonly number[]): Spread {
  if (samples.length === 0) throw new RangeError("Cannot summarise samples: there are none");
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** MiB per second for `bytes` moved in `durationMs`. */
export function mibPerSecond(bytes: number, durationMs: number): number {
  return bytes / (1024 * 1024) / (Math.max(durationMs, 0.001) / 1000);
}

/** Operations per second for `count` operations in `durationMs`. */
export function perSecond(count: number, durationMs: number): number {
  return count / (Math.max(durationMs, 0.001) / 1000);
}

/** Milliseconds since `startMs` (a `performance.now()` value). */
export function elapsedMs(startMs: number): number {
  return performance.now() - startMs;
}

/**
 * Runs `task(0)` … `task(count - 1)`, at most `concurrency` at once, and resolves once all
 * are done; the first failure rejects (tasks already running finish on their own).
 * `onDone` is told how many tasks have succeeded after each one does.
 */
export async function runPool(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<unknown>,
  onDone?: (done: number) => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < count && failure === undefined) {
      const index = next++;
      try {
        await task(index);
        done += 1;
        onDone?.(done);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  if (failure !== undefined) throw failure.error;
}
