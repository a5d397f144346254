/**
 * A BigFS connection: frames over an authenticated socket, with requests and responses
 * matched by id, many requests in flight, per-request deadlines, streams of chunk data inside
 * a request in either direction, one-way pushes, and backpressure everywhere.
 *
 * Request ids: the side that opened the TCP connection numbers its requests with odd ids, the
 * side that accepted it with even ids, so both sides can send requests on one connection and
 * a DATA or MESSAGE frame always says whose request it belongs to.
 *
 * Bounds: at most `inFlightMax` of our requests are open at once (more wait their turn); at
 * most `incomingInFlightMax` of the peer's run at once (more are answered `BUSY`); at most
 * `streamBufferBytesMax` bytes wait in one stream before the socket stops being read; a write
 * that the socket cannot take yet (`write()` returned false) waits for `drain`. Stopping the
 * socket stops every stream on it, so a data stream's sender keeps within a send window
 * smaller than that bound (`send_window.ts`) and a full stream is only ever a misbehaving
 * peer's.
 *
 * A frame must not stall halfway: once part of a frame has arrived, more of it must follow
 * within `frameTimeoutMs`, or the connection is closed with `PROTOCOL`. The deadline restarts
 * with every piece that arrives, so a 16 MiB frame over a slow link is fine as long as it
 * keeps moving; only a peer that stops mid-frame (holding a buffer and a slot here) is cut
 * off. Time while we ourselves stopped reading (backpressure) does not count. Between frames
 * there is no deadline here; `idleTimeoutMs` covers that.
 *
 * Writes are batched: the first write in a turn of the event loop corks the socket and the
 * end of the turn (`process.nextTick`, after every promise reaction queued in it) uncorks
 * it, so the responses to a group commit's batch, or the requests a client pipelines, leave
 * in one `writev` per connection instead of one system call each.
 */
import type { Socket } from "node:net";
import { type ByteParts, bytePartsLength } from "./byte_parts.js";
import { BigFsError, isBigFsError } from "./errors.js";
import {
  type ControlFrame,
  type DataFrame,
  type ErrorFrame,
  encodeCancelFrame,
  encodeControlFrame,
  encodeDataFrameHeader,
  encodeErrorFrame,
  type Frame,
  FrameKind,
} from "./frame.js";
import { FrameDecoder } from "./frame_decoder.js";
import {
  type MessageName,
  Messages,
  opcodeEntry,
  Pushes,
  type PushName,
  type PushOf,
  type RequestOf,
  type ResponseOf,
  type StreamMessageOf,
} from "./messages.js";
import type { SocketReceiver } from "./receive_buffers.js";
import { StreamQueue } from "./stream_queue.js";

/** Chunk bytes to send in one DATA frame. */
export interface DataToSend {
  chunkId: bigint;
  offset: bigint;
  /** The bytes: one view, or several sent in order as one frame (a received frame's parts). */
  bytes: ByteParts;
  /** xxh64 of `bytes`, computed by the caller (who usually has it already). */
  xxh64: bigint;
  /** True on the last frame of the stream. */
  end?: boolean;
  /**
   * Called once the socket has handed `bytes` to the kernel, so the caller may reuse their
   * buffer. Never called when the frame is not written (the connection closed first): the
   * buffer is then left to the garbage collector.
   */
  onWritten?: () => void;
}

/** A request the peer sent us, as a handler sees it. */
export interface IncomingRequest<N extends MessageName = MessageName> {
  readonly name: N;
  readonly body: RequestOf<N>;
  /** Aborted when the peer cancels the request or the connection closes. */
  readonly signal: AbortSignal;
  /** DATA and MESSAGE frames the peer sends inside this request. */
  readonly items: StreamQueue;
  /** The peer's address, for logs. */
  readonly remote: string;
  /** Sends chunk bytes to the requester; waits while the socket is full. */
  sendData(data: DataToSend): Promise<void>;
  /** Sends a message inside the request (such as a pipeline ack). */
  sendMessage(body: StreamMessageOf<N>): Promise<void>;
}

/** Serves the peer's requests: returns the response body, or throws a `BigFsError`. */
export type RequestHandler = (request: IncomingRequest) => Promise<unknown>;

/** Receives the peer's pushes. */
export type PushHandler = (name: PushName, body: unknown) => void;

