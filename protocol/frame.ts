/**
 * The BigFS frame format. All integers are big-endian.
 *
 * A connection starts with a 40-byte preface from each side (see `handshake.ts`), then both
 * sides exchange frames. Every frame opens with a 12-byte header:
 *
 * ```text
 * offset size field
 *      0    4 payloadBytes  u32  bytes that follow this header (at most the receiver's maximum)
 *      4    1 kind          u8   1 REQUEST, 2 RESPONSE, 3 ERROR, 4 PUSH, 5 DATA, 6 MESSAGE, 7 CANCEL
 *      5    1 opcode        u8   which message (see `messages.ts`); 0 for DATA and CANCEL
 *      6    2 flags         u16  bit 0: END (last DATA frame of a stream); other bits 0
 *      8    4 requestId     u32  the request this frame belongs to; 0 for PUSH and for
 *                                connection-level ERROR frames
 * ```
 *
 * Payloads by kind:
 * - REQUEST, RESPONSE, PUSH, MESSAGE: one CBOR item, the message body. A REQUEST opens
 *   `requestId`; a RESPONSE or ERROR closes it; MESSAGE frames travel inside an open request
 *   in either direction (pipeline acks).
 * - ERROR: a CBOR array `[code, message]`, `code` a number from `errors.ts`.
 * - CANCEL: empty. The requester gave up on `requestId` (deadline); the handler is aborted.
 * - DATA: chunk bytes inside an open request, in either direction, after a 28-byte header:
 *
 * ```text
 *      0    8 chunkId       u64
 *      8    8 offset        u64  byte offset of these bytes within the chunk
 *     16    4 dataBytes     u32  must equal payloadBytes - 28
 *     20    8 xxh64         u64  xxh64 (seed 0) of the data bytes
 *     28    n data
 * ```
 *
 * Chunk bytes are never re-encoded: a sender writes the 40 header bytes and then the caller's
 * own buffer to the socket; a receiver hands out a view of the bytes it read.
 */
import { Encoder } from "cbor-x";
import { BigFsError, ErrorCode, type ErrorCodeName } from "./errors.js";

/** Bytes in every frame header. */
export const frameHeaderBytes = 12;
/** Bytes in a DATA frame's own header, after the frame header. */
export const dataHeaderBytes = 28;
/** Default largest payload a receiver accepts: 16 MiB. */
export const payloadBytesMaxDefault = 16 * 1024 * 1024;

/** Frame kinds; their values are wire format. */
export const FrameKind = {
  REQUEST: 1,
  RESPONSE: 2,
  ERROR: 3,
  PUSH: 4,
  DATA: 5,
  MESSAGE: 6,
  CANCEL: 7,
} as const;
/** A frame kind's wire value. */
export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind];

/** Flag bit on DATA frames: the last frame of the stream. */
export const flagEnd = 1;

/** A control frame (REQUEST, RESPONSE, PUSH, MESSAGE) with its decoded, checked body. */
export interface ControlFrame {
  kind: 1 | 2 | 4 | 6;
  opcode: number;
  requestId: number;
  body: unknown;
}

/** An ERROR frame. */
export interface ErrorFrame {
  kind: 3;
  opcode: number;
  requestId: number;
  code: ErrorCodeName;
  message: string;
}

/** A CANCEL frame. */
export interface CancelFrame {
  kind: 7;
  opcode: number;
  requestId: number;
}

/**
 * A DATA frame. Its data bytes are `parts`: views of the buffers the socket was read into, in
 * order, never copied; a frame larger than one socket read spans several. A receiver that can
 * work on pieces (hash, write to a file, forward to a socket) uses `parts`; `bytes` joins them
 * into one view, with one copy when there is more than one part.
 */
export interface DataFrame {
  kind: 5;
  opcode: number;
  requestId: number;
  chunkId: bigint;
  offset: bigint;
  xxh64: bigint;
  end: boolean;
  /** The data bytes as received: one or more views, in order. */
  readonly parts: readonly Uint8Array[];
  /** Bytes in `parts`. */
  readonly byteLength: number;
  /** The data bytes as one view (joined from `parts` on first use when there are several). */
  readonly bytes: Uint8Array;
  /**
   * Present when `parts` are views of reused receive buffers (`receive_buffers.ts`): the
   * consumer calls it once it no longer reads them, and the buffers may then be read into
   * again. Idempotent. Not calling it is safe: the buffers are then not reused.
   */
  release?: () => void;
}

/** Any decoded frame. */
export type Frame = ControlFrame | ErrorFrame | CancelFrame | DataFrame;

