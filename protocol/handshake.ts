/**
 * The connection handshake: a preface from each side, then mutual HMAC-SHA256
 * challenge-response over the cluster secret. Until it completes, the accepting side serves
 * nothing: the only frame it reads is the one AUTH request.
 *
 * Preface, 40 bytes, sent by each side as soon as the TCP connection is up:
 *
 * ```text
 * offset size field
 *      0    4 magic    "BGFS" (0x42 0x47 0x46 0x53)
 *      4    2 version  u16, protocol version (this code speaks 1)
 *      6    1 role     u8: 1 client, 2 DataNode, 3 NameNode
 *      7    1 reserved 0
 *      8   32 nonce    random bytes, new for every connection
 * ```
 *
 * Then, as frames (see `frame.ts`):
 * 1. initiator → acceptor: REQUEST AUTH `{ proof }`, where
 *    `proof = HMAC-SHA256(secret, "bigfs handshake v1 initiator" ‖ initiatorPreface ‖ acceptorPreface)`.
 * 2. The acceptor checks it. Wrong: ERROR AUTH_FAILED and close. Right: RESPONSE AUTH
 *    `{ proof }` with the label `"bigfs handshake v1 acceptor"`, proving it knows the secret too.
 * 3. The initiator checks that proof; wrong, it closes with AUTH_FAILED.
 *
 * The proofs cover both prefaces, so both nonces, versions and roles: a recorded handshake is
 * worth nothing on a new connection. The acceptor proves itself only after the initiator has,
 * so a peer without the secret learns nothing but the acceptor's preface. A version mismatch
 * is seen by both sides in each other's preface and ends the connection with an error naming
 * both versions.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";
import { BigFsError } from "./errors.js";
import {
  encodeControlFrame,
  encodeErrorFrame,
  type Frame,
  FrameKind,
  frameHeaderBytes,
} from "./frame.js";
import { FrameDecoder } from "./frame_decoder.js";
import { Messages } from "./messages.js";

/** The protocol version this code speaks. */
export const protocolVersion = 1;
/** Bytes in a preface. */
export const prefaceBytes = 40;
const magic = Buffer.from("BGFS", "latin1");

/** Who is at the other end of a connection. */
export const PeerRole = { client: 1, datanode: 2, namenode: 3 } as const;
/** A role's name. */
export type PeerRoleName = keyof typeof PeerRole;

const roleNames = new Map<number, PeerRoleName>(
  Object.entries(PeerRole).map(([name, value]) => [value, name as PeerRoleName]),
);

/** Shortest cluster secret accepted, in bytes. */
export const secretBytesMin = 16;

/** Options for {@linkcode initiateHandshake} and {@linkcode acceptHandshake}. */
export interface HandshakeOptions {
  /** The cluster secret; at least 16 bytes. */
  secret: Uint8Array;
  /** Our role. */
  role: PeerRoleName;
  /** Give up after this long; default 10 s. */
  timeoutMs?: number;
  /** The peer, for messages. */
  remote?: string;
  /** Roles the acceptor lets in; default all. */
  allowedRoles?: readonly PeerRoleName[];
  /** Protocol version to announce; only tests set it. */
  version?: number;
}

/** What a completed handshake tells. */
export interface HandshakeResult {
  /** The peer's role. */
  peerRole: PeerRoleName;
  /** Bytes that arrived after the handshake; they belong to the first frames. */
  leftover: Uint8Array[];
}

/** Builds a preface with a fresh nonce. */
export function encodePreface(role: PeerRoleName, version = protocolVersion): Buffer {
  const preface = Buffer.alloc(prefaceBytes);
  magic.copy(preface, 0);
  preface.writeUInt16BE(version, 4);
  preface.writeUInt8(PeerRole[role], 6);
  randomBytes(32).copy(preface, 8);
  return preface;
}

function proofOf(
  secret: Uint8Array,
  label: string,
  initiator: Uint8Array,
  acceptor: Uint8Array,
): Buffer {
  return createHmac("sha256", secret).update(label).update(initiator).update(acceptor).digest();
}

function sameProof(expected: Buffer, got: Uint8Array): boolean {
  return got.byteLength === expected.byteLength && timingSafeEqual(expected, got);
}

function checkSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.byteLength < secretBytesMin) {
    throw new BigFsError(
      "AUTH_FAILED",
      `Cannot authenticate: the cluster secret must be at least ${secretBytesMin} bytes`,
    );
  }
}

