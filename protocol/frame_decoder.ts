/**
 * Incremental frame decoder: feed it bytes as the socket delivers them, split anywhere, and
 * it returns every frame completed so far. See `frame.ts` for the format.
 *
 * It never throws and never buffers more than one header plus one declared payload: a length
 * above the maximum is refused as soon as the header is read, before any of the payload is
 * kept. The first malformed frame poisons the decoder, because after it the byte stream has
 * no trustworthy frame boundary; the connection must be closed.
 */
import { BigFsError, errorCodeName } from "./errors.js";
import {
  cbor,
  type DataFrame,
  dataHeaderBytes,
  type Frame,
  FrameKind,
  flagEnd,
  frameHeaderBytes,
  payloadBytesMaxDefault,
} from "./frame.js";
import { opcodeEntry } from "./messages.js";
import type { Schema } from "./schema.js";

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest payload accepted, in bytes; default 16 MiB. */
  payloadBytesMax?: number;
  /**
   * Decode control payloads from a copy, so no decoded value points into the bytes pushed:
   * for a socket whose read buffers are reused (`receive_buffers.ts`). Default false.
   */
  copyControlPayloads?: boolean;
}

/** What one call to {@linkcode FrameDecoder.push} produced. */
export interface FrameDecodeResult {
  /** Frames completed by these bytes, in order. */
  frames: Frame[];
  /** Set when the stream is malformed; frames before the fault are still in `frames`. */
  error?: BigFsError;
}

interface PendingHeader {
  payloadBytes: number;
  kind: number;
  opcode: number;
  flags: number;
  requestId: number;
}

function protocolError(detail: string): BigFsError {
  return new BigFsError("PROTOCOL", `Cannot decode frame: ${detail}`);
}

