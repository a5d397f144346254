/**
 * Chunk access tokens, as HDFS block tokens: the NameNode mints one for each chunk operation it
 * allows, the client hands it to the DataNode, and the DataNode serves the request only if the
 * token verifies. DataNodes never ask the NameNode: the token carries the grant and an
 * HMAC-SHA256 that only holders of the cluster secret can make.
 *
 * Tokens are signed not with the cluster secret itself but with a subkey derived from it,
 * `HMAC-SHA256(secret, "bigfs chunk token v1")` ({@linkcode deriveChunkTokenKey}), so a token MAC
 * can never be replayed as, or confused with, a MAC of the connection handshake, which uses the
 * raw secret under its own labels.
 *
 * ## Wire format, version 1 (58 bytes, integers big-endian)
 *
 * | offset | size | field                                                          |
 * |-------:|-----:|----------------------------------------------------------------|
 * |      0 |    1 | version, u8: 1                                                 |
 * |      1 |    1 | operation, u8: 1 read, 2 write, 3 replicate, 4 delete          |
 * |      2 |    8 | chunk id, u64                                                  |
 * |     10 |    8 | generation, u64                                                |
 * |     18 |    8 | expiry, u64 ms since the Unix epoch; the token is valid before |
 * |     26 |   32 | HMAC-SHA256 under the derived key over bytes 0 to 25           |
 *
 * The token travels as a CBOR byte string inside control messages. A new version may change
 * everything after byte 0; a verifier refuses versions it does not know.
 *
 * @module
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import { BigFsError } from "./errors.js";

/** What a chunk token allows its holder to do to one chunk. */
export type ChunkOperation = "read" | "write" | "replicate" | "delete";

/** What a chunk token grants: one operation on one generation of one chunk, until an expiry. */
export interface ChunkGrant {
  /** The chunk, a u64. */
  chunkId: bigint;
  /** The chunk's generation, a u64; a replica of another generation is not this chunk. */
  generation: bigint;
  /** The one operation allowed. */
  operation: ChunkOperation;
  /** The token is valid while the clock reads less than this, in ms since the Unix epoch. */
  expiresAtMs: number;
}

/** What a DataNode is about to do, for {@linkcode verifyChunkToken} to check the token against. */
export interface ChunkTokenExpectation {
  /** The chunk the request is for. */
  chunkId: bigint;
  /** The operation the request asks for. */
  operation: ChunkOperation;
  /** The generation the DataNode holds or will write; not checked when absent. */
  generation?: bigint;
  /** The time to check the expiry against, in ms since the Unix epoch; `Date.now()` if absent. */
  nowMs?: number;
}

const version = 1;
const signedSizeBytes = 26;
const macSizeBytes = 32;

/** The size of a version 1 chunk token: 58. */
export const chunkTokenSizeBytes = signedSizeBytes + macSizeBytes;
const keyLabel = "bigfs chunk token v1";
const u64Max = 2n ** 64n - 1n;

// The latest instant a Date can hold, so every expiry can be printed in a message.
const expiresAtMsMax = 8.64e15;

// Wire values; never renumber.
const operationCodes = new Map<ChunkOperation, number>([
  ["read", 1],
  ["write", 2],
  ["replicate", 3],
  ["delete", 4],
]);
const operationsByCode = new Map<number, ChunkOperation>(
  [...operationCodes].map(([operation, code]) => [code, operation]),
);

/**
 * Derives the key that signs chunk tokens from the cluster secret:
 * `HMAC-SHA256(secret, "bigfs chunk token v1")`, 32 bytes.
 */
export function deriveChunkTokenKey(secret: Uint8Array): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.byteLength === 0) {
    throw new TypeError("Cannot derive the chunk token key: the cluster secret is empty");
  }
  return createHmac("sha256", secret).update(keyLabel).digest();
}

// The signing key of each secret in use, derived once: every chunk read and write mints or
// checks a token, and deriving the key each time doubled the HMAC work.
const signingKeys = new WeakMap<Uint8Array, KeyObject>();

function mac(secret: Uint8Array, signed: Uint8Array): Buffer {
  let key = signingKeys.get(secret);
  if (key === undefined) {
    key = createSecretKey(deriveChunkTokenKey(secret));
    signingKeys.set(secret, key);
  }
  return createHmac("sha256", key).update(signed).digest();
}

function assertU64(value: bigint, field: string): void {
  if (typeof value !== "bigint") {
    throw new TypeError(`Cannot mint a chunk token: ${field} ${String(value)} is not a bigint`);
  }
  if (value < 0n || value > u64Max) {
    throw new RangeError(`Cannot mint a chunk token: ${field} ${value} is not a u64`);
  }
}

