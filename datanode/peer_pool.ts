/**
 * Authenticated connections from this DataNode to other DataNodes, one per peer address,
 * reused by every pipeline and transfer to that peer: a connection multiplexes many requests,
 * so dialling and the handshake are paid once, not once per chunk.
 */
import { BigFsError, type Connection, dial, type HostPort, type Logger } from "#protocol";

/** Options for {@linkcode PeerPool}. */
export interface PeerPoolOptions {
  /** The cluster secret. */
  secret: Uint8Array;
  /** Deadline for TCP connect plus handshake; default 5 s. */
  connectTimeoutMs?: number;
  /** An unused connection closes after this long; default 60 s. */
  idleTimeoutMs?: number;
  logger?: Logger;
}

const addressPattern = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;

/** Parses `host:port` or `[ipv6]:port`; `undefined` when `address` is neither. */
export function parsePeerAddress(address: string): HostPort | undefined {
  const match = addressPattern.exec(address);
  const port = Number(match?.[3]);
  if (match === null || !(port >= 1 && port <= 65535)) return undefined;
  return { host: match[1] ?? match[2] ?? "", port };
}

/** Pooled connections to peer DataNodes, keyed by address. */
export class PeerPool {
  readonly #options: PeerPoolOptions;
  readonly #connections = new Map<string, Promise<Connection>>();
  #closed = false;

  constructor(options: PeerPoolOptions) {
    this.#options = options;
  }

  /**
   * Returns an open connection to the DataNode at `address` (`host:port`), dialling one when
   * none is open.
   *
   * @throws {BigFsError} `UNAVAILABLE` or `AUTH_FAILED` when the peer cannot be reached;
   * `INVALID_ARGUMENT` for an address that is not `host:port`.
   */
  get(address: string): Promise<Connection> {
    if (this.#closed) {
      return Promise.reject(
        new BigFsError("UNAVAILABLE", `Cannot connect to ${address}: the DataNode is stopping`),
      );
    }
    const existing = this.#connections.get(address);
    if (existing !== undefined) return existing;
    const hostPort = parsePeerAddress(address);
    if (hostPort === undefined) {
      return Promise.reject(
        new BigFsError("INVALID_ARGUMENT", `Cannot connect to ${address}: not a host:port address`),
      );
    }
    const connecting = dial(hostPort, {
      secret: this.#options.secret,
      role: "datanode",
      peerName: "datanode",
      connectTimeoutMs: this.#options.connectTimeoutMs ?? 5_000,
      idleTimeoutMs: this.#options.idleTimeoutMs ?? 60_000,
    });
    this.#connections.set(address, connecting);
    connecting.then(
      (connection) => {
        connection.onClose((error) => {
          if (this.#connections.get(address) === connecting) this.#connections.delete(address);
          this.#options.logger?.debug({ peer: address, err: error }, "peer connection closed");
        });
        if (this.#closed) connection.close();
      },
      () => {
        if (this.#connections.get(address) === connecting) this.#connections.delete(address);
      },
    );
    return connecting;
  }

  /** Closes every pooled connection; later calls to {@linkcode PeerPool.get} fail. */
  close(): void {
    this.#closed = true;
    for (const connecting of this.#connections.values()) {
      connecting.then(
        (connection) => connection.close(),
        () => {},
      );
    }
    this.#connections.clear();
  }
}
