/**
 * A listening BigFS endpoint: accepts TCP connections, runs the handshake on each, and turns
 * the authenticated ones into {@linkcode Connection}s served by one handler. A peer that fails
 * the handshake or breaks the protocol loses its own connection and nothing else.
 *
 * Bounds against a flood: at most `connectionsMax` sockets at once (Node closes the excess
 * on accept), and of those at most `handshakesMax` still in their handshake, so peers that
 * connect and then say nothing (each held up to `handshakeTimeoutMs`) cannot fill the
 * server. A socket over either bound is closed at once, never queued. Refusals are counted
 * and reported through `onRefused` at most once per `refusedReportIntervalMs`, so a flood
 * yields a few log lines, not one per socket.
 */
import { createServer, type Server, type Socket } from "node:net";
import { RefusalReport, type RefusedConnections } from "./_refusal_report.js";
import {
  Connection,
  type ConnectionOptions,
  type PushHandler,
  type RequestHandler,
} from "./connection.js";
import type { BigFsError } from "./errors.js";
import { acceptHandshake, type PeerRoleName } from "./handshake.js";
import type { Logger } from "./logger.js";

export type { RefusedConnections };

/** Options for {@linkcode listen}. */
export interface ListenOptions
  extends Omit<ConnectionOptions, "initiator" | "remote" | "handler" | "onPush" | "leftover"> {
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** The cluster secret. */
  secret: Uint8Array;
  /** Our role in the handshake. */
  role: PeerRoleName;
  /** Roles allowed to connect; default all. */
  allowedRoles?: readonly PeerRoleName[];
  /** Serves every connection's requests. */
  handler: RequestHandler;
  /** Receives pushes, with the connection they came on. */
  onPush?: (connection: Connection, ...push: Parameters<PushHandler>) => void;
  /** Called for every authenticated connection, once it is ready. */
  onConnection?: (connection: Connection, peerRole: PeerRoleName) => void;
  /** Called when a connection fails its handshake or breaks the protocol. */
  onReject?: (remote: string, error: BigFsError) => void;
  /** Connections at once; more are refused. Default 1024. */
  connectionsMax?: number;
  /** Handshake deadline, from accept; default 10 s. */
  handshakeTimeoutMs?: number;
  /** Sockets in their handshake at once; more are closed at accept. Default 64. */
  handshakesMax?: number;
  /** Told how many sockets were refused over a bound since its previous call. */
  onRefused?: (refused: RefusedConnections) => void;
  /** Least time between two `onRefused` calls; default 10 s. */
  refusedReportIntervalMs?: number;
}

/** A listening endpoint. */
export class BigFsServer {
  readonly #server: Server;
  readonly #connections = new Set<Connection>();
  readonly #sockets = new Set<Socket>();
  readonly #refusals: RefusalReport;
  #handshakes = 0;
  #refusedTotal = 0;

  /** @internal Use {@linkcode listen}. */
  constructor(server: Server, refusals: RefusalReport) {
    this.#server = server;
    this.#refusals = refusals;
  }

  /** The bound address. */
  get address(): { host: string; port: number } {
    const address = this.#server.address();
    if (address === null || typeof address === "string")
      throw new Error("BigFsServer is not listening");
    return { host: address.address, port: address.port };
  }

  /** Authenticated connections open now. */
  get connections(): ReadonlySet<Connection> {
    return this.#connections;
  }

  /** Sockets in their handshake now. */
  get handshakes(): number {
    return this.#handshakes;
  }

  /** Sockets refused at accept since the server started, over either bound. */
  get refusedConnections(): number {
    return this.#refusedTotal;
  }

  /** @internal Takes a handshake slot; false when all are taken. */
  startHandshake(handshakesMax: number): boolean {
    if (this.#handshakes >= handshakesMax) return false;
    this.#handshakes++;
    return true;
  }

  /** @internal */
  endHandshake(): void {
    this.#handshakes--;
  }

  /** @internal */
  refused(bound: keyof RefusedConnections): void {
    this.#refusedTotal++;
    this.#refusals.count(bound);
  }

  /** @internal */
  track(socket: Socket, connection?: Connection): void {
    if (connection) {
      this.#connections.add(connection);
      connection.onClose(() => this.#connections.delete(connection));
    } else {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    }
  }

  /** Stops listening and closes every connection (their open requests fail `UNAVAILABLE`). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#refusals.stop();
    for (const connection of this.#connections) connection.close();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}

/**
 * The `onReject` and `onRefused` of a daemon: each refused handshake or protocol breach is
 * one warning naming the peer's address; refusals over a bound are one warning per report.
 */
export function logRefusals(logger: Logger): Pick<ListenOptions, "onReject" | "onRefused"> {
  return {
    // A peer that merely hung up (UNAVAILABLE) is not a refusal: at debug level, so a flood of
    // connect-and-close sockets cannot flood the log.
    onReject: (remote, error) =>
      error.code === "UNAVAILABLE"
        ? logger.debug({ remote, err: error.message }, "peer hung up during the handshake")
        : logger.warn({ remote, code: error.code, err: error.message }, "connection refused"),
    onRefused: (refused) => logger.warn(refused, "connections refused: too many at once"),
  };
}

/** Listens for BigFS peers. Rejects when the port cannot be bound (the error names it). */
export async function listen(options: ListenOptions): Promise<BigFsServer> {
  const host = options.host ?? "127.0.0.1";
  const server = createServer({ pauseOnConnect: false, noDelay: true });
  server.maxConnections = options.connectionsMax ?? 1024;
  const handshakesMax = options.handshakesMax ?? 64;
  const endpoint = new BigFsServer(
    server,
    new RefusalReport(options.refusedReportIntervalMs ?? 10_000, options.onRefused),
  );
  // Node closes a socket over maxConnections before "connection"; it says so with "drop".
  server.on("drop", () => endpoint.refused("overConnectionsMax"));
  server.on("connection", (socket) => {
    socket.on("error", () => {});
    if (!endpoint.startHandshake(handshakesMax)) {
      socket.destroy();
      endpoint.refused("overHandshakesMax");
      return;
    }
    endpoint.track(socket);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    acceptHandshake(socket, {
      secret: options.secret,
      role: options.role,
      remote,
      ...(options.allowedRoles ? { allowedRoles: options.allowedRoles } : {}),
      ...(options.handshakeTimeoutMs ? { timeoutMs: options.handshakeTimeoutMs } : {}),
    }).then(
      ({ peerRole, leftover }) => {
        endpoint.endHandshake();
        const { onPush, onConnection, onReject, ...connectionOptions } = options;
        const connection: Connection = new Connection(socket, {
          ...connectionOptions,
          initiator: false,
          remote,
          leftover,
          ...(onPush ? { onPush: (name, body) => onPush(connection, name, body) } : {}),
        });
        endpoint.track(socket, connection);
        connection.onClose((error) => {
          if (error.code === "PROTOCOL") onReject?.(remote, error);
        });
        onConnection?.(connection, peerRole);
      },
      (error: BigFsError) => {
        endpoint.endHandshake();
        options.onReject?.(remote, error);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const reason = error.code === "EADDRINUSE" ? "the port is already in use" : error.message;
      reject(new Error(`Cannot listen on ${host}:${options.port}: ${reason}`, { cause: error }));
    });
    server.listen(options.port, host, () => resolve());
  });
  return endpoint;
}
