/**
 * Opening a connection to a BigFS peer: TCP connect with a deadline, the handshake, and a
 * ready {@linkcode Connection}.
 */
import { connect as connectTcp } from "node:net";
import { Connection, type ConnectionOptions } from "./connection.js";
import { BigFsError } from "./errors.js";
import { initiateHandshake, type PeerRoleName } from "./handshake.js";
import type { ReceiveBuffers } from "./receive_buffers.js";

/** Options for {@linkcode dial}. */
export interface DialOptions
  extends Omit<ConnectionOptions, "initiator" | "remote" | "leftover" | "receiver"> {
  /** The cluster secret. */
  secret: Uint8Array;
  /** Our role in the handshake. */
  role: PeerRoleName;
  /** Deadline for TCP connect plus handshake; default 10 s. */
  connectTimeoutMs?: number;
  /** Names the peer in messages, such as `"namenode"`; the address is added. */
  peerName?: string;
  /**
   * Read into these reused buffers instead of a fresh one per read: for a peer that sends
   * bulk data whose frames the caller releases (`receive_buffers.ts`).
   */
  receiveBuffers?: ReceiveBuffers;
}

/** Connects and authenticates to `host:port`. Fails with `UNAVAILABLE`, `AUTH_FAILED`, ... */
export async function dial(
  address: { host: string; port: number },
  options: DialOptions,
): Promise<Connection> {
  const where = `${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
  const remote = options.peerName ? `${options.peerName} ${where}` : where;
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const receiver = options.receiveBuffers?.receiver();
  const socket = connectTcp({
    host: address.host,
    port: address.port,
    noDelay: true,
    ...(receiver === undefined ? {} : { onread: receiver.onread }),
  });
  receiver?.attach(socket);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new BigFsError(
          "UNAVAILABLE",
          `Cannot connect to ${remote}: timed out after ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      resolve();
    });
    const onError = (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new BigFsError(
          "UNAVAILABLE",
          `Cannot connect to ${remote}: ${error.code ?? error.message}`,
        ),
      );
    };
    socket.once("error", onError);
  });
  const { leftover } = await initiateHandshake(socket, {
    secret: options.secret,
    role: options.role,
    remote,
    timeoutMs,
  });
  receiver?.shareViews();
  const { receiveBuffers: _, ...connectionOptions } = options;
  return new Connection(socket, {
    ...connectionOptions,
    initiator: true,
    remote,
    leftover,
    ...(receiver === undefined ? {} : { receiver }),
  });
}
