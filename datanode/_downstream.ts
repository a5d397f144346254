/**
 * The next DataNode of a write pipeline, as the DataNode before it sees it: a WRITE_CHUNK
 * request opened on a pooled connection, the frames forwarded into it, and the acks and the
 * response that come back.
 *
 * Frames go within a send window (`send_window.ts`): at most as many bytes forwarded and not
 * yet acknowledged as the next DataNode says it takes, so this stream never fills its queue
 * there and stops the other pipelines that share the connection.
 *
 * Failures are attributed: when the connection to the downstream DataNode breaks (it died,
 * or the network to it did), the error is `UNAVAILABLE` naming it; when it answers with an
 * error, that error already names the DataNode that failed further down and is passed on
 * as it is.
 */
import {
  BigFsError,
  bytePartsLength,
  type Connection,
  type ConnectionPool,
  type DataToSend,
  followAcks,
  type OutgoingRequest,
  type RequestOf,
  type ResponseOf,
  SendWindow,
} from "#protocol";
import { type DataNodeRef, describeDataNode, namingDataNode } from "./_naming.js";

/** Options for {@linkcode Downstream.open}. */
export interface DownstreamOptions {
  /** Deadline for the whole request; 0 (default) for none: the upstream's deadline rules. */
  timeoutMs?: number;
  /** Called as the downstream DataNode acknowledges bytes. */
  onAck?: (ackedBytes: number) => void;
}

/** An open WRITE_CHUNK to the next DataNode of a pipeline. */
export class Downstream {
  /** The DataNode this request goes to. */
  readonly target: DataNodeRef;
  /** Rejects, with the attributed error, as soon as the downstream request fails. */
  readonly failure: Promise<never>;
  readonly #connection: Connection;
  readonly #request: OutgoingRequest<"WRITE_CHUNK">;
  readonly #window = new SendWindow();

  private constructor(
    target: DataNodeRef,
    connection: Connection,
    request: OutgoingRequest<"WRITE_CHUNK">,
    options: DownstreamOptions,
  ) {
    this.target = target;
    this.#connection = connection;
    this.#request = request;
    this.failure = request.response.then(
      () => new Promise<never>(() => {}),
      (error: unknown) => {
        throw this.attribute(error);
      },
    );
    this.failure.catch((error: unknown) => this.#window.fail(error));
    followAcks(request.items, this.#window, options.onAck ? { onAck: options.onAck } : {});
  }

  /**
   * Opens WRITE_CHUNK `body` on a pooled connection to `target`.
   *
   * @throws {BigFsError} `UNAVAILABLE` naming `target` when it cannot be reached.
   */
  static async open(
    peers: ConnectionPool,
    target: DataNodeRef,
    body: RequestOf<"WRITE_CHUNK">,
    options: DownstreamOptions = {},
  ): Promise<Downstream> {
    let connection: Connection | undefined;
    try {
      connection = await peers.get(target.address);
      const request = await connection.open("WRITE_CHUNK", body, {
        timeoutMs: options.timeoutMs ?? 0,
      });
      return new Downstream(target, connection, request, options);
    } catch (error) {
      throw new BigFsError(
        "UNAVAILABLE",
        `Cannot reach downstream ${describeDataNode(target)}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Bytes the downstream DataNode (and every one after it) has acknowledged so far. */
  get ackedBytes(): number {
    return this.#window.acknowledgedBytes;
  }

  /**
   * Forwards one DATA frame; waits while the send window or the socket to the peer is full.
   * Rejects as the downstream request fails.
   */
  async send(data: DataToSend): Promise<void> {
    const bytes = bytePartsLength(data.bytes);
    // Waits for room, or rejects with `failure`'s error (attributed already) once it failed.
    await this.#window.room(bytes);
    this.#window.sent(bytes);
    try {
      await this.#request.sendData(data);
    } catch (error) {
      throw this.attribute(error);
    }
  }

  /** The downstream DataNode's response, or the attributed error. */
  async result(): Promise<ResponseOf<"WRITE_CHUNK">> {
    try {
      return await this.#request.response;
    } catch (error) {
      throw this.attribute(error);
    }
  }

  /** Gives up on the downstream request; the downstream DataNode aborts its write. */
  cancel(reason: BigFsError): void {
    this.#request.cancel(reason);
  }

  /** The error to pass upstream for `error`, a failure of this downstream request. */
  attribute(error: unknown): BigFsError {
    const message = error instanceof Error ? error.message : String(error);
    const fromPeer = error instanceof BigFsError && !this.#connection.closed;
    if (fromPeer && error.code !== "TIMEOUT") return namingDataNode(error, this.target);
    return new BigFsError(
      "UNAVAILABLE",
      `Downstream ${describeDataNode(this.target)} failed: ${message}`,
      { cause: error },
    );
  }
}
