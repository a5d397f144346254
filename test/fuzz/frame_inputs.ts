/**
 * Fuzz inputs at the frame level, for a connection past its handshake: well-formed requests
 * with hostile bodies, chunk write streams with hostile DATA frames, and frames mutated into
 * something no peer should send (flipped bits, cut short, lengths that lie, unknown kinds and
 * opcodes, bodies of the wrong type or not CBOR at all). Also what a peer sends before the
 * handshake is done.
 *
 * An input is one frame, or one sequence of bytes sent before the handshake.
 */
import {
  encodeCancelFrame,
  encodeControlFrame,
  encodeDataFrameHeader,
  encodeErrorFrame,
  encodePreface,
  FrameKind,
  frameHeaderBytes,
  type MessageName,
  Messages,
  Pushes,
  payloadBytesMaxDefault,
  xxh64,
} from "#protocol";
import { hostileU64, hostileUint } from "./hostile_values.js";
import {
  fuzzChunkId,
  hostileRequestBody,
  hostileToken,
  opcodeOf,
  type RequestContext,
  requestNames,
} from "./request_bodies.js";
import type { SeededRandom } from "./seeded_random.js";

/** Hands out request ids a client may open: odd, and never one still open. */
export class RequestIds {
  #next = 1;

  /** A fresh odd id. */
  take(): number {
    const id = this.#next;
    this.#next = (this.#next + 2) % 0x1_0000_0000;
    return id;
  }
}

/** Which requests the fuzzer sends most: the target daemon's own. */
export interface Emphasis {
  /** Messages sent three times as often as the others. */
  favoured: readonly MessageName[];
  /** Chunk write streams (WRITE_CHUNK and its DATA frames): a DataNode's main work. */
  writeStreams: boolean;
}

function requestFrame(
  name: MessageName,
  random: SeededRandom,
  context: RequestContext,
  ids: RequestIds,
  breakIt = false,
): Buffer {
  const body = hostileRequestBody(name, random, context, breakIt);
  return encodeControlFrame(FrameKind.REQUEST, opcodeOf(name), ids.take(), body);
}

/**
 * A WRITE_CHUNK request and the DATA frames of its stream: mostly right, with now and then an
 * offset, chunk id or checksum that is wrong, an end that comes early or never.
 */
function writeStream(random: SeededRandom, context: RequestContext, ids: RequestIds): Buffer[] {
  const requestId = ids.take();
  const chunkId = fuzzChunkId(random);
  const generation = random.chance(0.7) ? 1n : hostileU64(random);
  const token = hostileToken(random, context, { chunkId, generation, operation: "write" });
  const downstream = random.chance(0.8)
    ? []
    : [{ id: "dn-downstream", address: random.pick(context.addresses) }];
  const frames: Buffer[] = [
    encodeControlFrame(FrameKind.REQUEST, Messages.WRITE_CHUNK.opcode, requestId, {
      chunkId,
      generation,
      token,
      downstream,
      downstreamTokens: downstream.map(() =>
        hostileToken(random, context, { chunkId, generation, operation: "write" }),
      ),
    }),
  ];
  let offset = 0n;
  const count = random.below(6);
  for (let index = 0; index < count; index++) {
    const bytes = random.bytes(random.pick([0, 1, 100, 4096]));
    const last = index === count - 1 && random.chance(0.9);
    const header = encodeDataFrameHeader({
      requestId,
      chunkId: random.chance(0.9) ? chunkId : hostileU64(random),
      offset: random.chance(0.9) ? offset : hostileU64(random),
      dataBytes: bytes.byteLength,
      xxh64: random.chance(0.9) ? xxh64(bytes) : hostileU64(random),
      end: last,
    });
    frames.push(Buffer.concat([header, bytes]));
    offset += BigInt(bytes.byteLength);
  }
  return frames;
}

/** One frame a well-behaved decoder accepts, with hostile content. */
export function acceptableFrame(
  random: SeededRandom,
  context: RequestContext,
  ids: RequestIds,
  emphasis: Emphasis,
): Buffer[] {
  const draw = random.below(20);
  if (emphasis.writeStreams && draw < 6) return writeStream(random, context, ids);
  if (draw < 12 && emphasis.favoured.length > 0) {
    return [requestFrame(random.pick(emphasis.favoured), random, context, ids)];
  }
  if (draw < 17) return [requestFrame(random.pick(requestNames), random, context, ids)];
  // Frames a server does not expect from a client, but may not choke on.
  const requestId = random.chance(0.5) ? ids.take() : random.below(0x1_0000_0000) | 1;
  switch (random.below(5)) {
    case 0:
      return [encodeCancelFrame(requestId)];
    case 1:
      return [
        encodeControlFrame(FrameKind.RESPONSE, Messages.PING.opcode, requestId, {
          timeMs: hostileUint(random),
        }),
      ];
    case 2:
      return [encodeErrorFrame(Messages.STAT.opcode, requestId, "NOT_FOUND", "no such thing")];
    case 3:
      return [
        encodeControlFrame(FrameKind.PUSH, Pushes.NOTICE.opcode, 0, { message: "hello" }),
        encodeControlFrame(FrameKind.PUSH, Pushes.COMMANDS.opcode, 0, {
          commands: [{ action: "delete", chunks: [{ id: fuzzChunkId(random), generation: 1n }] }],
        }),
      ];
    default: {
      const bytes = random.bytes(random.below(200));
      const header = encodeDataFrameHeader({
        requestId,
        chunkId: hostileU64(random),
        offset: hostileU64(random),
        dataBytes: bytes.byteLength,
        xxh64: xxh64(bytes),
        end: random.chance(0.5),
      });
      return [Buffer.concat([header, bytes])];
    }
  }
}

