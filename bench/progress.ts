/**
 * What the bench says while it runs, on stderr: on a terminal one line rewritten in place
 * (stage and progress); otherwise one plain line per stage, so logs stay readable.
 */

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** Where to write; default `process.stderr`. */
  stream?: NodeJS.WriteStream;
  /** Say nothing at all. */
  quiet?: boolean;
}

/** The progress line. */
export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #quiet: boolean;
  #stage = "";
  #lastDrawMs = 0;
  #drawn = false;

  constructor(options: ProgressOptions = {}) {
    this.#stream = options.stream ?? process.stderr;
    this.#tty = this.#stream.isTTY === true;
    this.#quiet = options.quiet ?? false;
  }

  /** Starts a stage, such as `write 2/3`. */
  stage(text: string): void {
    this.#stage = text;
    if (this.#quiet) return;
    if (this.#tty) this.#draw(text, true);
    else this.#stream.write(`bigfs-bench: ${text}\n`);
  }

  /** Shows how far the stage is: `done` of `total` (in the stage's unit). */
  update(done: number, total: number, unit = ""): void {
    if (this.#quiet || !this.#tty) return;
    const nowMs = Date.now();
    if (nowMs - this.#lastDrawMs < 100 && done < total) return;
    this.#lastDrawMs = nowMs;
    const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
    this.#draw(`${this.#stage}: ${percent}% (${done}/${total}${unit ? ` ${unit}` : ""})`, false);
  }

  /** A line that stays, such as a warning. */
  note(text: string): void {
    if (this.#quiet) return;
    this.clear();
    this.#stream.write(`bigfs-bench: ${text}\n`);
  }

  /** Removes the progress line, before the results are printed. */
  clear(): void {
    if (this.#tty && this.#drawn) this.#stream.write("\r\x1b[2K");
    this.#drawn = false;
  }

  #draw(text: string, force: boolean): void {
    if (!force && !this.#tty) return;
    const width = this.#stream.columns || 80;
    this.#stream.write(`\r\x1b[2K${text.slice(0, Math.max(10, width - 1))}`);
    this.#drawn = true;
  }
}
