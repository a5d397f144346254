/**
 * A listening BigFS endpoint: accepts TCP connections, runs the handshake on each, and turns
 * the authenticated ones into {@linkcode Connection}s served by one handler. A peer that fails
 * the handshake or breaks the protocol loses its own connection and nothing else.
 */
import { createServer, type Server, type Socket } from "node:net";
import {
  Connection,
  type ConnectionOptions,
  type PushHandler,
  type RequestHandler,
} from "./connection.js";
import type { BigFsError } from "./errors.js";
import { acceptHandshake, type PeerRoleName } from "./handshake.js";

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
  /** Handshake deadline; default 10 s. */
  handshakeTimeoutMs?: number;
}

/** A listening endpoint. */
export class BigFsServer {
  readonly #server: Server;
  readonly #connections = new Set<Connection>();
  readonly #sockets = new Set<Socket>();

  /** @internal Use {@linkcode listen}. */
  constructor(server: Server) {
    this.#server = server;
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
    for (const connection of this.#connections) connection.close();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}

/** Listens for BigFS peers. Rejects when the port cannot be bound (the error names it). */
export async function listen(options: ListenOptions): Promise<BigFsServer> {
  const host = options.host ?? "127.0.0.1";
  const server = createServer({ pauseOnConnect: false, noDelay: true });
  server.maxConnections = options.connectionsMax ?? 1024;
  const endpoint = new BigFsServer(server);
  server.on("connection", (socket) => {
    endpoint.track(socket);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on("error", () => {});
    acceptHandshake(socket, {
      secret: options.secret,
      role: options.role,
      remote,
      ...(options.allowedRoles ? { allowedRoles: options.allowedRoles } : {}),
      ...(options.handshakeTimeoutMs ? { timeoutMs: options.handshakeTimeoutMs } : {}),
    }).then(
      ({ peerRole, leftover }) => {
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
      (error: BigFsError) => options.onReject?.(remote, error),
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
