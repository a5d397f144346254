/**
 * Buffers a dialled socket reads into, reused once nothing points into them any more.
 *
 * Why: a socket that lets Node allocate its read buffers gets a fresh ArrayBuffer of up to
 * 64 KiB for every read. A download at 500 MiB/s makes thousands a second, and V8 counts their
 * bytes against the heap: a 1 GiB `get` ran 31 full mark-compacts, and garbage collection took
 * about a sixth of the client's CPU. With Node's `onread` option the socket reads instead into
 * slabs of 1 MiB that we hand it, each read (at most 256 KiB) into the free rest of the current
 * slab; the bytes are passed on as views, uncopied, as before.
 *
 * A slab goes back to the pool only when all three hold:
 * 1. the socket reads into a newer slab;
 * 2. the frame decoder holds none of its bytes (the start of a frame still arriving);
 * 3. every DATA frame with bytes in it was released ({@linkcode DataFrame.release}) by its
 *    consumer, once it no longer reads them.
 * A consumer that never releases a frame (most do not: only a download writing frames to a
 * file does) only keeps that slab from being reused: it is left to the garbage collector.
 * Nothing else may point into a slab, so the handshake reads copies of its bytes and control
 * frames are decoded from a copy (`FrameDecoderOptions.copyControlPayloads`).
 *
 * @module
 */
import type { Socket } from "node:net";
import type { DataFrame } from "./frame.js";

/** Bytes in one slab. */
export const slabBytesDefault = 1024 * 1024;
/** A slab with less room than this left is retired: a read wants room for a TCP window's worth. */
const readRoomMin = 64 * 1024;
/**
 * Most bytes one read takes. A socket paused because its stream queue is full has read one
 * read too many (Node's own reads take 64 KiB): this keeps that overshoot at 256 KiB.
 */
export const readBytesMax = 256 * 1024;
/** Free slabs kept for reuse, at most. */
const keptSlabsMax = 16;

/** One slab and what still points into it. */
class Slab {
  readonly bytes: Buffer;
  /** Unreleased DATA frames with bytes in this slab. */
  frames = 0;
  /** Bytes the socket has read into it. */
  used = 0;
  /** True once the socket reads into a newer slab. */
  retired = false;
  /** True while the decoder holds bytes of it. */
  inDecoder = false;

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  get reusable(): boolean {
    return this.retired && !this.inDecoder && this.frames === 0;
  }
}

/** Free slabs, shared by the connections given it (a BigFS client process shares one). */
export class ReceiveBuffers {
  readonly slabBytes: number;
  readonly #free: Buffer[] = [];
  #reused = 0;
  #allocated = 0;

  constructor(slabBytes = slabBytesDefault) {
    if (!(Number.isInteger(slabBytes) && slabBytes >= 2 * readRoomMin)) {
      throw new RangeError(`Cannot use receive slabs of ${slabBytes} bytes: at least 128 KiB`);
    }
    this.slabBytes = slabBytes;
  }

  /** Slabs handed out again after their reuse, and slabs allocated, so far. */
  get counts(): { reused: number; allocated: number } {
    return { reused: this.#reused, allocated: this.#allocated };
  }

  /** A receiver for one socket, to pass as `net.connect`'s `onread` via {@linkcode SocketReceiver.onread}. */
  receiver(): SocketReceiver {
    return new SocketReceiver(this);
  }

  /** @internal */
  take(): Slab {
    const bytes = this.#free.pop();
    if (bytes !== undefined) {
      this.#reused++;
      return new Slab(bytes);
    }
    this.#allocated++;
    return new Slab(Buffer.allocUnsafeSlow(this.slabBytes));
  }

  /** @internal */
  give(slab: Slab): void {
    if (this.#free.length < keptSlabsMax) this.#free.push(slab.bytes);
  }
}

/**
 * Reads one socket into slabs and emits what it read as the socket's `data` events: copies
 * until {@linkcode SocketReceiver.shareViews} (the handshake keeps what it reads), views after.
 */
export class SocketReceiver {
  readonly #buffers: ReceiveBuffers;
  #current: Slab;
  /** Retired slabs the decoder may still hold bytes of. */
  #held: Slab[] = [];
  #socket: Socket | undefined;
  #sharing = false;

  constructor(buffers: ReceiveBuffers) {
    this.#buffers = buffers;
    this.#current = buffers.take();
  }

  /** The `onread` option for `net.connect`; then call {@linkcode SocketReceiver.attach}. */
  get onread(): {
    buffer: () => Uint8Array;
    callback: (bytes: number, buffer: Uint8Array) => boolean;
  } {
    return {
      buffer: () => this.#nextBuffer(),
      callback: (bytes, buffer) => this.#onRead(bytes, buffer),
    };
  }

  /** The socket whose `data` events this emits. */
  attach(socket: Socket): void {
    this.#socket = socket;
  }

  /** From now on `data` events are views of the slabs: the connection releases them. */
  shareViews(): void {
    this.#sharing = true;
  }

  /**
   * Counts `frame` against the slabs its bytes sit in and returns its release: idempotent,
   * to call once the frame's consumer no longer reads its bytes.
   */
  hold(frame: DataFrame): () => void {
    const slabs: Slab[] = [];
    for (const part of frame.parts) {
      const slab = this.#slabOf(part);
      if (slab !== undefined && !slabs.includes(slab)) {
        slab.frames++;
        slabs.push(slab);
      }
    }
    let released = slabs.length === 0;
    return () => {
      if (released) return;
      released = true;
      for (const slab of slabs) {
        slab.frames--;
        if (slab.reusable) this.#buffers.give(slab);
      }
    };
  }

  /** Told, after each decode, which bytes the decoder still holds (a frame still arriving). */
  decoderHolds(pieces: readonly Uint8Array[]): void {
    const current = this.#current;
    current.inDecoder = false;
    for (const slab of this.#held) slab.inDecoder = false;
    for (const piece of pieces) {
      const slab = this.#slabOf(piece);
      if (slab !== undefined) slab.inDecoder = true;
    }
    const stillHeld: Slab[] = [];
    for (const slab of this.#held) {
      if (slab.inDecoder) stillHeld.push(slab);
      else if (slab.reusable) this.#buffers.give(slab);
    }
    this.#held = stillHeld;
  }

  #slabOf(view: Uint8Array): Slab | undefined {
    if (view.buffer === this.#current.bytes.buffer) return this.#current;
    return this.#held.find((slab) => slab.bytes.buffer === view.buffer);
  }

  #nextBuffer(): Uint8Array {
    let slab = this.#current;
    if (slab.bytes.byteLength - slab.used < readRoomMin) {
      slab.retired = true;
      if (slab.inDecoder) this.#held.push(slab);
      else if (slab.reusable) this.#buffers.give(slab);
      slab = this.#buffers.take();
      this.#current = slab;
    }
    return slab.bytes.subarray(slab.used, slab.used + readBytesMax);
  }

  #onRead(bytes: number, buffer: Uint8Array): boolean {
    const view = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
    const slab = this.#current;
    if (buffer.buffer === slab.bytes.buffer) {
      slab.used = buffer.byteOffset - slab.bytes.byteOffset + bytes;
      this.#socket?.emit("data", this.#sharing ? view : Buffer.from(view));
    } else {
      // Not the buffer #nextBuffer handed out (never expected): pass a copy, count nothing.
      this.#socket?.emit("data", Buffer.from(view));
    }
    return true;
  }
}
