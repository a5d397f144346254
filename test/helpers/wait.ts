/**
 * Waiting in tests: on a condition, with a deadline, never on a fixed sleep.
 */

/** Options for {@linkcode waitFor}. */
export interface WaitForOptions {
  /** How often to look again; default 10 ms. */
  intervalMs?: number;
  /** Says what was awaited, for the error on timeout. */
  what?: string;
}

/**
 * Resolves with the condition's first truthy result; rejects when `timeoutMs` passes first.
 * The condition may be async; an error it throws is treated as "not yet".
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  timeoutMs: number,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const result = await condition();
      if (result) return result as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const what = options.what ?? condition.toString().slice(0, 200);
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 10));
  }
}