/** Options for {@linkcode Connection}. */
export interface ConnectionOptions {
  /** True on the side that opened the TCP connection (it numbers requests with odd ids). */
  initiator: boolean;
  /** The peer, for messages: `"namenode 127.0.0.1:9000"`. Default: the socket's address. */
  remote?: string;
  /** Serves the peer's requests; without one, every request is refused. */
  handler?: RequestHandler;
  /** Receives the peer's pushes. */
  onPush?: PushHandler;
  /** Deadline of a request when the caller gives none; default 30 s. */
  requestTimeoutMs?: number;
  /** Our requests open at once; default 64. */
  inFlightMax?: number;
  /** The peer's requests served at once; default 64. */
  incomingInFlightMax?: number;
  /** Bytes queued in one stream before reading stops; default 8 MiB. */
  streamBufferBytesMax?: number;
  /** Close after this long with no traffic and nothing in flight; 0 (default) never. */
  idleTimeoutMs?: number;
  /** Largest frame payload accepted; default 16 MiB. */
  payloadBytesMax?: number;
  /** Longest wait for more of a partly received frame; 0 for none. Default 30 s. */
  frameTimeoutMs?: number;
  /** Bytes that arrived with the handshake and belong to the first frames. */
  leftover?: Uint8Array[];
  /** Told the payload bytes of every DATA frame received or sent, for metrics. */
  onDataBytes?: (direction: "received" | "sent", bytes: number) => void;
  /**
   * The socket reads into reused buffers (`receive_buffers.ts`, set up by `dial`): DATA
   * frames then carry a `release`, and control frames are decoded from copies.
   */
  receiver?: SocketReceiver;
}

/** Options for one request. */
export interface RequestOptions {
  /** Deadline in milliseconds; 0 for none. Default: the connection's. */
  timeoutMs?: number;
  /** Aborting it cancels the request. */
  signal?: AbortSignal;
}

interface PendingRequest {
  name: MessageName;
  opcode: number;
  resolve: (body: unknown) => void;
  reject: (error: BigFsError) => void;
  /** Only for a request opened with `open`: `request` takes no stream, and most take none. */
  items: StreamQueue | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The caller's signal and our listener on it, removed when the request settles. */
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * A request the peer sent us, while it runs: what its handler sees, and its state here. One
 * object per request, and its stream and AbortController are made only when asked for: most
 * requests are small, never use either, and each was a measurable part of their cost.
 */
class RunningRequest implements IncomingRequest {
  readonly name: MessageName;
  readonly body: RequestOf<MessageName>;
  readonly #connection: Connection;
  readonly #requestId: number;
  readonly #opcode: number;
  #controller: AbortController | undefined;
  /** Set when the request was cancelled or the connection closed. */
  abortReason: BigFsError | undefined;
  #items: StreamQueue | undefined;
  /** Set once the handler is done: a stream asked for later is made ended. */
  #done = false;

  constructor(
    connection: Connection,
    name: MessageName,
    body: unknown,
    requestId: number,
    opcode: number,
  ) {
    this.#connection = connection;
    this.name = name;
    this.body = body as RequestOf<MessageName>;
    this.#requestId = requestId;
    this.#opcode = opcode;
  }

  get remote(): string {
    return this.#connection.remote;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.abortReason !== undefined) this.#controller.abort(this.abortReason);
    }
    return this.#controller.signal;
  }

  get items(): StreamQueue {
    if (this.#items === undefined) {
      this.#items = this.#connection.newStream();
      if (this.abortReason !== undefined) this.#items.end(this.abortReason);
      else if (this.#done) this.#items.end();
    }
    return this.#items;
  }

  /** The handler is done: what its stream still holds is dropped. */
  done(): void {
    this.#done = true;
    this.#items?.discard();
  }

  sendData(data: DataToSend): Promise<void> {
    return this.#connection.sendData(this.#requestId, data);
  }

  sendMessage(body: unknown): Promise<void> {
    return this.#connection.sendFrame(
      encodeControlFrame(FrameKind.MESSAGE, this.#opcode, this.#requestId, body),
    );
  }

  /** Cancelled by the peer, or the connection closed: the handler sees it, its stream ends. */
  abort(reason: BigFsError): void {
    this.abortReason ??= reason;
    this.#controller?.abort(reason);
    this.#items?.end(reason);
  }
}

/** One open request of ours: its response, and the stream inside it. */
export class OutgoingRequest<N extends MessageName> {
  /** Settles with the response body, or the error that ended the request. */
  readonly response: Promise<ResponseOf<N>>;
  /** DATA and MESSAGE frames the peer sends inside this request. */
  readonly items: StreamQueue;
  readonly #connection: Connection;
  readonly #requestId: number;
  readonly #opcode: number;

