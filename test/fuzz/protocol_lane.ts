/**
 * One lane of the protocol fuzzer: a loop of connections to a daemon's protocol port. Each
 * connection either sends bytes in place of a handshake, or completes the handshake (the
 * fuzzer knows the secret) and then sends batches of inputs, each batch ending with a PING.
 * The PING's answer proves the daemon is still serving that connection; a connection the
 * daemon closes (it should, after a broken frame) is replaced by a new one.
 *
 * The daemon fails the lane when it leaves a PING on an open connection unanswered past the
 * deadline, keeps a connection open after the peer hung up, or sends a frame that does not
 * decode.
 */
import { connect, type Socket } from "node:net";
import {
  encodeControlFrame,
  type Frame,
  FrameDecoder,
  FrameKind,
  initiateHandshake,
  Messages,
} from "#protocol";
import {
  acceptableFrame,
  brokenFrame,
  type Emphasis,
  endsMidFrame,
  handshakeInput,
  RequestIds,
} from "./frame_inputs.js";
import type { FuzzCounts } from "./fuzz_counts.js";
import type { RequestContext } from "./request_bodies.js";
import type { SeededRandom } from "./seeded_random.js";

/** Options for {@linkcode ProtocolLane}. */
export interface ProtocolLaneOptions {
  address: { host: string; port: number };
  secret: Uint8Array;
  context: RequestContext;
  emphasis: Emphasis;
  /** Longest wait for a PING's answer, or for the daemon to close after we hung up. */
  deadlineMs: number;
  /** Bytes of one genuine handshake, to replay on new connections. */
  replay?: Buffer;
  /** Share of connections that send bytes in place of a handshake; default 0.12. */
  handshakeShare?: number;
}

/** A failure the daemon caused, with what was sent last. */
export class FuzzFailure extends Error {
  override readonly name = "FuzzFailure";
}

const batchesPerConnectionMax = 40;
const framesPerBatchMax = 32;
const handshakeInputsAtOnce = 8;

/** Sends fuzz inputs over one connection at a time. */
export class ProtocolLane {
  readonly #random: SeededRandom;
  readonly #options: ProtocolLaneOptions;
  readonly #counts: FuzzCounts;
  /** What the last batch sent, for the failure report. */
  #lastSent: Buffer = Buffer.alloc(0);

  constructor(random: SeededRandom, options: ProtocolLaneOptions, counts: FuzzCounts) {
    this.#random = random;
    this.#options = options;
    this.#counts = counts;
  }