/** Reads exact byte counts from a socket during the handshake, with one deadline for all. */
class HandshakeReader {
  readonly #socket: Socket;
  readonly #remote: string;
  #pieces: Buffer[] = [];
  #buffered = 0;
  #wanted = 0;
  #waiter: { resolve: (bytes: Buffer) => void; reject: (error: BigFsError) => void } | undefined;
  #failure: BigFsError | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #onData = (bytes: Buffer) => {
    this.#pieces.push(bytes);
    this.#buffered += bytes.byteLength;
    this.#deliver();
  };
  readonly #onEnd = () =>
    this.#fail(
      new BigFsError("UNAVAILABLE", `Handshake with ${this.#remote} failed: connection closed`),
    );
  readonly #onError = (error: Error) =>
    this.#fail(
      new BigFsError("UNAVAILABLE", `Handshake with ${this.#remote} failed: ${error.message}`),
    );

  constructor(socket: Socket, remote: string, timeoutMs: number) {
    this.#socket = socket;
    this.#remote = remote;
    socket.on("data", this.#onData);
    socket.on("close", this.#onEnd);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    this.#timer = setTimeout(
      () =>
        this.#fail(
          new BigFsError("TIMEOUT", `Handshake with ${remote} timed out after ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
  }

  read(count: number): Promise<Buffer> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#wanted = count;
      this.#waiter = { resolve, reject };
      this.#deliver();
    });
  }

  /** Reads one frame whose payload may be at most `payloadBytesMax`. */
  async readFrame(payloadBytesMax: number): Promise<Frame> {
    const header = await this.read(frameHeaderBytes);
    const payloadBytes = header.readUInt32BE(0);
    if (payloadBytes > payloadBytesMax) {
      throw new BigFsError(
        "PROTOCOL",
        `Handshake with ${this.#remote} failed: oversized handshake frame`,
      );
    }
    const payload = await this.read(payloadBytes);
    const { frames, error } = new FrameDecoder({ payloadBytesMax }).push(
      Buffer.concat([header, payload]),
    );
    if (error)
      throw new BigFsError("PROTOCOL", `Handshake with ${this.#remote} failed: ${error.message}`);
    return frames[0]!;
  }

  /** Stops listening; the socket is paused so no byte is lost before the connection takes it. */
  detach(): Uint8Array[] {
    clearTimeout(this.#timer);
    this.#socket.pause();
    this.#socket.off("data", this.#onData);
    this.#socket.off("close", this.#onEnd);
    this.#socket.off("end", this.#onEnd);
    this.#socket.off("error", this.#onError);
    const leftover = this.#pieces;
    this.#pieces = [];
    return leftover;
  }

  #deliver(): void {
    const waiter = this.#waiter;
    if (waiter === undefined || this.#buffered < this.#wanted) return;
    this.#waiter = undefined;
    const joined = Buffer.concat(this.#pieces);
    const wanted = joined.subarray(0, this.#wanted);
    const rest = joined.subarray(this.#wanted);
    this.#pieces = rest.byteLength > 0 ? [rest] : [];
    this.#buffered = rest.byteLength;
    waiter.resolve(wanted);
  }

  #fail(error: BigFsError): void {
    if (this.#failure) return;
    this.#failure = error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }
}

/** Reads the peer's preface; a stranger is refused on its first four bytes. */
async function readPreface(
  reader: HandshakeReader,
  remote: string,
  ourVersion: number,
): Promise<{ preface: Buffer; peerRole: PeerRoleName }> {
  const head = await reader.read(magic.byteLength);
  if (!head.equals(magic)) {
    throw new BigFsError(
      "PROTOCOL",
      `Handshake with ${remote} failed: not a BigFS peer (bad magic)`,
    );
  }
  const preface = Buffer.concat([head, await reader.read(prefaceBytes - magic.byteLength)]);
  return { preface, peerRole: checkPreface(preface, remote, ourVersion) };
}

function checkPreface(preface: Buffer, remote: string, ourVersion: number): PeerRoleName {
  const version = preface.readUInt16BE(4);
  if (version !== ourVersion) {
    throw new BigFsError(
      "PROTOCOL",
      `Handshake with ${remote} failed: protocol version mismatch: the peer speaks version ${version}, this side speaks version ${ourVersion}`,
    );
  }
  const role = roleNames.get(preface.readUInt8(6));
  if (role === undefined) {
    throw new BigFsError(
      "PROTOCOL",
      `Handshake with ${remote} failed: unknown role ${preface.readUInt8(6)}`,
    );
  }
  return role;
}

const authOpcode = Messages.AUTH.opcode;
const initiatorLabel = "bigfs handshake v1 initiator";
const acceptorLabel = "bigfs handshake v1 acceptor";

/** Runs the handshake on a socket we opened. Rejects with `AUTH_FAILED`, `PROTOCOL`, ... */
export async function initiateHandshake(
  socket: Socket,
  options: HandshakeOptions,
): Promise<HandshakeResult> {
  checkSecret(options.secret);
  const remote = options.remote ?? `${socket.remoteAddress}:${socket.remotePort}`;
  const reader = new HandshakeReader(socket, remote, options.timeoutMs ?? 10_000);
  try {
    const ours = encodePreface(options.role, options.version);
    socket.write(ours);
    const { preface: theirs, peerRole } = await readPreface(
      reader,
      remote,
      options.version ?? protocolVersion,
    );
    const proof = proofOf(options.secret, initiatorLabel, ours, theirs);
    socket.write(encodeControlFrame(FrameKind.REQUEST, authOpcode, 1, { proof }));
    const answer = await reader.readFrame(1024);
    if (answer.kind === FrameKind.ERROR) {
      throw new BigFsError(answer.code, `Cannot connect to ${remote}: ${answer.message}`);
    }
    if (answer.kind !== FrameKind.RESPONSE || answer.opcode !== authOpcode) {
      throw new BigFsError("PROTOCOL", `Handshake with ${remote} failed: unexpected frame`);
    }
    const expected = proofOf(options.secret, acceptorLabel, ours, theirs);
    if (!sameProof(expected, (answer.body as { proof: Uint8Array }).proof)) {
      throw new BigFsError(
        "AUTH_FAILED",
        `Cannot connect to ${remote}: the server could not prove it knows the cluster secret`,
      );
    }
    return { peerRole, leftover: reader.detach() };
  } catch (error) {
    reader.detach();
    socket.destroy();
    throw error;
  }
}

/** Runs the handshake on a socket we accepted. Rejects (and closes it) when the peer fails. */
export async function acceptHandshake(
  socket: Socket,
  options: HandshakeOptions,
): Promise<HandshakeResult> {
  checkSecret(options.secret);
  const remote = options.remote ?? `${socket.remoteAddress}:${socket.remotePort}`;
  const reader = new HandshakeReader(socket, remote, options.timeoutMs ?? 10_000);
  try {
    const ours = encodePreface(options.role, options.version);
    socket.write(ours);
    const { preface: theirs, peerRole } = await readPreface(
      reader,
      remote,
      options.version ?? protocolVersion,
    );
    if (options.allowedRoles && !options.allowedRoles.includes(peerRole)) {
      throw new BigFsError(
        "AUTH_FAILED",
        `Handshake with ${remote} failed: a ${peerRole} may not connect here`,
      );
    }
    const request = await reader.readFrame(1024);
    if (request.kind !== FrameKind.REQUEST || request.opcode !== authOpcode) {
      throw new BigFsError(
        "AUTH_FAILED",
        `Handshake with ${remote} failed: a request came before authentication`,
      );
    }
    const expected = proofOf(options.secret, initiatorLabel, theirs, ours);
    if (!sameProof(expected, (request.body as { proof: Uint8Array }).proof)) {
      throw new BigFsError("AUTH_FAILED", `Handshake with ${remote} failed: wrong cluster secret`);
    }
    const proof = proofOf(options.secret, acceptorLabel, theirs, ours);
    socket.write(encodeControlFrame(FrameKind.RESPONSE, authOpcode, request.requestId, { proof }));
    return { peerRole, leftover: reader.detach() };
  } catch (error) {
    reader.detach();
    const reason = error instanceof BigFsError ? error : new BigFsError("PROTOCOL", String(error));
    if (!socket.destroyed && reason.code !== "UNAVAILABLE" && reason.code !== "TIMEOUT") {
      // Say why, without detail a stranger could use; then hang up.
      const message =
        reason.code === "AUTH_FAILED"
          ? "authentication failed: wrong cluster secret or not allowed"
          : reason.message;
      socket.end(encodeErrorFrame(0, 0, reason.code, message));
      setTimeout(() => socket.destroy(), 1_000).unref();
    } else {
      socket.destroy();
    }
    throw reason;
  }
}