  /** @internal */
  constructor(
    connection: Connection,
    requestId: number,
    opcode: number,
    items: StreamQueue,
    response: Promise<ResponseOf<N>>,
  ) {
    this.#connection = connection;
    this.#requestId = requestId;
    this.#opcode = opcode;
    this.items = items;
    this.response = response;
  }

  /** The request id on the wire. */
  get requestId(): number {
    return this.#requestId;
  }

  /** Sends chunk bytes inside the request; waits while the socket is full. */
  sendData(data: DataToSend): Promise<void> {
    return this.#connection.sendData(this.#requestId, data);
  }

  /** Sends a message inside the request. */
  sendMessage(body: StreamMessageOf<N>): Promise<void> {
    return this.#connection.sendFrame(
      encodeControlFrame(FrameKind.MESSAGE, this.#opcode, this.#requestId, body),
    );
  }

  /** Gives up on the request: the peer is told, the response rejects with `reason`. */
  cancel(reason?: BigFsError): void {
    this.#connection.cancel(this.#requestId, reason);
  }
}

const defaults = {
  requestTimeoutMs: 30_000,
  inFlightMax: 64,
  incomingInFlightMax: 64,
  streamBufferBytesMax: 8 * 1024 * 1024,
  frameTimeoutMs: 30_000,
};

/** A multiplexed request/response connection over an authenticated socket. */
export class Connection {
  /** The peer, for messages. */
  readonly remote: string;
  readonly #socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #options: ConnectionOptions;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #running = new Map<number, RunningRequest>();
  readonly #slotWaiters: (() => void)[] = [];
  readonly #closeListeners: ((error: BigFsError) => void)[] = [];
  readonly #pressured = new Set<StreamQueue>();
  #nextRequestId: number;
  #drain: Promise<void> | undefined;
  /** True while the socket is corked until the end of this turn of the event loop. */
  #corked = false;
  #closedError: BigFsError | undefined;
  /** Runs while part of a frame is buffered; restarted by every piece that arrives. */
  #frameTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, options: ConnectionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.remote = options.remote ?? `${socket.remoteAddress}:${socket.remotePort}`;
    this.#nextRequestId = options.initiator ? 1 : 2;
    this.#decoder = new FrameDecoder({
      ...(options.payloadBytesMax === undefined
        ? {}
        : { payloadBytesMax: options.payloadBytesMax }),
      copyControlPayloads: options.receiver !== undefined,
    });
    socket.setNoDelay(true);
    socket.on("data", (bytes: Buffer) => this.#onBytes(bytes));
    socket.on("error", (error) => {
      this.#shutdown(
        new BigFsError("UNAVAILABLE", `Connection to ${this.remote} failed: ${error.message}`),
      );
    });
    socket.on("close", () => {
      this.#shutdown(new BigFsError("UNAVAILABLE", `Connection to ${this.remote} closed`));
    });
    if (options.idleTimeoutMs) {
      socket.setTimeout(options.idleTimeoutMs, () => {
        if (this.#pending.size === 0 && this.#running.size === 0) {
          this.close(
            new BigFsError(
              "UNAVAILABLE",
              `Connection to ${this.remote} closed: idle for ${options.idleTimeoutMs} ms`,
            ),
          );
        }
      });
    }
    for (const bytes of options.leftover ?? []) this.#onBytes(bytes);
    socket.resume();
  }

  /** True once the connection has closed, for whatever reason. */
  get closed(): boolean {
    return this.#closedError !== undefined;
  }

  /** True while a write waits for the socket to drain (the peer reads slower than we write). */
  get waitingForDrain(): boolean {
    return this.#drain !== undefined;
  }

  /** Our requests waiting for a response. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** Calls `listener` once when the connection closes, with the reason. */
  onClose(listener: (error: BigFsError) => void): void {
    if (this.#closedError) listener(this.#closedError);
    else this.#closeListeners.push(listener);
  }

  /**
   * Sends a request and waits for its response. Frames the peer sends inside it are dropped:
   * this is the plain request/response path, without the stream `open` makes.
   */
  request<N extends MessageName>(
    name: N,
    body: RequestOf<N>,
    options: RequestOptions = {},
  ): Promise<ResponseOf<N>> {
    // Not an async function: a small request's own frame and promises were a measurable part
    // of what a client spends per request. The caller gets the response promise itself
    // whenever the frame went out at once.
    if (this.#pending.size >= this.#inFlightMax())
      return this.#requestAfterSlot(name, body, options);
    if (this.#closedError) return Promise.reject(this.#closedError);
    let response: Promise<ResponseOf<N>>;
    let sent: Promise<void>;
    try {
      const opcode = Messages[name].opcode;
      const requestId = this.#allocateRequestId();
      response = this.#register<N>(name, opcode, requestId, undefined, options);
      sent = this.sendFrame(encodeControlFrame(FrameKind.REQUEST, opcode, requestId, body));
    } catch (error) {
      return Promise.reject(error);
    }
    return sent === written ? response : sent.then(() => response);
  }

  async #requestAfterSlot<N extends MessageName>(
    name: N,
    body: RequestOf<N>,
    options: RequestOptions,
  ): Promise<ResponseOf<N>> {
    await this.#waitForSlot();
    return this.request(name, body, options);
  }

  /** Opens a request whose stream the caller uses; waits for an in-flight slot first. */
  async open<N extends MessageName>(
    name: N,
    body: RequestOf<N>,
    options: RequestOptions = {},
  ): Promise<OutgoingRequest<N>> {
    if (this.#pending.size >= this.#inFlightMax()) await this.#waitForSlot();
    if (this.#closedError) throw this.#closedError;
    const opcode = Messages[name].opcode;
    const requestId = this.#allocateRequestId();
    const items = this.newStream();
    const response = this.#register<N>(name, opcode, requestId, items, options);
    const outgoing = new OutgoingRequest<N>(this, requestId, opcode, items, response);
    await this.sendFrame(encodeControlFrame(FrameKind.REQUEST, opcode, requestId, body));
    return outgoing;
  }

  #inFlightMax(): number {
    return this.#options.inFlightMax ?? defaults.inFlightMax;
  }

  async #waitForSlot(): Promise<void> {
    while (this.#pending.size >= this.#inFlightMax() && !this.#closedError) {
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    }
  }

  /** Records one of our requests as open, with its deadline, and returns its response. */
  #register<N extends MessageName>(
    name: N,
    opcode: number,
    requestId: number,
    items: StreamQueue | undefined,
    options: RequestOptions,
  ): Promise<ResponseOf<N>> {
    const pending: PendingRequest = {
      name,
      opcode,
      items,
      resolve: noop,
      reject: noop,
      timer: undefined,
      signal: options.signal,
      onAbort: undefined,
    };
    const response = new Promise<ResponseOf<N>>((resolve, reject) => {
      pending.resolve = resolve as (body: unknown) => void;
      pending.reject = reject;
    });
    // The caller may never look at the response of a request it cancelled, or that timed
    // out while its frame waited for the socket to drain.
    response.catch(noop);
    const timeoutMs =
      options.timeoutMs ?? this.#options.requestTimeoutMs ?? defaults.requestTimeoutMs;
    if (timeoutMs > 0) {
      pending.timer = setTimeout(() => {
        this.cancel(
          requestId,
          new BigFsError(
            "TIMEOUT",
            `Request ${name} to ${this.remote} timed out after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
    }
    if (options.signal !== undefined) {
      pending.onAbort = () =>
        this.cancel(
          requestId,
          new BigFsError("UNAVAILABLE", `Request ${name} to ${this.remote} was cancelled`),
        );
      options.signal.addEventListener("abort", pending.onAbort, { once: true });
    }
    this.#pending.set(requestId, pending);
    return response;
  }

  /** Sends a one-way message. */
  push<N extends PushName>(name: N, body: PushOf<N>): Promise<void> {
    return this.sendFrame(encodeControlFrame(FrameKind.PUSH, Pushes[name].opcode, 0, body));
  }

  /** Ends one of our requests early: tells the peer, and rejects the response with `reason`. */
  cancel(requestId: number, reason?: BigFsError): void {
    const pending = this.#pending.get(requestId);
    if (pending === undefined) return;
    this.#settle(
      requestId,
      reason ??
        new BigFsError("UNAVAILABLE", `Request ${pending.name} to ${this.remote} was cancelled`),
    );
    if (!this.#closedError) this.sendFrame(encodeCancelFrame(requestId)).catch(() => {});
  }

  /** Sends one DATA frame for an open request: its header, then the caller's bytes, uncopied. */
  sendData(requestId: number, data: DataToSend): Promise<void> {
    const dataBytes = bytePartsLength(data.bytes);
    this.#options.onDataBytes?.("sent", dataBytes);
    const header = encodeDataFrameHeader({
      requestId,
      chunkId: data.chunkId,
      offset: data.offset,
      dataBytes,
      xxh64: data.xxh64,
      end: data.end ?? false,
    });
    return this.#write(
      data.bytes instanceof Uint8Array ? [header, data.bytes] : [header, ...data.bytes],
      data.onWritten,
    );
  }

  /** Sends one encoded frame, waiting while the socket is full. */
  sendFrame(frame: Uint8Array): Promise<void> {
    return this.#write([frame]);
  }

  /** Closes the connection: every open request fails with `UNAVAILABLE` (or `reason`). */
  close(reason?: BigFsError): void {
    this.#shutdown(reason ?? new BigFsError("UNAVAILABLE", `Connection to ${this.remote} closed`));
    this.#socket.end();
    // A peer that never reads would keep a half-closed socket forever.
    setTimeout(() => this.#socket.destroy(), 2_000).unref();
  }

  /**
   * Writes at once when the socket is not full, without an async function's frame and
   * promise per frame (every request and response passes here); otherwise after `drain`.
   */
  #write(parts: Uint8Array[], onWritten?: () => void): Promise<void> {
    if (this.#drain !== undefined) return this.#writeAfterDrain(parts, onWritten);
    if (this.#closedError) return Promise.reject(this.#closedError);
    this.#writeNow(parts, onWritten);
    return written;
  }

  async #writeAfterDrain(parts: Uint8Array[], onWritten?: () => void): Promise<void> {
    while (this.#drain) await this.#drain;
    if (this.#closedError) throw this.#closedError;
    this.#writeNow(parts, onWritten);
  }

  #writeNow(parts: Uint8Array[], onWritten?: () => void): void {
    const socket = this.#socket;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(this.#uncork);
    }
    let writable = true;
    const last = parts.length - 1;
    for (let index = 0; index < last; index++) writable = socket.write(parts[index]!);
    // The stream calls back in order, once the kernel has the bytes (or with an error once it
    // never will): either way, no later write reads the caller's buffer.
    writable =
      onWritten === undefined ? socket.write(parts[last]!) : socket.write(parts[last]!, onWritten);
    if (!writable && !this.#drain) {
      this.#drain = new Promise<void>((resolve) => {
        const done = () => {
          socket.off("drain", done);
          socket.off("close", done);
          this.#drain = undefined;
          resolve();
        };
        socket.on("drain", done);
        socket.on("close", done);
      });
    }
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  #allocateRequestId(): number {
    // Ids wrap at 2^32 and skip any still open; parity keeps the two sides apart.
    for (;;) {
      const requestId = this.#nextRequestId;
      this.#nextRequestId = (this.#nextRequestId + 2) % 0x1_0000_0000;
      if (this.#nextRequestId === 0) this.#nextRequestId = 2;
      if (!this.#pending.has(requestId)) return requestId;
    }
  }

  #streamBytesMax(): number {
    return this.#options.streamBufferBytesMax ?? defaults.streamBufferBytesMax;
  }

  #onPressure(queue: StreamQueue, overBound: boolean): void {
    if (overBound) this.#pressured.add(queue);
    else this.#pressured.delete(queue);
    if (this.#pressured.size > 0) this.#socket.pause();
    else if (!this.#closedError) this.#socket.resume();
  }

  #isOurs(requestId: number): boolean {
    return (requestId % 2 === 1) === this.#options.initiator;
  }

  #onBytes(bytes: Uint8Array): void {
    if (this.#closedError) return;
    const { frames, error } = this.#decoder.push(bytes);
    const receiver = this.#options.receiver;
    if (receiver !== undefined) {
      for (const frame of frames)
        if (frame.kind === FrameKind.DATA) frame.release = receiver.hold(frame);
      receiver.decoderHolds(this.#decoder.pieces);
    }
    for (const frame of frames) {
      if (this.#closedError) return;
      this.#onFrame(frame);
    }
    if (error) this.#protocolFailure(error);
    else if (!this.#closedError) this.#watchPartialFrame();
  }

  #watchPartialFrame(): void {
    const frameTimeoutMs = this.#options.frameTimeoutMs ?? defaults.frameTimeoutMs;
    if (this.#decoder.bufferedBytes === 0 || frameTimeoutMs === 0) {
      clearTimeout(this.#frameTimer);
      this.#frameTimer = undefined;
    } else if (this.#frameTimer === undefined) {
      this.#frameTimer = setTimeout(() => this.#onFrameStalled(frameTimeoutMs), frameTimeoutMs);
      this.#frameTimer.unref();
    } else {
      this.#frameTimer.refresh();
    }
  }

  #onFrameStalled(frameTimeoutMs: number): void {
    // While we hold the socket paused the peer cannot send; that wait is ours, not its.
    if (this.#pressured.size > 0) {
      this.#frameTimer?.refresh();
      return;
    }
    this.#frameTimer = undefined;
    this.#protocolFailure(
      new BigFsError(
        "PROTOCOL",
        `the peer sent part of a frame (${this.#decoder.bufferedBytes} bytes) and stalled for ` +
          `${frameTimeoutMs} ms`,
      ),
    );
  }

  #protocolFailure(error: BigFsError): void {
    if (this.#closedError) return;
    const reason = new BigFsError(
      "PROTOCOL",
      `Connection to ${this.remote} closed: ${error.message}`,
    );
    // Tell the peer why before hanging up; never wait for a peer that may not read.
    this.#socket.write(encodeErrorFrame(0, 0, "PROTOCOL", error.message));
    this.close(reason);
  }

  #onFrame(frame: Frame): void {
    switch (frame.kind) {
      case FrameKind.REQUEST:
        this.#onRequest(frame);
        return;
      case FrameKind.RESPONSE:
      case FrameKind.ERROR:
        this.#onResponse(frame);
        return;
      case FrameKind.PUSH: {
        const entry = opcodeEntry(frame.opcode);
        this.#options.onPush?.(entry!.name as PushName, frame.body);
        return;
      }
      case FrameKind.CANCEL: {
        const running = this.#running.get(frame.requestId);
        if (running === undefined) return;
        running.abort(new BigFsError("UNAVAILABLE", `Request cancelled by ${this.remote}`));
        return;
      }
      case FrameKind.DATA:
      case FrameKind.MESSAGE:
        if (frame.kind === FrameKind.DATA) {
          this.#options.onDataBytes?.("received", (frame as DataFrame).byteLength);
        }
        this.#streamOf(frame.requestId)?.push(
          frame.kind === FrameKind.DATA ? (frame as DataFrame) : { kind: 6, body: frame.body },
        );
        return;
    }
  }

  #streamOf(requestId: number): StreamQueue | undefined {
    return this.#isOurs(requestId)
      ? this.#pending.get(requestId)?.items
      : this.#running.get(requestId)?.items;
  }

  /** @internal A request's stream, bound like every stream here. */
  newStream(): StreamQueue {
    const items = new StreamQueue(this.#streamBytesMax(), (over) => this.#onPressure(items, over));
    return items;
  }

  #onResponse(frame: ControlFrame | ErrorFrame): void {
    if (frame.requestId === 0 && frame.kind === FrameKind.ERROR) {
      // The peer is closing the connection and says why.
      this.close(
        new BigFsError(frame.code, `Connection to ${this.remote} closed by peer: ${frame.message}`),
      );
      return;
    }
    const pending = this.#pending.get(frame.requestId);
    if (pending === undefined) return; // Late answer to a request that timed out.
    if (frame.opcode !== pending.opcode) {
      this.#protocolFailure(
        new BigFsError(
          "PROTOCOL",
          `response opcode ${frame.opcode} does not match request ${pending.name}`,
        ),
      );
      return;
    }
    if (frame.kind === FrameKind.ERROR) {
      this.#settle(frame.requestId, new BigFsError(frame.code, frame.message));
    } else {
      this.#settle(frame.requestId, undefined, frame.body);
    }
  }

  #settle(requestId: number, error: BigFsError | undefined, body?: unknown): void {
    const pending = this.#pending.get(requestId);
    if (pending === undefined) return;
    this.#pending.delete(requestId);
    clearTimeout(pending.timer);
    if (pending.onAbort !== undefined)
      pending.signal?.removeEventListener("abort", pending.onAbort);
    pending.items?.end(error);
    if (error) pending.reject(error);
    else pending.resolve(body);
    this.#slotWaiters.shift()?.();
  }

  #onRequest(frame: ControlFrame): void {
    const { requestId, opcode } = frame;
    const name = opcodeEntry(opcode)!.name as MessageName;
    if (this.#isOurs(requestId) || this.#running.has(requestId)) {
      this.#protocolFailure(
        new BigFsError("PROTOCOL", `request id ${requestId} is not the peer's to open`),
      );
      return;
    }
    const handler = this.#options.handler;
    if (handler === undefined || name === "AUTH") {
      this.#reply(
        opcode,
        requestId,
        new BigFsError("INVALID_ARGUMENT", `Cannot serve ${name}: not offered here`),
      );
      return;
    }
    const incomingMax = this.#options.incomingInFlightMax ?? defaults.incomingInFlightMax;
    if (this.#running.size >= incomingMax) {
      this.#reply(
        opcode,
        requestId,
        new BigFsError(
          "BUSY",
          `Cannot serve ${name}: ${incomingMax} requests already in flight on this connection`,
        ),
      );
      return;
    }
    const running = new RunningRequest(this, name, frame.body, requestId, opcode);
    this.#running.set(requestId, running);
    Promise.resolve(running)
      .then(handler)
      .then(
        (body) => this.#finish(running, requestId, opcode, undefined, body),
        (error: unknown) =>
          this.#finish(running, requestId, opcode, error ?? new Error("handler failed")),
      );
  }

  #finish(
    running: RunningRequest,
    requestId: number,
    opcode: number,
    error: unknown,
    body?: unknown,
  ): void {
    if (this.#running.get(requestId) !== running) return;
    this.#running.delete(requestId);
    running.done();
    if (running.abortReason !== undefined || this.#closedError) return;
    this.#reply(opcode, requestId, error, body);
  }

  #reply(opcode: number, requestId: number, error: unknown, body?: unknown): void {
    let frame: Uint8Array;
    if (error === undefined) {
      frame = encodeControlFrame(FrameKind.RESPONSE, opcode, requestId, body ?? {});
    } else if (isBigFsError(error)) {
      frame = encodeErrorFrame(opcode, requestId, error.code, error.message);
    } else {
      const detail = error instanceof Error ? error.message : String(error);
      frame = encodeErrorFrame(opcode, requestId, "INTERNAL", `Internal error: ${detail}`);
    }
    // A frame that went out at once needs no catch of its own (one promise per reply saved).
    const sent = this.#write([frame]);
    if (sent !== written) sent.catch(noop);
  }

  #shutdown(error: BigFsError): void {
    if (this.#closedError) return;
    this.#closedError = error;
    clearTimeout(this.#frameTimer);
    for (const requestId of [...this.#pending.keys()]) {
      const pending = this.#pending.get(requestId)!;
      const reason =
        error.code === "UNAVAILABLE"
          ? error
          : new BigFsError("UNAVAILABLE", `Request ${pending.name} failed: ${error.message}`);
      this.#settle(requestId, reason);
    }
    for (const running of this.#running.values()) running.abort(error);
    this.#running.clear();
    for (const waiter of this.#slotWaiters.splice(0)) waiter();
    for (const listener of this.#closeListeners.splice(0)) listener(error);
  }
}

function noop(): void {}

/** What {@linkcode Connection.sendFrame} returns when the frame went out at once. */
const written: Promise<void> = Promise.resolve();