/** Turns a byte stream into frames. */
export class FrameDecoder {
  readonly #payloadBytesMax: number;
  readonly #copyControlPayloads: boolean;
  #pieces: Uint8Array[] = [];
  #bufferedBytes = 0;
  #header: PendingHeader | undefined;
  #error: BigFsError | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.#payloadBytesMax = options.payloadBytesMax ?? payloadBytesMaxDefault;
    this.#copyControlPayloads = options.copyControlPayloads ?? false;
  }

  /** The bytes received but not yet part of a complete frame, as views of what was pushed. */
  get pieces(): readonly Uint8Array[] {
    return this.#pieces;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    // A parsed header waiting for its payload still counts: its frame is not complete.
    return this.#bufferedBytes + (this.#header === undefined ? 0 : frameHeaderBytes);
  }

  /** The error that poisoned this decoder, if any. */
  get error(): BigFsError | undefined {
    return this.#error;
  }

  /** Adds bytes and returns the frames they complete. */
  push(bytes: Uint8Array): FrameDecodeResult {
    const frames: Frame[] = [];
    if (this.#error) return { frames, error: this.#error };
    if (bytes.byteLength > 0) {
      this.#pieces.push(bytes);
      this.#bufferedBytes += bytes.byteLength;
    }
    for (;;) {
      if (this.#header === undefined) {
        if (this.#bufferedBytes < frameHeaderBytes) break;
        const header = this.#readHeader(this.#take(frameHeaderBytes));
        if (header instanceof BigFsError) return this.#fail(frames, header);
        this.#header = header;
      }
      const header = this.#header;
      if (this.#bufferedBytes < header.payloadBytes) break;
      this.#header = undefined;
      // A DATA frame's bytes stay in the pieces they arrived in: only its own header is taken
      // out (copied when it spans two reads: 28 bytes); a control frame is taken whole.
      const frame =
        header.kind === FrameKind.DATA
          ? this.#decodePayload(
              header,
              this.#take(dataHeaderBytes),
              this.#takeParts(header.payloadBytes - dataHeaderBytes),
            )
          : this.#decodePayload(header, this.#takeControl(header.payloadBytes));
      if (frame instanceof BigFsError) return this.#fail(frames, frame);
      frames.push(frame);
    }
    return { frames };
  }

  #fail(frames: Frame[], error: BigFsError): FrameDecodeResult {
    this.#error = error;
    this.#pieces = [];
    this.#bufferedBytes = 0;
    return { frames, error };
  }

  /** Removes `count` buffered bytes: a view when they sit in one piece, else one copy. */
  #take(count: number): Uint8Array {
    this.#bufferedBytes -= count;
    const first = this.#pieces[0];
    if (count === 0) return new Uint8Array(0);
    if (first !== undefined && first.byteLength >= count) {
      if (first.byteLength === count) this.#pieces.shift();
      else this.#pieces[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const joined = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const piece = this.#pieces[0]!;
      const used = Math.min(piece.byteLength, count - filled);
      joined.set(piece.subarray(0, used), filled);
      filled += used;
      if (used === piece.byteLength) this.#pieces.shift();
      else this.#pieces[0] = piece.subarray(used);
    }
    return joined;
  }

  /** Removes a control payload: a copy when the options ask for one, else as #take does. */
  #takeControl(count: number): Uint8Array {
    const inOnePiece = (this.#pieces[0]?.byteLength ?? 0) >= count;
    const payload = this.#take(count);
    return this.#copyControlPayloads && inOnePiece ? new Uint8Array(payload) : payload;
  }

  /** Removes `count` buffered bytes as views of the pieces they sit in: no copy. */
  #takeParts(count: number): Uint8Array[] {
    this.#bufferedBytes -= count;
    const parts: Uint8Array[] = [];
    let left = count;
    while (left > 0) {
      const piece = this.#pieces[0]!;
      if (piece.byteLength <= left) {
        parts.push(piece);
        this.#pieces.shift();
        left -= piece.byteLength;
      } else {
        parts.push(piece.subarray(0, left));
        this.#pieces[0] = piece.subarray(left);
        left = 0;
      }
    }
    return parts;
  }

  #readHeader(bytes: Uint8Array): PendingHeader | BigFsError {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const header: PendingHeader = {
      payloadBytes: view.getUint32(0),
      kind: view.getUint8(4),
      opcode: view.getUint8(5),
      flags: view.getUint16(6),
      requestId: view.getUint32(8),
    };
    if (header.payloadBytes > this.#payloadBytesMax) {
      return protocolError(
        `declared payload of ${header.payloadBytes} bytes exceeds the maximum of ${this.#payloadBytesMax}`,
      );
    }
    if (header.kind < FrameKind.REQUEST || header.kind > FrameKind.CANCEL) {
      return protocolError(`unknown frame kind ${header.kind}`);
    }
    const allowedFlags = header.kind === FrameKind.DATA ? flagEnd : 0;
    if ((header.flags & ~allowedFlags) !== 0) {
      return protocolError(
        `unknown flags 0x${header.flags.toString(16)} on a kind ${header.kind} frame`,
      );
    }
    if (header.kind === FrameKind.DATA || header.kind === FrameKind.CANCEL) {
      if (header.opcode !== 0)
        return protocolError(`opcode ${header.opcode} on a kind ${header.kind} frame`);
      if (header.kind === FrameKind.DATA && header.payloadBytes < dataHeaderBytes) {
        return protocolError(
          `DATA frame of ${header.payloadBytes} bytes is shorter than its header`,
        );
      }
      if (header.kind === FrameKind.CANCEL && header.payloadBytes !== 0) {
        return protocolError("CANCEL frame with a payload");
      }
    } else if (this.#schemaFor(header.kind, header.opcode) === undefined) {
      if (!(header.kind === FrameKind.ERROR && header.opcode === 0)) {
        return protocolError(`unknown opcode ${header.opcode} for a kind ${header.kind} frame`);
      }
    }
    return header;
  }

  /** The schema a control frame's body must match; `"error"` for ERROR frames. */
  #schemaFor(kind: number, opcode: number): Schema<unknown> | "error" | undefined {
    const entry = opcodeEntry(opcode);
    if (entry === undefined) return undefined;
    switch (kind) {
      case FrameKind.REQUEST:
        return entry.request;
      case FrameKind.RESPONSE:
        return entry.response;
      case FrameKind.MESSAGE:
        return entry.message;
      case FrameKind.PUSH:
        return entry.push;
      case FrameKind.ERROR:
        return "error";
      default:
        return undefined;
    }
  }

  #decodePayload(
    header: PendingHeader,
    payload: Uint8Array,
    parts: readonly Uint8Array[] = [],
  ): Frame | BigFsError {
    const { kind, opcode, requestId } = header;
    if (kind === FrameKind.CANCEL) return { kind, opcode, requestId };
    if (kind === FrameKind.DATA) {
      const view = new DataView(payload.buffer, payload.byteOffset, dataHeaderBytes);
      const dataBytes = view.getUint32(16);
      if (dataBytes !== header.payloadBytes - dataHeaderBytes) {
        return protocolError(
          `DATA frame declares ${dataBytes} data bytes but carries ${header.payloadBytes - dataHeaderBytes}`,
        );
      }
      return new ReceivedDataFrame(
        requestId,
        view.getBigUint64(0),
        view.getBigUint64(8),
        view.getBigUint64(20),
        (header.flags & flagEnd) !== 0,
        parts,
        dataBytes,
      );
    }
    let value: unknown;
    try {
      value = cbor.decode(payload);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      return protocolError(`payload of opcode ${opcode} is not valid CBOR: ${detail}`);
    }
    if (kind === FrameKind.ERROR) {
      const fields: unknown[] = Array.isArray(value) ? value : [];
      const code = typeof fields[0] === "number" ? errorCodeName(fields[0]) : undefined;
      const message = fields[1];
      if (code === undefined || typeof message !== "string" || fields.length !== 2) {
        return protocolError("ERROR frame is not [known code, message]");
      }
      return { kind: FrameKind.ERROR, opcode, requestId, code, message: message.slice(0, 4096) };
    }
    const schema = this.#schemaFor(kind, opcode) as Schema<unknown>;
    try {
      const body = schema.parse(value, opcodeEntry(opcode)!.name);
      return { kind: kind as 1 | 2 | 4 | 6, opcode, requestId, body };
    } catch (error) {
      return error instanceof BigFsError ? error : protocolError(String(error));
    }
  }
}