/**
 * Mints a token for `grant`, signed with a key derived from the cluster `secret`.
 *
 * @throws {TypeError} or {RangeError} when a field of `grant` cannot be encoded: a bug in the
 * caller, since the NameNode makes every grant itself.
 */
export function mintChunkToken(secret: Uint8Array, grant: ChunkGrant): Uint8Array {
  assertU64(grant.chunkId, "chunk id");
  assertU64(grant.generation, "generation");
  const code = operationCodes.get(grant.operation);
  if (code === undefined) {
    throw new RangeError(`Cannot mint a chunk token: unknown operation ${String(grant.operation)}`);
  }
  const expiresAtMs = grant.expiresAtMs;
  if (!Number.isInteger(expiresAtMs) || expiresAtMs < 0 || expiresAtMs > expiresAtMsMax) {
    throw new RangeError(
      `Cannot mint a chunk token: expiry ${expiresAtMs} is not a whole number of ms a Date can hold`,
    );
  }
  const token = new Uint8Array(chunkTokenSizeBytes);
  const view = new DataView(token.buffer);
  view.setUint8(0, version);
  view.setUint8(1, code);
  view.setBigUint64(2, grant.chunkId);
  view.setBigUint64(10, grant.generation);
  view.setBigUint64(18, BigInt(expiresAtMs));
  token.set(mac(secret, token.subarray(0, signedSizeBytes)), signedSizeBytes);
  return token;
}

function refuse(expected: ChunkTokenExpectation, why: string): BigFsError {
  return new BigFsError(
    "ACCESS_DENIED",
    `Cannot ${String(expected.operation)} chunk ${String(expected.chunkId)}: ${why}`,
  );
}

/**
 * Checks that `token` was minted with the cluster `secret` and grants `expected.operation` on
 * `expected.chunkId` (at `expected.generation`, when given) now, and returns its grant.
 *
 * Whatever the bytes, it either returns or throws a {@linkcode BigFsError}: tokens come from
 * peers, and a bad one is an operating error, not a bug.
 *
 * @throws {BigFsError} with code `ACCESS_DENIED`, saying why the token was refused.
 */
export function verifyChunkToken(
  secret: Uint8Array,
  token: Uint8Array,
  expected: ChunkTokenExpectation,
): ChunkGrant {
  // The type says Uint8Array, but the value comes out of a peer's CBOR, which may hold anything.
  if (!(token instanceof Uint8Array)) {
    throw refuse(expected, "token is malformed: not a byte string");
  }
  if (token.byteLength !== chunkTokenSizeBytes) {
    throw refuse(
      expected,
      `token is malformed: ${token.byteLength} bytes, expected ${chunkTokenSizeBytes}`,
    );
  }
  const view = new DataView(token.buffer, token.byteOffset, token.byteLength);
  const tokenVersion = view.getUint8(0);
  if (tokenVersion !== version) {
    throw refuse(expected, `token is malformed: unknown version ${tokenVersion}`);
  }
  const expectedMac = mac(secret, token.subarray(0, signedSizeBytes));
  if (!timingSafeEqual(expectedMac, token.subarray(signedSizeBytes))) {
    throw refuse(expected, "token has a bad signature");
  }
  const operationCode = view.getUint8(1);
  const operation = operationsByCode.get(operationCode);
  const expiresAt = view.getBigUint64(18);
  // A correctly signed token that mint could not have made means a bug or a leaked key.
  if (operation === undefined) {
    throw refuse(expected, `token is malformed: unknown operation code ${operationCode}`);
  }
  if (expiresAt > BigInt(expiresAtMsMax)) {
    throw refuse(expected, `token is malformed: expiry ${expiresAt} is out of range`);
  }
  const grant: ChunkGrant = {
    chunkId: view.getBigUint64(2),
    generation: view.getBigUint64(10),
    operation,
    expiresAtMs: Number(expiresAt),
  };
  const nowMs = expected.nowMs ?? Date.now();
  if (!(nowMs < grant.expiresAtMs)) {
    throw refuse(
      expected,
      `token expired at ${new Date(grant.expiresAtMs).toISOString()}, ` +
        `${nowMs - grant.expiresAtMs} ms ago`,
    );
  }
  if (grant.chunkId !== expected.chunkId) {
    throw refuse(expected, `token is granted for chunk ${grant.chunkId}`);
  }
  if (grant.operation !== expected.operation) {
    throw refuse(expected, `token is granted for ${grant.operation}, not ${expected.operation}`);
  }
  if (expected.generation !== undefined && grant.generation !== expected.generation) {
    throw refuse(
      expected,
      `token is granted for generation ${grant.generation}, not ${expected.generation}`,
    );
  }
  return grant;
}
