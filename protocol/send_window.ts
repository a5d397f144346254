/**
 * A data stream's send window: how many of its bytes may be on their way, sent and not yet
 * acknowledged by the receiver, before the sender waits for an acknowledgement.
 *
 * Why: many streams share one connection (a DataNode forwards every pipeline through a
 * second DataNode over one pooled connection), and a receiver stops reading the whole socket
 * when one stream's queue passes `streamBufferBytesMax` (`connection.ts`). Without a window a
 * stream whose consumer waits (its downstream DataNode is slow) fills its queue and stops
 * every other stream on that connection behind it; pipelines that cross through the same
 * DataNodes in different orders then wait on each other in a ring, and stay stuck until a
 * timeout fails them all: `bigfs-bench write` with 32 streams of 256 MiB did. A sender
 * that keeps at most the window unacknowledged, smaller than the receiver's queue bound, never
 * fills a queue: no stream stops another. HTTP/2 bounds its streams the same way
 * (`WINDOW_UPDATE`); here the acknowledgements are the write pipeline's `{ ackedBytes }`.
 *
 * The window also bounds what one stream holds in each process it crosses, and the receiver
 * sets it: a DataNode shares a budget among its writes and tells each sender its part with
 * every acknowledgement (`windowBytes`), so its memory stays bounded however many streams
 * come. Until the first acknowledgement, a stream may have {@linkcode sendWindowStartBytes}
 * unacknowledged: many streams that start at once cannot overrun the budget first.
 *
 * @module
 */
import { BigFsError } from "./errors.js";
import type { StreamItem } from "./stream_queue.js";

/** The most a stream may have unacknowledged: half a receiver's default queue bound. */
export const sendWindowBytesDefault = 4 * 1024 * 1024;
/** What a stream may have unacknowledged before the receiver says how much it takes. */
export const sendWindowStartBytes = 1024 * 1024;

/** The send window of one stream, for its one sender. */
export class SendWindow {
  /** The most {@linkcode SendWindow.resize} may set. */
  readonly ceilingBytes: number;
  #bytesMax: number;
  #sentBytes = 0;
  #ackedBytes = 0;
  #failure: unknown;
  #waiter: { bytes: number; resolve: () => void; reject: (reason: unknown) => void } | undefined;

  /** A window of `bytesMax`, which the receiver may move up to `ceilingBytes`. */
  constructor(bytesMax = sendWindowStartBytes, ceilingBytes = sendWindowBytesDefault) {
    for (const value of [bytesMax, ceilingBytes]) {
      if (!(Number.isSafeInteger(value) && value > 0)) {
        throw new RangeError(`Cannot use a send window of ${value} bytes: it must be positive`);
      }
    }
    this.ceilingBytes = ceilingBytes;
    this.#bytesMax = Math.min(bytesMax, ceilingBytes);
  }

  /** Most bytes unacknowledged at once (a larger single frame may go when none is). */
  get bytesMax(): number {
    return this.#bytesMax;
  }

  /**
   * The receiver says how much it takes: the window becomes `bytesMax` (at most the ceiling,
   * at least 1). Bytes already sent stay sent; a smaller window only holds the next ones back.
   */
  resize(bytesMax: number): void {
    if (!(Number.isFinite(bytesMax) && bytesMax >= 0)) return;
    this.#bytesMax = Math.max(1, Math.min(Math.floor(bytesMax), this.ceilingBytes));
    this.#wakeIfRoom();
  }

  /** Bytes the receiver has acknowledged so far. */
  get acknowledgedBytes(): number {
    return this.#ackedBytes;
  }

  /** Bytes sent and not yet acknowledged. */
  get unacknowledgedBytes(): number {
    return this.#sentBytes - this.#ackedBytes;
  }

  /** True when `bytes` more may be sent now: they fit, or nothing is unacknowledged. */
  fits(bytes: number): boolean {
    const unacknowledged = this.unacknowledgedBytes;
    return unacknowledged <= 0 || unacknowledged + bytes <= this.#bytesMax;
  }

  /**
   * Resolves once `bytes` more may be sent ({@linkcode SendWindow.fits}); rejects with the
   * reason given to {@linkcode SendWindow.fail}. One wait at a time: a stream has one sender.
   */
  room(bytes: number): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.fits(bytes)) return Promise.resolve();
    if (this.#waiter !== undefined) {
      return Promise.reject(new BigFsError("INTERNAL", "Bug: two waits on one send window"));
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { bytes, resolve, reject };
    });
  }

  /** Counts `bytes` sent. */
  sent(bytes: number): void {
    this.#sentBytes += bytes;
  }

  /**
   * The receiver acknowledged the stream's first `ackedBytes` bytes (a running total); true
   * when that is more than it had acknowledged before.
   */
  acknowledged(ackedBytes: number): boolean {
    if (ackedBytes <= this.#ackedBytes) return false;
    this.#ackedBytes = ackedBytes;
    this.#wakeIfRoom();
    return true;
  }

  #wakeIfRoom(): void {
    const waiter = this.#waiter;
    if (waiter !== undefined && this.fits(waiter.bytes)) {
      this.#waiter = undefined;
      waiter.resolve();
    }
  }

  /** The stream failed: a wait under way, and every later one, rejects with `reason`. */
  fail(reason: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = reason;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(reason);
  }
}

/**
 * Feeds a write's `{ ackedBytes, windowBytes }` messages into `window` until its stream ends
 * (or fails: the response says how). `onMessage` is told of every message (progress, for a
 * stall watch), `onAck` of every new acknowledged total.
 */
export async function followAcks(
  items: AsyncIterable<StreamItem>,
  window: SendWindow,
  handlers: { onMessage?: () => void; onAck?: (ackedBytes: number) => void } = {},
): Promise<void> {
  try {
    for await (const item of items) {
      if (item.kind !== 6) continue;
      handlers.onMessage?.();
      const { ackedBytes, windowBytes } = item.body as {
        ackedBytes?: unknown;
        windowBytes?: unknown;
      };
      if (typeof windowBytes === "number") window.resize(windowBytes);
      if (typeof ackedBytes === "number" && window.acknowledged(ackedBytes)) {
        handlers.onAck?.(ackedBytes);
      }
    }
  } catch {
    // The request failed; its response says how.
  }
}