/** A DATA frame as the decoder hands it out: its bytes in the pieces they arrived in. */
class ReceivedDataFrame implements DataFrame {
  readonly kind = FrameKind.DATA;
  readonly opcode = 0;
  readonly requestId: number;
  readonly chunkId: bigint;
  readonly offset: bigint;
  readonly xxh64: bigint;
  readonly end: boolean;
  readonly parts: readonly Uint8Array[];
  readonly byteLength: number;
  /** Set by a connection reading into reused buffers; an own property only then. */
  declare release?: () => void;
  #joined: Uint8Array | undefined;

  constructor(
    requestId: number,
    chunkId: bigint,
    offset: bigint,
    xxh64: bigint,
    end: boolean,
    parts: readonly Uint8Array[],
    byteLength: number,
  ) {
    this.requestId = requestId;
    this.chunkId = chunkId;
    this.offset = offset;
    this.xxh64 = xxh64;
    this.end = end;
    this.parts = parts;
    this.byteLength = byteLength;
  }

  get bytes(): Uint8Array {
    if (this.#joined === undefined) {
      this.#joined =
        this.parts.length === 1
          ? this.parts[0]!
          : this.parts.length === 0
            ? new Uint8Array(0)
            : Buffer.concat(this.parts as Uint8Array[], this.byteLength);
    }
    return this.#joined;
  }
}
