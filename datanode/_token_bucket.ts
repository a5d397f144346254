/**
 * A token bucket that paces background I/O to a rate in bytes per second.
 *
 * Taking bytes may leave the bucket in debt; the taker then sleeps until the debt is paid, so
 * pieces larger than the burst still pass, and the average rate holds over any long run.
 * Sleeps use unref'd timers unless asked otherwise: a background scrub never keeps the process
 * alive, while a pass that a caller awaits does.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Paces takers to `bytesPerSecond`, allowing a burst of `burstBytes` after a rest. */
export class TokenBucket {
  readonly #bytesPerSecond: number;
  readonly #burstBytes: number;
  #tokens: number;
  #refilledMs = performance.now();

  constructor(bytesPerSecond: number, burstBytes: number) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new RangeError(`Cannot pace I/O: bytesPerSecond ${bytesPerSecond} is not positive`);
    }
    this.#bytesPerSecond = bytesPerSecond;
    this.#burstBytes = Math.max(0, burstBytes);
    this.#tokens = this.#burstBytes;
  }

  /**
   * Takes `bytes`, sleeping as long as the rate needs; rejects when `signal` aborts. `ref`
   * says whether the sleep keeps the process alive.
   */
  async take(bytes: number, signal: AbortSignal, ref = false): Promise<void> {
    signal.throwIfAborted();
    const nowMs = performance.now();
    const earned = ((nowMs - this.#refilledMs) / 1000) * this.#bytesPerSecond;
    this.#tokens = Math.min(this.#burstBytes, this.#tokens + earned) - bytes;
    this.#refilledMs = nowMs;
    if (this.#tokens >= 0) return;
    const waitMs = Math.ceil((-this.#tokens / this.#bytesPerSecond) * 1000);
    await sleep(waitMs, undefined, { ref, signal });
  }
}
