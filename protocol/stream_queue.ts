/**
 * The frames that arrive inside one open request (DATA and MESSAGE frames), queued for the
 * code that consumes them, with a bound on the bytes held: past the bound the connection
 * stops reading its socket, so a slow consumer slows the sender down through TCP instead of
 * growing memory.
 */
import type { BigFsError } from "./errors.js";
import type { DataFrame } from "./frame.js";

/** A MESSAGE frame's body as a stream item. */
export interface StreamMessage {
  kind: 6;
  body: unknown;
}

/** What arrives inside an open request: chunk bytes or a control message. */
export type StreamItem = DataFrame | StreamMessage;

/** Called when the queue goes over or back under its byte bound. */
export type PressureListener = (overBound: boolean) => void;

/**
 * What an item counts against the bound: its bytes, or for a control message a flat 1 KiB,
 * so a peer cannot queue messages without limit either.
 */
function weightOf(item: StreamItem): number {
  return item.kind === 5 ? item.byteLength : 1024;
}

/** A bounded queue of stream items with an async iterator for the consumer. */
export class StreamQueue implements AsyncIterable<StreamItem> {
  readonly #bytesMax: number;
  readonly #onPressure: PressureListener;
  #items: StreamItem[] = [];
  #bufferedBytes = 0;
  #overBound = false;
  #ended = false;
  #error: BigFsError | undefined;
  #waiter: (() => void) | undefined;

  constructor(bytesMax: number, onPressure: PressureListener) {
    this.#bytesMax = bytesMax;
    this.#onPressure = onPressure;
  }

  /** Bytes queued and not yet taken (a control message counts 1 KiB). */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Adds an item; ignored once the queue has ended. */
  push(item: StreamItem): void {
    if (this.#ended) return;
    this.#items.push(item);
    this.#bufferedBytes += weightOf(item);
    if (!this.#overBound && this.#bufferedBytes > this.#bytesMax) {
      this.#overBound = true;
      this.#onPressure(true);
    }
    this.#wake();
  }

  /** No more items will come; with an error, the consumer sees it after the queued items. */
  end(error?: BigFsError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#wake();
  }

  /** Drops everything queued and releases back-pressure (the consumer has gone away). */
  discard(): void {
    this.#items = [];
    this.#bufferedBytes = 0;
    this.end();
    this.#release();
  }

  /** Waits for the next item; `undefined` once the queue has ended and is empty. */
  async next(): Promise<StreamItem | undefined> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        this.#bufferedBytes -= weightOf(item);
        if (this.#bufferedBytes <= this.#bytesMax / 2) this.#release();
        return item;
      }
      if (this.#ended) {
        if (this.#error) throw this.#error;
        return undefined;
      }
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamItem> {
    for (;;) {
      const item = await this.next();
      if (item === undefined) return;
      yield item;
    }
  }

  #release(): void {
    if (this.#overBound) {
      this.#overBound = false;
      this.#onPressure(false);
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