/** A frame that breaks the protocol in some way (most do; a few flips happen to be harmless). */
export function brokenFrame(
  random: SeededRandom,
  context: RequestContext,
  ids: RequestIds,
  emphasis: Emphasis,
): Buffer {
  const base = () => Buffer.concat(acceptableFrame(random, context, ids, emphasis));
  switch (random.below(11)) {
    case 0:
    case 1: {
      const frame = base();
      for (let flips = 1 + random.below(8); flips > 0; flips--) {
        frame[random.below(frame.byteLength)]! ^= 1 << random.below(8);
      }
      return frame;
    }
    case 2: {
      const frame = base();
      return frame.subarray(0, random.below(frame.byteLength));
    }
    case 3: {
      const frame = base();
      frame.writeUInt32BE(random.pick([0xffff_ffff, payloadBytesMaxDefault + 1, 2 ** 31]), 0);
      return frame;
    }
    case 4: {
      // A length the server accepts that says more, or less, than follows.
      const frame = base();
      const declared = frame.readUInt32BE(0);
      frame.writeUInt32BE(
        random.chance(0.5) ? declared + 1 + random.below(1000) : declared >> 1,
        0,
      );
      return frame;
    }
    case 5: {
      const frame = base();
      frame.writeUInt8(random.pick([0, 8, 9, 127, 255]), 4);
      return frame;
    }
    case 6: {
      const frame = base();
      frame.writeUInt8(random.pick([0, 4, 9, 29, 39, 59, 62, 200, 255]), 5);
      return frame;
    }
    case 7: {
      const frame = base();
      frame.writeUInt16BE(1 + random.below(0xffff), 6);
      return frame;
    }
    case 8:
      return requestFrame(random.pick(requestNames), random, context, ids, true);
    case 9: {
      // A well-formed header around a payload that is not CBOR, or is CBOR cut short.
      const payload = random.bytes(random.below(300));
      const header = Buffer.alloc(frameHeaderBytes);
      header.writeUInt32BE(payload.byteLength, 0);
      header.writeUInt8(FrameKind.REQUEST, 4);
      header.writeUInt8(opcodeOf(random.pick(requestNames)), 5);
      header.writeUInt32BE(ids.take(), 8);
      return Buffer.concat([header, payload]);
    }
    default:
      return random.bytes(random.below(600));
  }
}

/** Bytes a peer sends before or instead of completing a handshake. */
export function handshakeInput(random: SeededRandom, replay: Buffer | undefined): Buffer {
  const preface = encodePreface(random.pick(["client", "datanode", "namenode"] as const));
  switch (random.below(9)) {
    case 0:
      return random.bytes(random.below(600));
    case 1: {
      const wrong = Buffer.from(preface);
      wrong.writeUInt16BE(random.pick([0, 2, 0xffff]), 4);
      return wrong;
    }
    case 2: {
      const wrong = Buffer.from(preface);
      wrong.writeUInt8(random.pick([0, 4, 255]), 6);
      return wrong;
    }
    case 3:
      return preface.subarray(0, random.below(preface.byteLength));
    case 4:
      return Buffer.concat([preface, random.bytes(random.below(600))]);
    case 5:
      return Buffer.concat([
        preface,
        encodeControlFrame(FrameKind.REQUEST, Messages.AUTH.opcode, 1, {
          proof: random.bytes(random.pick([0, 31, 32, 64])),
        }),
      ]);
    case 6: {
      // A request before authenticating.
      const context = { secret: Buffer.alloc(32), addresses: ["127.0.0.1:1"] };
      const name = random.pick(requestNames);
      const body = hostileRequestBody(name, random, context);
      return Buffer.concat([
        preface,
        encodeControlFrame(FrameKind.REQUEST, opcodeOf(name), 1, body),
      ]);
    }
    case 7:
      return replay ?? Buffer.from("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    default: {
      const flipped = Buffer.concat([
        preface,
        encodeControlFrame(FrameKind.REQUEST, Messages.AUTH.opcode, 1, {
          proof: random.bytes(32),
        }),
      ]);
      flipped[random.below(flipped.byteLength)]! ^= 1 << random.below(8);
      return flipped;
    }
  }
}

/**
 * Whether the server will be waiting for more bytes after `bytes`: walks the frame headers
 * and says whether the last frame it reaches is cut short (and not over the size bound, which
 * the server refuses at once).
 */
export function endsMidFrame(bytes: Buffer): boolean {
  let at = 0;
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < frameHeaderBytes) return true;
    const payloadBytes = bytes.readUInt32BE(at);
    if (payloadBytes > payloadBytesMaxDefault) return false;
    at += frameHeaderBytes + payloadBytes;
  }
  return at > bytes.byteLength;
}
