/**
 * Safe mode: after start-up the NameNode serves reads but refuses changes until enough chunks
 * have a replica reported by a DataNode, because until then it cannot tell a chunk that is
 * merely not reported yet from one that is lost, and must not act on either (no deletes, no
 * re-replication, no lease recovery). It leaves safe mode by itself and says so.
 */
import { BigFsError, type Logger } from "#protocol";

/** Options for {@linkcode SafeMode}. */
export interface SafeModeOptions {
  /** Fraction of chunks (0–1) that need a reported replica; 0.999 by default. */
  threshold?: number;
  logger: Logger;
}

/** Whether the NameNode is still waiting for DataNode reports. */
export class SafeMode {
  readonly #threshold: number;
  readonly #logger: Logger;
  #active = true;
  #reported = 0;
  #total = 0;

  constructor(options: SafeModeOptions) {
    this.#threshold = options.threshold ?? 0.999;
    this.#logger = options.logger;
  }

  /** True while changes are refused. */
  get active(): boolean {
    return this.#active;
  }

  /** Throws `SAFE_MODE` while active; `action` names what was refused. */
  check(action: string): void {
    if (!this.#active) return;
    throw new BigFsError(
      "SAFE_MODE",
      `Cannot ${action}: the NameNode is in safe mode (${this.#reported} of ${this.#total} chunks reported, waiting for ${(this.#threshold * 100).toFixed(1)}%)`,
    );
  }

  /** Leaves safe mode once `reported / total` reaches the threshold (at once with no chunks). */
  update(reported: number, total: number): void {
    this.#reported = reported;
    this.#total = total;
    if (!this.#active) return;
    if (total === 0 || reported / total >= this.#threshold) {
      this.#active = false;
      this.#logger.info({ reportedChunks: reported, chunks: total }, "left safe mode");
    }
  }
}