/** The CBOR codec for control payloads: plain maps and byte strings, nothing clever. */
export const cbor = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  structuredClone: false,
  bundleStrings: false,
});

function header(
  kind: FrameKindValue,
  opcode: number,
  requestId: number,
  payloadBytes: number,
  extraBytes = 0,
): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + extraBytes);
  frame.writeUInt32BE(payloadBytes, 0);
  frame.writeUInt8(kind, 4);
  frame.writeUInt8(opcode, 5);
  frame.writeUInt16BE(0, 6);
  frame.writeUInt32BE(requestId >>> 0, 8);
  return frame;
}

/** Encodes a REQUEST, RESPONSE, PUSH or MESSAGE frame with a CBOR body, as one buffer. */
export function encodeControlFrame(
  kind: ControlFrame["kind"],
  opcode: number,
  requestId: number,
  body: unknown,
): Buffer {
  return encodeCborFrame(kind, opcode, requestId, body);
}

/** Encodes an ERROR frame. */
export function encodeErrorFrame(
  opcode: number,
  requestId: number,
  code: ErrorCodeName,
  message: string,
): Buffer {
  return encodeCborFrame(FrameKind.ERROR, opcode, requestId, [ErrorCode[code], message]);
}

function encodeCborFrame(
  kind: FrameKindValue,
  opcode: number,
  requestId: number,
  body: unknown,
): Buffer {
  // Encoded into cbor-x's own buffer, which is then reused from the same place: the payload
  // is copied straight into the frame, with no buffer or view made for it on the way (every
  // small request and response passes here).
  const encoded = encodeInPlace(body);
  const payloadBytes = encoded.end - encoded.start;
  const frame = header(kind, opcode, requestId, payloadBytes, payloadBytes);
  encoded.copy(frame, frameHeaderBytes, encoded.start, encoded.end);
  return frame;
}

/**
 * `value` as CBOR in a buffer of its own, exactly its size. `cbor.encode` hands out a view of
 * an 8 KiB buffer that it leaves behind for a new one every few calls, which a caller that
 * keeps the bytes then copies anyway.
 */
export function encodeCbor(value: unknown): Uint8Array {
  const encoded = encodeInPlace(value);
  const bytes = new Uint8Array(encoded.end - encoded.start);
  encoded.copy(bytes, 0, encoded.start, encoded.end);
  return bytes;
}

/** cbor-x's `REUSE_BUFFER_MODE | RESET_BUFFER_MODE`: see {@linkcode encodeInPlace}. */
const reuseAndResetBuffer = 512 | 1024;

/**
 * Encodes `body` into the encoder's own buffer and returns that buffer with the payload's
 * place in it; valid only until the next encode, so the caller copies it out at once.
 */
function encodeInPlace(body: unknown): Buffer & { start: number; end: number } {
  return (cbor as unknown as InPlaceEncoder).encode(body, reuseAndResetBuffer);
}

/** How cbor-x's `encode` answers when given a buffer mode (its types omit the mode). */
interface InPlaceEncoder {
  encode(value: unknown, mode: number): Buffer & { start: number; end: number };
}

/** Encodes a CANCEL frame. */
export function encodeCancelFrame(requestId: number): Buffer {
  return header(FrameKind.CANCEL, 0, requestId, 0);
}

/** The fields of a DATA frame's header. */
export interface DataFrameFields {
  requestId: number;
  chunkId: bigint;
  offset: bigint;
  dataBytes: number;
  xxh64: bigint;
  end: boolean;
}

/**
 * Encodes the 40 header bytes of a DATA frame; the caller writes the data bytes right after
 * them, from its own buffer, so chunk bytes are never copied to build a frame.
 */
export function encodeDataFrameHeader(fields: DataFrameFields): Buffer {
  const frame = header(
    FrameKind.DATA,
    0,
    fields.requestId,
    dataHeaderBytes + fields.dataBytes,
    dataHeaderBytes,
  );
  frame.writeUInt16BE(fields.end ? flagEnd : 0, 6);
  frame.writeBigUInt64BE(fields.chunkId, 12);
  frame.writeBigUInt64BE(fields.offset, 20);
  frame.writeUInt32BE(fields.dataBytes, 28);
  frame.writeBigUInt64BE(fields.xxh64, 32);
  return frame;
}

/** Builds the error a caller sees from an ERROR frame. */
export function errorFromFrame(frame: ErrorFrame): BigFsError {
  return new BigFsError(frame.code, frame.message);
}
