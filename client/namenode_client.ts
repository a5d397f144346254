/**
 * The client's one connection to the NameNode, dialled again on the next request after it
 * breaks. A request that was in flight when the connection broke fails (it may or may not
 * have been applied, so it is never sent twice); only the dial itself is retried.
 */
import {
  BigFsError,
  type Connection,
  dial,
  type MessageName,
  type RequestOf,
  type ResponseOf,
} from "#protocol";

/** Options for {@linkcode NamenodeClient.connect}. */
export interface NamenodeClientOptions {
  secret: Uint8Array;
  /** Deadline of a request; default 30 s. */
  requestTimeoutMs?: number;
  /** Deadline for TCP connect plus handshake; default 10 s. */
  connectTimeoutMs?: number;
}

/** Requests to the NameNode over one authenticated connection. */
export class NamenodeClient {
  readonly #address: { host: string; port: number };
  readonly #options: NamenodeClientOptions;
  #connection: Promise<Connection>;
  #closed = false;

  private constructor(
    address: { host: string; port: number },
    options: NamenodeClientOptions,
    connection: Connection,
  ) {
    this.#address = address;
    this.#options = options;
    this.#connection = Promise.resolve(connection);
  }

  /** Dials the NameNode; fails with `UNAVAILABLE` or `AUTH_FAILED` when it cannot. */
  static async connect(
    address: { host: string; port: number },
    options: NamenodeClientOptions,
  ): Promise<NamenodeClient> {
    const connection = await dialNamenode(address, options);
    return new NamenodeClient(address, options, connection);
  }

  /** Sends a request and waits for its response; errors keep the NameNode's code. */
  async request<N extends MessageName>(name: N, body: RequestOf<N>): Promise<ResponseOf<N>> {
    const connection = await this.#open();
    return connection.request(name, body);
  }

  /** Closes the connection; later requests fail. */
  close(): void {
    this.#closed = true;
    this.#connection.then(
      (connection) => connection.close(),
      () => {},
    );
  }

  async #open(): Promise<Connection> {
    if (this.#closed) {
      throw new BigFsError("UNAVAILABLE", "Cannot reach the NameNode: the client is closed");
    }
    const current = this.#connection;
    const connection = await current.catch(() => undefined);
    if (connection !== undefined && !connection.closed) return connection;
    if (this.#connection === current) {
      this.#connection = dialNamenode(this.#address, this.#options);
      this.#connection.catch(() => {});
    }
    return this.#connection;
  }
}

function dialNamenode(
  address: { host: string; port: number },
  options: NamenodeClientOptions,
): Promise<Connection> {
  return dial(address, {
    secret: options.secret,
    role: "client",
    peerName: "namenode",
    ...(options.requestTimeoutMs === undefined
      ? {}
      : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.connectTimeoutMs === undefined
      ? {}
      : { connectTimeoutMs: options.connectTimeoutMs }),
  });
}
