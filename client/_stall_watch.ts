/**
 * Fires once when a transfer makes no progress for `timeoutMs`. A chunk transfer gets no
 * overall deadline (a big chunk on a slow link may rightly take minutes); what counts is that
 * bytes keep moving, as HDFS's socket timeouts judge a pipeline.
 */
export class StallWatch {
  readonly #timer: NodeJS.Timeout | undefined;

  /** Starts watching; `onStall` runs once, after `timeoutMs` without {@linkcode touch}. */
  constructor(timeoutMs: number, onStall: () => void) {
    this.#timer = timeoutMs > 0 ? setTimeout(onStall, timeoutMs) : undefined;
  }

  /** Progress was made: the deadline starts over. */
  touch(): void {
    this.#timer?.refresh();
  }

  /** The transfer is over. */
  stop(): void {
    clearTimeout(this.#timer);
  }
}
