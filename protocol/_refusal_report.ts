/**
 * Rate-limited reporting of sockets a server refused over its bounds: a flood of thousands
 * of sockets must become a few log lines, yet no refusal may go uncounted.
 */

/** Sockets closed at accept because a bound was reached, since the previous report. */
export interface RefusedConnections {
  /** Refused because `handshakesMax` handshakes were running. */
  overHandshakesMax: number;
  /** Refused because `connectionsMax` sockets were open. */
  overConnectionsMax: number;
}

/**
 * Counts refused sockets and reports them: the first refusal at once, then at most one report
 * per interval with what was refused in it, and nothing once a quiet interval passes.
 */
export class RefusalReport {
  readonly #intervalMs: number;
  readonly #report: ((refused: RefusedConnections) => void) | undefined;
  #counts: RefusedConnections = { overHandshakesMax: 0, overConnectionsMax: 0 };
  #timer: NodeJS.Timeout | undefined;

  /** `report` is called at most once per `intervalMs`. */
  constructor(intervalMs: number, report: ((refused: RefusedConnections) => void) | undefined) {
    this.#intervalMs = intervalMs;
    this.#report = report;
  }

  /** Counts one refused socket. */
  count(bound: keyof RefusedConnections): void {
    this.#counts[bound]++;
    if (this.#timer === undefined) this.#flush();
  }

  /** Drops the pending report; for a server that is closing. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #flush(): void {
    const counts = this.#counts;
    if (counts.overHandshakesMax + counts.overConnectionsMax === 0) {
      this.#timer = undefined;
      return;
    }
    this.#counts = { overHandshakesMax: 0, overConnectionsMax: 0 };
    this.#report?.(counts);
    this.#timer = setTimeout(() => this.#flush(), this.#intervalMs);
    this.#timer.unref();
  }
}
