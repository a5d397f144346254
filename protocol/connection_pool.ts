/**
 * Pooled authenticated connections to peers, one per `host:port` address, shared by every
 * request to that peer: a connection multiplexes many requests, so the dial and the handshake
 * are paid once per peer, not once per chunk. A connection that breaks leaves the pool, and the
 * next request dials a fresh one; so does one its user retires because a request on it
 * stalled. Clients use it to reach DataNodes, and DataNodes to reach each other for pipelines
 * and transfers.
 */
import type { HostPort } from "./config.js";
import type { Connection } from "./connection.js";
import { dial } from "./dial.js";
import { BigFsError } from "./errors.js";
import type { PeerRoleName } from "./handshake.js";
import type { Logger } from "./logger.js";
import type { ReceiveBuffers } from "./receive_buffers.js";

/** Options for {@linkcode ConnectionPool}. */
export interface ConnectionPoolOptions {
  /** The cluster secret. */
  secret: Uint8Array;
  /** Our role in the handshake. */
  role: PeerRoleName;
  /** Names the peers in messages; default `"datanode"`. */
  peerName?: string;
  /** Deadline for TCP connect plus handshake; default 5 s. */
  connectTimeoutMs?: number;
  /** An unused connection closes after this long; default 60 s. */
  idleTimeoutMs?: number;
  logger?: Logger;
  /** Reused read buffers for every connection (see `DialOptions.receiveBuffers`). */
  receiveBuffers?: ReceiveBuffers;
}

const addressPattern = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;

/** Parses `host:port` or `[ipv6]:port`; `undefined` when `address` is neither. */
export function parseHostPort(address: string): HostPort | undefined {
  const match = addressPattern.exec(address);
  const port = Number(match?.[3]);
  if (match === null || !(port >= 1 && port <= 65535)) return undefined;
  return { host: match[1] ?? match[2] ?? "", port };
}

/** Pooled connections to peers, keyed by address. */
export class ConnectionPool {
  readonly #options: ConnectionPoolOptions;
  readonly #connections = new Map<string, Promise<Connection>>();
  /** Each pooled connection once dialled, to know which one a retiring caller means. */
  readonly #dialled = new WeakMap<Promise<Connection>, Connection>();
  /** Retired connections still open: requests already on them go on until they end. */
  readonly #retired = new Set<Connection>();
  #closed = false;

  constructor(options: ConnectionPoolOptions) {
    this.#options = options;
  }

  /**
   * An open connection to the peer at `address`, dialled when none is open.
   *
   * @throws {BigFsError} `UNAVAILABLE` or `AUTH_FAILED` when it cannot be reached,
   * `INVALID_ARGUMENT` for an address that is not `host:port`.
   */
  get(address: string): Promise<Connection> {
    if (this.#closed) {
      return Promise.reject(
        new BigFsError(
          "UNAVAILABLE",
          `Cannot connect to ${address}: the connection pool is closed`,
        ),
      );
    }
    const existing = this.#connections.get(address);
    if (existing !== undefined) return existing;
    const hostPort = parseHostPort(address);
    if (hostPort === undefined) {
      return Promise.reject(
        new BigFsError("INVALID_ARGUMENT", `Cannot connect to ${address}: not a host:port address`),
      );
    }
    const connecting = dial(hostPort, {
      secret: this.#options.secret,
      role: this.#options.role,
      peerName: this.#options.peerName ?? "datanode",
      connectTimeoutMs: this.#options.connectTimeoutMs ?? 5_000,
      idleTimeoutMs: this.#options.idleTimeoutMs ?? 60_000,
      ...(this.#options.receiveBuffers ? { receiveBuffers: this.#options.receiveBuffers } : {}),
    });
    this.#connections.set(address, connecting);
    connecting.then(
      (connection) => {
        this.#dialled.set(connecting, connection);
        connection.onClose((error) => {
          this.#retired.delete(connection);
          if (this.#connections.get(address) === connecting) this.#connections.delete(address);
          this.#options.logger?.debug({ peer: address, err: error }, "pooled connection closed");
        });
        if (this.#closed) connection.close();
      },
      () => {
        if (this.#connections.get(address) === connecting) this.#connections.delete(address);
      },
    );
    return connecting;
  }

  /**
   * Stops handing out `connection` for `address`, because a request on it stalled: the peer,
   * or the path to it, may be stuck, and every request given the same connection would wait
   * out its own stall timeout too (an unreachable peer that sent no reset keeps a TCP connection
   * open). The next request dials afresh, which fails within the connect timeout if the peer
   * is gone. Requests already on `connection` go on; it closes once idle, as pooled connections
   * do, or with the pool. A no-op when `connection` is no longer the pooled one.
   */
  retire(address: string, connection: Connection): void {
    const pooled = this.#connections.get(address);
    if (pooled === undefined || this.#dialled.get(pooled) !== connection) return;
    this.#connections.delete(address);
    if (!connection.closed) this.#retired.add(connection);
    this.#options.logger?.debug({ peer: address }, "pooled connection retired after a stall");
  }

  /** Closes every pooled connection; later calls to {@linkcode ConnectionPool.get} fail. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#retired) connection.close();
    this.#retired.clear();
    for (const connecting of this.#connections.values()) {
      connecting.then(
        (connection) => connection.close(),
        () => {},
      );
    }
    this.#connections.clear();
  }
}
