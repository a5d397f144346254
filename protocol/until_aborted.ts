/**
 * {@linkcode untilAborted}: a wait that a signal can cut short, and that keeps nothing once it
 * settles.
 *
 * The obvious alternative, `Promise.race([work, stopped])` against one promise that stays
 * pending for a whole transfer, leaks: every race adds a reaction to `stopped` that keeps the
 * race's promise, and with it the value it settled with, alive until `stopped` is collected.
 * A DataNode that raced each received frame that way kept every frame of a chunk until the
 * chunk was done (64 MiB per chunk in flight). An abort listener is removed once the wait
 * settles, so nothing outlives it.
 *
 * @module
 */

/**
 * `promise`, or a rejection with the signal's reason as soon as `signal` aborts (at once when
 * it already has). The listener is removed when either settles.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
