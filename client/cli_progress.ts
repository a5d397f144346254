/**
 * The progress bar `bigfs put` and `get` draw on stderr when it is a terminal: bytes done,
 * rate and ETA, redrawn in place at most ten times a second. When stderr is not a terminal
 * nothing is drawn at all, so logs and pipes stay clean.
 */
import { humanSize } from "./cli_output.js";

/** Where a progress bar draws: a terminal stream. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const redrawEveryMs = 100;
const barWidthMax = 30;
// The rate is averaged over this window, so it follows the transfer without jitter.
const rateWindowMs = 3_000;

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m${Math.ceil(seconds % 60)}s`;
  return `${Math.floor(seconds / 3_600)}h${Math.floor((seconds % 3_600) / 60)}m`;
}

/** A progress bar, or a silent stand-in when the stream is not a terminal. */
export class ProgressBar {
  readonly #stream: ProgressStream;
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #now: () => number;
  readonly #startedMs: number;
  #totalBytes: number | undefined;
  #doneBytes = 0;
  #drawnMs = 0;
  #samples: { timeMs: number; bytes: number }[] = [];
  #drawn = false;

  /** `totalBytes` may be unknown (stdin) and given later through {@linkcode update}. */
  constructor(stream: ProgressStream, label: string, totalBytes?: number, now = Date.now) {
    this.#stream = stream;
    this.#label = label;
    this.#enabled = stream.isTTY === true;
    this.#totalBytes = totalBytes;
    this.#now = now;
    this.#startedMs = now();
    this.#samples.push({ timeMs: this.#startedMs, bytes: 0 });
  }

  /** Records progress; redraws when the last drawing is old enough. */
  update(doneBytes: number, totalBytes?: number): void {
    this.#doneBytes = doneBytes;
    if (totalBytes !== undefined) this.#totalBytes = totalBytes;
    if (!this.#enabled) return;
    const nowMs = this.#now();
    if (nowMs - this.#drawnMs < redrawEveryMs) return;
    this.#drawnMs = nowMs;
    this.#samples.push({ timeMs: nowMs, bytes: doneBytes });
    while (this.#samples.length > 2 && nowMs - this.#samples[0]!.timeMs > rateWindowMs) {
      this.#samples.shift();
    }
    this.#draw(nowMs, false);
  }

  /** Draws the final state and moves to a new line; or wipes the bar when `ok` is false. */
  finish(ok: boolean): void {
    if (!this.#enabled) return;
    if (ok) {
      this.#draw(this.#now(), true);
      this.#stream.write("\n");
    } else if (this.#drawn) {
      this.#stream.write("\r\x1b[2K");
    }
  }

  /** The terminal's width; some pseudo-terminals report 0. */
  #columns(): number {
    const columns = this.#stream.columns ?? 0;
    return columns >= 20 ? columns : 80;
  }

  #draw(nowMs: number, final: boolean): void {
    const oldest = final ? { timeMs: this.#startedMs, bytes: 0 } : this.#samples[0]!;
    const elapsedS = Math.max(0.001, (nowMs - oldest.timeMs) / 1_000);
    const rate = (this.#doneBytes - oldest.bytes) / elapsedS;
    const total = this.#totalBytes;
    const done = humanSize(this.#doneBytes);
    const rateText = `${humanSize(Math.max(0, Math.round(rate)))}/s`;
    let text: string;
    if (total === undefined || total === 0) {
      const took = final ? `  in ${formatEta((nowMs - this.#startedMs) / 1_000)}` : "";
      text = `${this.#label}  ${done}  ${rateText}${took}`;
    } else {
      const fraction = Math.min(1, this.#doneBytes / total);
      const columns = this.#columns();
      const tail = ` ${Math.floor(fraction * 100)}%  ${done} / ${humanSize(total)}  ${rateText}  ${
        final
          ? `in ${formatEta((nowMs - this.#startedMs) / 1_000)}`
          : `ETA ${formatEta((total - this.#doneBytes) / rate)}`
      }`;
      const width = Math.max(
        5,
        Math.min(barWidthMax, columns - this.#label.length - tail.length - 5),
      );
      const filled = Math.round(fraction * width);
      text = `${this.#label} [${"#".repeat(filled)}${"-".repeat(width - filled)}]${tail}`;
    }
    this.#stream.write(`\r\x1b[2K${text.slice(0, Math.max(10, this.#columns() - 1))}`);
    this.#drawn = true;
  }
}