  /** Runs one connection from connect to close (a handshake-only lane: several at once). */
  async runConnection(shouldStop: () => boolean): Promise<void> {
    const random = this.#random;
    if ((this.#options.handshakeShare ?? 0.12) >= 1) {
      // One input per connection, each waiting on a busy daemon: overlap them.
      const inputs = Array.from({ length: handshakeInputsAtOnce }, () =>
        handshakeInput(random, this.#options.replay),
      );
      await Promise.all(inputs.map((bytes) => this.#sendInsteadOfHandshake(bytes)));
      return;
    }
    if (random.chance(this.#options.handshakeShare ?? 0.12)) {
      await this.#sendInsteadOfHandshake(handshakeInput(random, this.#options.replay));
      return;
    }
    const socket = await openSocket(this.#options.address);
    try {
      this.#counts.connections++;
      const role = random.pick(["client", "datanode", "namenode"] as const);
      const { leftover } = await initiateHandshake(socket, {
        secret: this.#options.secret,
        role,
        timeoutMs: this.#options.deadlineMs,
      });
      await this.#serveBatches(socket, leftover, shouldStop);
    } finally {
      socket.destroy();
    }
  }

  async #sendInsteadOfHandshake(bytes: Buffer): Promise<void> {
    const socket = await openSocket(this.#options.address);
    try {
      this.#counts.connections++;
      this.#lastSent = bytes;
      socket.write(bytes);
      this.#counts.inputs++;
      this.#counts.handshakeInputs++;
      await this.#hangUp(socket);
    } finally {
      socket.destroy();
    }
  }

  async #serveBatches(socket: Socket, leftover: Uint8Array[], shouldStop: () => boolean) {
    const random = this.#random;
    const ids = new RequestIds();
    const answered = new Set<number>();
    const decoder = new FrameDecoder();
    let wake: (() => void) | undefined;
    let badFrame: string | undefined;
    const onBytes = (bytes: Uint8Array) => {
      const { frames, error } = decoder.push(bytes);
      for (const frame of frames) this.#noteFrame(frame, answered);
      if (error && badFrame === undefined) badFrame = error.message;
      wake?.();
    };
    for (const bytes of leftover) onBytes(bytes);
    socket.on("data", onBytes);
    let closed = socket.destroyed;
    socket.once("close", () => {
      closed = true;
      wake?.();
    });
    socket.resume();

    const batches = 1 + random.below(batchesPerConnectionMax);
    for (let batch = 0; batch < batches && !closed && !shouldStop(); batch++) {
      const frames: Buffer[] = [];
      const count = 1 + random.below(framesPerBatchMax);
      for (let index = 0; index < count; index++) {
        frames.push(...acceptableFrame(random, this.#options.context, ids, this.#options.emphasis));
      }
      const broken = random.chance(0.3);
      if (broken) {
        frames.push(brokenFrame(random, this.#options.context, ids, this.#options.emphasis));
      }
      const sentinel = ids.take();
      const inputs = Buffer.concat(frames);
      this.#lastSent = inputs;
      this.#counts.inputs += frames.length;
      if (broken) this.#counts.brokenFrames++;
      if (endsMidFrame(inputs)) {
        socket.write(inputs);
        await this.#hangUp(socket);
        return;
      }
      socket.write(
        Buffer.concat([
          inputs,
          encodeControlFrame(FrameKind.REQUEST, Messages.PING.opcode, sentinel, {}),
        ]),
      );
      const deadline = Date.now() + this.#options.deadlineMs;
      while (!answered.has(sentinel) && !closed && badFrame === undefined) {
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) {
          throw this.failure(
            `the daemon left a PING unanswered for ${this.#options.deadlineMs} ms`,
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remainingMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      wake = undefined;
      if (badFrame !== undefined) throw this.failure(`the daemon sent a bad frame: ${badFrame}`);
      if (answered.has(sentinel)) this.#counts.pingsAnswered++;
    }
    if (closed) {
      this.#counts.closedByDaemon++;
      return;
    }
    await this.#hangUp(socket);
  }

  #noteFrame(frame: Frame, answered: Set<number>): void {
    if (frame.kind === FrameKind.RESPONSE) {
      answered.add(frame.requestId);
      this.#counts.responses++;
    } else if (frame.kind === FrameKind.ERROR) {
      answered.add(frame.requestId);
      this.#counts.errorCodes[frame.code] = (this.#counts.errorCodes[frame.code] ?? 0) + 1;
    }
  }

  /** Ends our side; the daemon must close its side within the deadline. */
  async #hangUp(socket: Socket): Promise<void> {
    socket.resume();
    socket.end();
    if (socket.destroyed) return;
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.#options.deadlineMs);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!closed) {
      throw this.failure(
        `the daemon kept a connection open ${this.#options.deadlineMs} ms after the peer hung up`,
      );
    }
  }

  /** A failure naming what this lane sent last. */
  failure(reason: string): FuzzFailure {
    const shown = this.#lastSent.subarray(0, 2048).toString("hex");
    return new FuzzFailure(
      `${reason}; the last bytes sent (${this.#lastSent.byteLength}, first 2 KiB in hex): ${shown}`,
    );
  }
}

function openSocket(address: { host: string; port: number }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.host, port: address.port, noDelay: true });
    socket.once("connect", () => {
      // The daemon hangs up on most of what we send: resets and broken pipes are expected.
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", reject);
  });
}
