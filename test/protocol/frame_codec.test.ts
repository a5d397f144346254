/**
 * The frame codec against byte fixtures: every message round-trips, the documented layout is
 * pinned byte by byte, TCP may split the stream anywhere, and no input makes the decoder throw,
 * buffer without bound, or accept a malformed frame.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  cbor,
  type DataFrame,
  dataHeaderBytes,
  ErrorCode,
  type ErrorCodeName,
  encodeCancelFrame,
  encodeControlFrame,
  encodeDataFrameHeader,
  encodeErrorFrame,
  type Frame,
  type FrameDecodeResult,
  FrameDecoder,
  type FrameDecoderOptions,
  FrameKind,
  frameHeaderBytes,
  type MessageName,
  Messages,
  Pushes,
  type PushName,
  type PushOf,
  pathLengthMax,
  payloadBytesMaxDefault,
  type RequestOf,
  type ResponseOf,
  type StreamMessageOf,
} from "#protocol";

// ---------------------------------------------------------------------------------------------
// Helpers

const u64Max = (1n << 64n) - 1n;
const bytesOf = (...values: number[]) => Uint8Array.from(values);
/** Bytes from hex, where `#` starts a comment to the end of the line. */
const hex = (text: string) => Buffer.from(text.replace(/#.*$/gm, "").replace(/\s+/g, ""), "hex");
const concat = (parts: Uint8Array[]) => Buffer.concat(parts);

/**
 * Byte strings become `{ hex }`, so Buffer and Uint8Array compare by content; a decoded DATA
 * frame's `parts` become its `bytes`, however the stream was split.
 */
function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return { hex: Buffer.from(value).toString("hex") };
  if (typeof value === "object" && value !== null && "parts" in value && "byteLength" in value) {
    const { parts, byteLength, ...fields } = value as DataFrame;
    const bytes = Buffer.concat(parts as Uint8Array[]);
    assert.is(bytes.byteLength, byteLength, "a DATA frame's byteLength counts its parts");
    assert.ok(bytes.equals((value as DataFrame).bytes), "a DATA frame's bytes join its parts");
    return normalise({ ...fields, bytes });
  }
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, normalise(item)]));
  }
  return value;
}

/** Pushes `pieces` into `decoder`, failing the test (not crashing it) if the decoder throws. */
function pushSafely(decoder: FrameDecoder, ...pieces: Uint8Array[]): FrameDecodeResult {
  const frames: Frame[] = [];
  let error: FrameDecodeResult["error"];
  for (const piece of pieces) {
    let result: FrameDecodeResult;
    try {
      result = decoder.push(piece);
    } catch (thrown) {
      assert.unreachable(`FrameDecoder.push threw: ${String(thrown)}`);
      throw thrown;
    }
    frames.push(...result.frames);
    if (result.error) {
      error = result.error;
      break;
    }
  }
  return error ? { frames, error } : { frames };
}

/** Decodes `bytes` in one push into a fresh decoder, never throwing. */
function decodeAll(bytes: Uint8Array, options: FrameDecoderOptions = {}): FrameDecodeResult {
  return pushSafely(new FrameDecoder(options), bytes);
}

/** Decodes exactly one frame from `bytes`, with nothing left over. */
function decodeOne(bytes: Uint8Array): Frame {
  const decoder = new FrameDecoder();
  const { frames, error } = pushSafely(decoder, bytes);
  assert.is(error, undefined, error?.message);
  assert.is(frames.length, 1);
  assert.is(decoder.bufferedBytes, 0);
  return frames[0]!;
}

/** A frame header with every field chosen by the caller, valid or not. */
function rawHeader(
  payloadBytes: number,
  kind: number,
  opcode: number,
  flags = 0,
  requestId = 1,
): Buffer {
  const header = Buffer.alloc(frameHeaderBytes);
  header.writeUInt32BE(payloadBytes, 0);
  header.writeUInt8(kind, 4);
  header.writeUInt8(opcode, 5);
  header.writeUInt16BE(flags, 6);
  header.writeUInt32BE(requestId, 8);
  return header;
}

/** A frame with a raw header and the given payload; `payloadBytes` matches unless given. */
function rawFrame(
  kind: number,
  opcode: number,
  payload: Uint8Array,
  fields: { flags?: number; requestId?: number; payloadBytes?: number } = {},
): Buffer {
  const header = rawHeader(
    fields.payloadBytes ?? payload.byteLength,
    kind,
    opcode,
    fields.flags ?? 0,
    fields.requestId ?? 1,
  );
  return concat([header, payload]);
}

/** A DATA frame's header fields and payload, without going through the encoder. */
function rawDataPayload(chunkId: bigint, offset: bigint, dataBytes: number, data: Uint8Array) {
  const payload = Buffer.alloc(dataHeaderBytes + data.byteLength);
  payload.writeBigUInt64BE(chunkId, 0);
  payload.writeBigUInt64BE(offset, 8);
  payload.writeUInt32BE(dataBytes, 16);
  payload.writeBigUInt64BE(0n, 20);
  payload.set(data, dataHeaderBytes);
  return payload;
}

/** mulberry32: a tiny seeded PRNG, so a failing random case can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// A realistic sample body for every message. A message added to `Messages` or `Pushes` without
// a sample here fails to compile, and the first test below fails too.

type MessageSample<N extends MessageName> = {
  request: RequestOf<N>;
  response: ResponseOf<N>;
} & ([StreamMessageOf<N>] extends [never] ? unknown : { message: StreamMessageOf<N> });

const proof = Uint8Array.from({ length: 32 }, (_, index) => (index * 7 + 3) & 0xff);
const token = Uint8Array.from({ length: 120 }, (_, index) => (255 - index) & 0xff);
const dn1 = { id: "dn-0b1c", address: "10.0.0.11:9866" };
const dn2 = { id: "dn-77fa", address: "[fe80::1]:9866" };
const entry = {
  name: "part-00000.parquet",
  type: "file" as const,
  size: 134_217_728 + 17,
  replication: 3,
  chunkSizeBytes: 67_108_864,
  mtimeMs: 1_717_171_717_171,
};

const messageSamples: { [N in MessageName]: MessageSample<N> } = {
  AUTH: { request: { proof }, response: { proof: proof.slice().reverse() } },
  PING: { request: {}, response: { timeMs: 1_717_171_717_171 } },
  MKDIR: { request: { path: "/user/ada/logs", parents: true }, response: {} },
  LIST: {
    request: { path: "/user/ada" },
    response: {
      entries: [
        entry,
        { ...entry, name: "tmp", type: "directory", size: 0, replication: 0, chunkSizeBytes: 0 },
      ],
    },
  },
  STAT: {
    request: { path: "/user/ada/part-00000.parquet" },
    response: {
      entry,
      chunks: [
        {
          id: 1n,
          generation: 1001n,
          size: 67_108_864,
          xxh64: 0xef46db3751d8e999n,
          replicas: ["dn-0b1c", "dn-77fa"],
        },
        { id: u64Max - 1n, generation: u64Max, size: 17, xxh64: u64Max, replicas: [] },
      ],
    },
  },
  CREATE: {
    request: {
      path: "/user/ada/new.bin",
      clientName: "bigfs-client-4821",
      replication: 2,
      chunkSizeBytes: 1_048_576,
      overwrite: false,
    },
    response: { fileId: 42n, replication: 2, chunkSizeBytes: 1_048_576 },
  },
  ADD_CHUNK: {
    request: {
      path: "/user/ada/new.bin",
      fileId: 42n,
      clientName: "bigfs-client-4821",
      excludeDatanodes: ["dn-dead"],
    },
    response: { chunkId: 9_007_199_254_740_993n, generation: 1n, pipeline: [dn1, dn2], token },
  },
  COMMIT_CHUNK: {
    request: {
      path: "/user/ada/new.bin",
      fileId: 42n,
      clientName: "bigfs-client-4821",
      chunkId: 9_007_199_254_740_993n,
      generation: 1n,
      size: 1_048_576,
      xxh64: 0x8000_0000_0000_0000n,
    },
    response: {},
  },
  COMPLETE: {
    request: { path: "/user/ada/new.bin", fileId: 42n, clientName: "bigfs-client-4821" },
    response: {},
  },
  ABANDON: {
    request: { path: "/user/ada/new.bin", fileId: 0n, clientName: "bigfs-client-4821" },
    response: {},
  },
  DELETE: { request: { path: "/user/ada/logs", recursive: true }, response: {} },
  RENAME: {
    request: { source: "/user/ada/new.bin", destination: "/user/ada/données/ü.bin" },
    response: {},
  },
  RENEW_LEASE: { request: { clientName: "bigfs-client-4821" }, response: {} },
  OPEN: {
    request: { path: "/user/ada/part-00000.parquet" },
    response: {
      size: 67_108_881,
      chunks: [
        {
          id: 7n,
          generation: 3n,
          offset: 0,
          size: 67_108_864,
          xxh64: 0x1234_5678_9abc_def0n,
          replicas: [dn1, dn2],
          token,
        },
        {
          id: 8n,
          generation: 3n,
          offset: 67_108_864,
          size: 17,
          xxh64: 0n,
          replicas: [dn2],
          token: new Uint8Array(0),
        },
      ],
    },
  },
  REPORT_BAD_REPLICA: {
    request: {
      chunkId: 7n,
      generation: 3n,
      datanodeId: "dn-77fa",
      reason: "xxh64 mismatch at offset 65536",
    },
    response: {},
  },
  DATANODE_REPORT: {
    request: {},
    response: {
      datanodes: [
        {
          id: "dn-0b1c",
          address: "10.0.0.11:9866",
          rack: "/rack-a",
          state: "live",
          capacityBytes: 1_000_000_000_000,
          usedBytes: 123_456_789,
          remainingBytes: 400_000_000_000,
          chunks: 2,
          lastHeartbeatMsAgo: 812,
        },
        {
          id: "dn-77fa",
          address: "10.0.0.12:9866",
          state: "decommissioning",
          capacityBytes: 500_000_000_000,
          usedBytes: 0,
          remainingBytes: 500_000_000_000,
          chunks: 0,
          lastHeartbeatMsAgo: 12_001,
          decommissionRemaining: 4_096,
        },
      ],
    },
  },
  CONTENT_SUMMARY: {
    request: { path: "/data" },
    response: { files: 12, directories: 3, bytes: 123456789, spaceConsumedBytes: 370370367 },
  },
  SET_REPLICATION: { request: { path: "/user/ada/new.bin", replication: 5 }, response: {} },
  BALANCE: {
    request: { thresholdPercent: 10, waitMs: 60_000 },
    response: {
      balanced: false,
      running: true,
      thresholdPercent: 10,
      movedCount: 2,
      bytesMoved: 67_108_864 + 17,
      failedMoves: 1,
      movesInFlight: 3,
      moved: [
        { chunkId: 7n, source: "dn-0b1c", target: "dn-77fa", sizeBytes: 67_108_864 },
        { chunkId: u64Max, source: "dn-0b1c", target: "dn-77fa", sizeBytes: 17 },
      ],
      datanodes: [
        { id: "dn-0b1c", usedBytes: 900_000_000_000, capacityBytes: 1_000_000_000_000 },
        { id: "dn-77fa", usedBytes: 67_108_881, capacityBytes: 500_000_000_000 },
      ],
    },
  },
  DECOMMISSION: { request: { datanodeId: "dn-77fa" }, response: {} },
  FSCK: {
    request: { path: "/" },
    response: {
      files: 10,
      chunks: 20,
      healthy: 17,
      underReplicated: 1,
      overReplicated: 0,
      corrupt: 1,
      missing: 1,
      problems: [
        { path: "/a", chunkId: 5n, status: "under-replicated", liveReplicas: 1 },
        { path: "/b", chunkId: 6n, status: "missing", liveReplicas: 0 },
      ],
    },
  },
  REGISTER: {
    request: {
      datanodeId: "dn-0b1c",
      address: "10.0.0.11:9866",
      rack: "/rack-a",
      capacityBytes: 1_000_000_000_000,
      usedBytes: 123_456_789,
      chunks: [
        { id: 7n, generation: 3n, size: 67_108_864 },
        { id: u64Max, generation: 1n, size: 0 },
      ],
    },
    response: { heartbeatIntervalMs: 1000 },
  },
  HEARTBEAT: {
    request: {
      datanodeId: "dn-0b1c",
      capacityBytes: 1_000_000_000_000,
      usedBytes: 123_456_789,
      activeTransfers: 2,
    },
    response: {
      commands: [
        {
          action: "replicate",
          chunks: [{ id: 7n, generation: 3n }],
          targets: [dn2],
          tokens: [token],
        },
        { action: "delete", chunks: [{ id: 8n, generation: 2n }] },
      ],
    },
  },
  CHUNK_REPORT: {
    request: {
      datanodeId: "dn-0b1c",
      added: [{ id: 9n, generation: 1n, size: 4096 }],
      removed: [{ id: 8n, generation: 2n }],
    },
    response: {},
  },
  REPORT_CORRUPT: {
    request: {
      datanodeId: "dn-0b1c",
      chunkId: 7n,
      generation: 3n,
      reason: "scrubber: checksum mismatch in segment 12",
    },
    response: {},
  },
  WRITE_CHUNK: {
    request: {
      chunkId: 9n,
      generation: 1n,
      token,
      downstream: [dn2],
      downstreamTokens: [token],
      purpose: "replicate",
    },
    response: { stored: ["dn-0b1c", "dn-77fa"], size: 4096, xxh64: 0xfedc_ba98_7654_3210n },
    message: { ackedBytes: 65_536 },
  },
  READ_CHUNK: {
    request: { chunkId: 9n, generation: 1n, token, offset: 512, length: 4096 },
    response: { bytesSent: 4096 },
  },
};

const pushSamples: { [N in PushName]: PushOf<N> } = {
  COMMANDS: {
    commands: [{ action: "delete", chunks: [{ id: 1n, generation: 1n }], tokens: [] }],
  },
  NOTICE: { message: "NameNode entering safe mode: 0 of 12 chunks reported" },
};

// ---------------------------------------------------------------------------------------------
// Round trips

test("every message in Messages and Pushes has a sample body here", () => {
  const samples = messageSamples as Record<string, { message?: unknown }>;
  for (const [name, spec] of Object.entries(Messages)) {
    assert.ok(samples[name], `Messages.${name} has no sample: add one to messageSamples`);
    if ("message" in spec) {
      assert.ok(samples[name]!.message, `Messages.${name}.message has no sample`);
    }
  }
  for (const name of Object.keys(Pushes)) {
    assert.ok(name in pushSamples, `Pushes.${name} has no sample: add one to pushSamples`);
  }
});

test("every request, response and stream message round-trips through the codec", () => {
  let requestId = 1;
  for (const [name, spec] of Object.entries(Messages)) {
    const sample = messageSamples[name as MessageName] as {
      request: unknown;
      response: unknown;
      message?: unknown;
    };
    const cases: [1 | 2 | 6, unknown][] = [
      [FrameKind.REQUEST, sample.request],
      [FrameKind.RESPONSE, sample.response],
    ];
    if (sample.message !== undefined) cases.push([FrameKind.MESSAGE, sample.message]);
    for (const [kind, body] of cases) {
      requestId = (requestId * 48271 + 1) % 0x1_0000_0000;
      const frame = decodeOne(encodeControlFrame(kind, spec.opcode, requestId, body));
      assert.equal(
        normalise(frame),
        normalise({ kind, opcode: spec.opcode, requestId, body }),
        `${name} kind ${kind}`,
      );
    }
  }
});

test("u64 fields decode as bigint and uint fields as number, whatever width was sent", () => {
  const small = decodeOne(
    encodeControlFrame(FrameKind.REQUEST, Messages.READ_CHUNK.opcode, 3, {
      chunkId: 5,
      generation: 5n,
      token: new Uint8Array(0),
      offset: 7n,
      length: 0,
    }),
  );
  assert.equal(normalise((small as { body: unknown }).body), {
    chunkId: 5n,
    generation: 5n,
    token: { hex: "" },
    offset: 7,
    length: 0,
  });
});

test("every push round-trips through the codec with request id 0", () => {
  for (const [name, spec] of Object.entries(Pushes)) {
    const body = pushSamples[name as PushName];
    const frame = decodeOne(encodeControlFrame(FrameKind.PUSH, spec.opcode, 0, body));
    assert.equal(
      normalise(frame),
      normalise({ kind: FrameKind.PUSH, opcode: spec.opcode, requestId: 0, body }),
      name,
    );
  }
});

test("unknown fields are dropped and absent optional fields stay absent", () => {
  const frame = decodeOne(
    encodeControlFrame(FrameKind.REQUEST, Messages.MKDIR.opcode, 5, {
      path: "/a",
      sneaky: "x",
      parents: null,
    }),
  );
  assert.equal(frame, { kind: FrameKind.REQUEST, opcode: 10, requestId: 5, body: { path: "/a" } });
});

test("an ERROR frame round-trips for every error code", () => {
  for (const code of Object.keys(ErrorCode) as ErrorCodeName[]) {
    for (const [opcode, requestId] of [
      [0, 0],
      [Messages.LIST.opcode, 0xffff_ffff],
    ] as const) {
      const message = `Cannot list /ä/${code}: it failed`;
      const frame = decodeOne(encodeErrorFrame(opcode, requestId, code, message));
      assert.equal(frame, { kind: FrameKind.ERROR, opcode, requestId, code, message });
    }
  }
});

test("an ERROR frame's message is cut to 4096 characters", () => {
  const frame = decodeOne(encodeErrorFrame(2, 1, "INTERNAL", "x".repeat(10_000)));
  assert.is(frame.kind, FrameKind.ERROR);
  assert.is((frame as { message: string }).message.length, 4096);
});

test("a CANCEL frame round-trips", () => {
  for (const requestId of [1, 2, 0x7fff_ffff, 0xffff_ffff]) {
    assert.equal(decodeOne(encodeCancelFrame(requestId)), {
      kind: FrameKind.CANCEL,
      opcode: 0,
      requestId,
    });
  }
});

test("a DATA frame round-trips: large ids, END both ways, zero-length data", () => {
  const cases = [
    { chunkId: u64Max, offset: u64Max - 3n, xxh64: u64Max, end: true, length: 3 },
    { chunkId: u64Max - 1n, offset: 0n, xxh64: 0n, end: false, length: 1000 },
    { chunkId: 0n, offset: 65_536n, xxh64: 0xef46db3751d8e999n, end: true, length: 0 },
    { chunkId: 1n, offset: 1n, xxh64: 1n, end: false, length: 0 },
  ];
  let requestId = 0xffff_fffe;
  for (const { length, ...fields } of cases) {
    const data = Uint8Array.from({ length }, (_, index) => (index * 13) & 0xff);
    const header = encodeDataFrameHeader({ ...fields, requestId, dataBytes: length });
    assert.is(header.byteLength, frameHeaderBytes + dataHeaderBytes);
    const frame = decodeOne(concat([header, data]));
    assert.equal(
      normalise(frame),
      normalise({ kind: FrameKind.DATA, opcode: 0, requestId, ...fields, bytes: data }),
    );
    requestId -= 7;
  }
});

// ---------------------------------------------------------------------------------------------
// Pinned byte layout

test("a PING request with request id 7 is exactly these bytes", () => {
  const expected = hex(`
    00000003   # payloadBytes 3
    01         # kind REQUEST
    02         # opcode PING
    0000       # flags
    00000007   # requestId 7
    b9 0000    # CBOR: map of 0 entries (cbor-x always writes a map's size as a u16)
  `);
  assert.equal(encodeControlFrame(FrameKind.REQUEST, 2, 7, {}), expected);
  assert.equal(decodeOne(expected), { kind: FrameKind.REQUEST, opcode: 2, requestId: 7, body: {} });
  // The shortest CBOR form of the same map is accepted too.
  assert.equal(decodeOne(hex("00000001 01 02 0000 00000007 a0")), {
    kind: FrameKind.REQUEST,
    opcode: 2,
    requestId: 7,
    body: {},
  });
});

test("a PING response, an ERROR and a CANCEL are exactly these bytes", () => {
  assert.equal(
    encodeControlFrame(FrameKind.RESPONSE, 2, 7, { timeMs: 1 }),
    hex(`
      0000000b 02 02 0000 00000007   # RESPONSE PING, request 7
      b9 0001 66 74696d654d73 01     # { timeMs: 1 }
    `),
  );
  assert.equal(
    encodeErrorFrame(11, 7, "NOT_FOUND", "x"),
    hex(`
      00000004 03 0b 0000 00000007   # ERROR for LIST, request 7
      82 01 61 78                    # [1 (NOT_FOUND), "x"]
    `),
  );
  assert.equal(encodeCancelFrame(7), hex("00000000 07 00 0000 00000007"));
});

test("a DATA frame header is exactly these bytes", () => {
  const header = encodeDataFrameHeader({
    requestId: 9,
    chunkId: 0x0102_0304_0506_0708n,
    offset: 0x10n,
    dataBytes: 3,
    xxh64: 0x1122_3344_5566_7788n,
    end: true,
  });
  const expected = hex(`
    0000001f           # payloadBytes 31: 28 + 3
    05                 # kind DATA
    00                 # opcode 0
    0001               # flags: END
    00000009           # requestId 9
    0102030405060708   # chunkId
    0000000000000010   # offset 16
    00000003           # dataBytes 3
    1122334455667788   # xxh64
  `);
  assert.equal(header, expected);
  const frame = decodeOne(concat([expected, bytesOf(0xaa, 0xbb, 0xcc)]));
  assert.equal(normalise(frame), {
    kind: FrameKind.DATA,
    opcode: 0,
    requestId: 9,
    chunkId: 0x0102_0304_0506_0708n,
    offset: 0x10n,
    xxh64: 0x1122_3344_5566_7788n,
    end: true,
    bytes: { hex: "aabbcc" },
  });
});

// ---------------------------------------------------------------------------------------------
// Splits

const dataBytes = Uint8Array.from({ length: 50 }, (_, index) => index);
const stream = concat([
  encodeControlFrame(FrameKind.REQUEST, Messages.PING.opcode, 1, {}),
  encodeControlFrame(FrameKind.RESPONSE, Messages.STAT.opcode, 2, messageSamples.STAT.response),
  encodeDataFrameHeader({
    requestId: 3,
    chunkId: u64Max,
    offset: 4096n,
    dataBytes: dataBytes.byteLength,
    xxh64: 0xabcdn,
    end: false,
  }),
  dataBytes,
  encodeDataFrameHeader({
    requestId: 3,
    chunkId: u64Max,
    offset: 4146n,
    dataBytes: 0,
    xxh64: 0n,
    end: true,
  }),
  encodeControlFrame(FrameKind.MESSAGE, Messages.WRITE_CHUNK.opcode, 3, { ackedBytes: 50 }),
  encodeCancelFrame(5),
  encodeControlFrame(FrameKind.PUSH, Pushes.NOTICE.opcode, 0, pushSamples.NOTICE),
  encodeErrorFrame(Messages.LIST.opcode, 4, "NOT_FOUND", "Cannot list /x: no such directory"),
  encodeControlFrame(FrameKind.REQUEST, Messages.PING.opcode, 7, {}),
]);
const streamFrameCount = 9;
const largestStreamFrameBytes = frameHeaderBytes + 400;

function expectStream(result: FrameDecodeResult, decoder: FrameDecoder, how: string): void {
  assert.is(result.error, undefined, `${how}: ${result.error?.message}`);
  assert.equal(normalise(result.frames), normalise(decodeAll(stream).frames), how);
  assert.is(decoder.bufferedBytes, 0, how);
}

test("a stream of mixed frames in one push decodes to every frame in order", () => {
  const { frames, error } = decodeAll(stream);
  assert.is(error, undefined);
  assert.is(frames.length, streamFrameCount);
  assert.equal(
    frames.map((frame) => [frame.kind, frame.requestId]),
    [
      [1, 1],
      [2, 2],
      [5, 3],
      [5, 3],
      [6, 3],
      [7, 5],
      [4, 0],
      [3, 4],
      [1, 7],
    ],
  );
});

test("a stream split at every byte offset decodes the same", () => {
  for (let at = 0; at <= stream.byteLength; at++) {
    const decoder = new FrameDecoder();
    const first = pushSafely(decoder, stream.subarray(0, at));
    const second = pushSafely(decoder, stream.subarray(at));
    expectStream({ frames: [...first.frames, ...second.frames] }, decoder, `split at byte ${at}`);
  }
});

test("a DATA frame that arrives in several pieces hands out views of them, uncopied", () => {
  const data = Buffer.alloc(300_000);
  for (let at = 0; at < data.byteLength; at++) data[at] = (at * 7) & 0xff;
  const header = encodeDataFrameHeader({
    requestId: 3,
    chunkId: 5n,
    offset: 0n,
    dataBytes: data.byteLength,
    xxh64: 1n,
    end: false,
  });
  const wire = Buffer.concat([header, data]);
  // As a socket delivers it: 64 KiB reads, each in a buffer of its own.
  const reads: Buffer[] = [];
  for (let at = 0; at < wire.byteLength; at += 65_536) {
    reads.push(Buffer.from(wire.subarray(at, at + 65_536)));
  }
  const decoder = new FrameDecoder();
  const frames = reads.flatMap((read) => pushSafely(decoder, read).frames);
  assert.is(frames.length, 1);
  const frame = frames[0] as DataFrame;
  assert.is(frame.parts.length, reads.length);
  frame.parts.forEach((part, index) => {
    assert.ok(part.buffer === reads[index]!.buffer, `part ${index} is a view of read ${index}`);
  });
  assert.is(frame.byteLength, data.byteLength);
  assert.ok(Buffer.from(frame.bytes).equals(data));
});

test("a stream fed one byte at a time decodes the same", () => {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  for (let at = 0; at < stream.byteLength; at++) {
    const result = pushSafely(decoder, stream.subarray(at, at + 1));
    assert.is(result.error, undefined);
    frames.push(...result.frames);
    assert.ok(decoder.bufferedBytes < largestStreamFrameBytes, `buffered at byte ${at}`);
  }
  expectStream({ frames }, decoder, "byte by byte");
});

test("a stream split at every pair of offsets decodes the same", () => {
  // Three pieces: every header or payload boundary lands in every position of a piece.
  const step = 7;
  for (let first = 0; first <= stream.byteLength; first += step) {
    for (let second = first; second <= stream.byteLength; second += step) {
      const decoder = new FrameDecoder();
      const result = pushSafely(
        decoder,
        stream.subarray(0, first),
        stream.subarray(first, second),
        stream.subarray(second),
      );
      expectStream(result, decoder, `split at bytes ${first} and ${second}`);
    }
  }
});

test("decoded DATA bytes stay correct after the decoder is fed more", () => {
  const decoder = new FrameDecoder();
  const copy = Buffer.from(stream);
  const { frames } = pushSafely(decoder, copy);
  pushSafely(decoder, stream);
  const data = frames.find((frame) => frame.kind === FrameKind.DATA);
  assert.equal(normalise(data && "bytes" in data ? data.bytes : undefined), normalise(dataBytes));
});

// ---------------------------------------------------------------------------------------------
// Bounds

test("an oversized declared length is refused as soon as the header arrives", () => {
  for (const [payloadBytes, options] of [
    [0xffff_ffff, {}],
    [payloadBytesMaxDefault + 1, {}],
    [101, { payloadBytesMax: 100 }],
  ] as const) {
    const decoder = new FrameDecoder(options);
    const header = rawHeader(payloadBytes, FrameKind.REQUEST, Messages.PING.opcode);
    const early = pushSafely(decoder, header.subarray(0, frameHeaderBytes - 1));
    assert.is(early.error, undefined);
    assert.is(decoder.bufferedBytes, frameHeaderBytes - 1);
    const { frames, error } = pushSafely(decoder, header.subarray(frameHeaderBytes - 1));
    assert.is(frames.length, 0);
    assert.is(error?.code, "PROTOCOL");
    assert.ok(error?.message.includes(String(payloadBytes)), error?.message);
    assert.is(decoder.bufferedBytes, 0);
    assert.is(decoder.error, error);
    for (let round = 0; round < 10; round++) {
      const again = pushSafely(decoder, new Uint8Array(1024 * 1024));
      assert.is(again.error, error);
      assert.is(again.frames.length, 0);
      assert.is(decoder.bufferedBytes, 0);
    }
  }
});

test("a declared length of exactly the maximum is accepted and waited for", () => {
  const decoder = new FrameDecoder({ payloadBytesMax: 100 });
  const body = cbor.encode({ message: "y".repeat(87) });
  const frame = rawFrame(FrameKind.PUSH, Pushes.NOTICE.opcode, body, { requestId: 0 });
  assert.is(body.byteLength, 100);
  const partial = pushSafely(decoder, frame.subarray(0, 60));
  assert.equal(partial, { frames: [] });
  const rest = pushSafely(decoder, frame.subarray(60));
  assert.is(rest.error, undefined);
  assert.is(rest.frames.length, 1);
});

test("a truncated frame yields nothing and waits for the rest", () => {
  const frames = [
    encodeControlFrame(FrameKind.RESPONSE, Messages.STAT.opcode, 2, messageSamples.STAT.response),
    concat([
      encodeDataFrameHeader({
        requestId: 3,
        chunkId: 1n,
        offset: 0n,
        dataBytes: dataBytes.byteLength,
        xxh64: 0n,
        end: true,
      }),
      dataBytes,
    ]),
    encodeCancelFrame(9),
  ];
  for (const frame of frames) {
    for (let length = 0; length < frame.byteLength; length++) {
      const decoder = new FrameDecoder();
      const result = pushSafely(decoder, frame.subarray(0, length));
      assert.equal(result, { frames: [] }, `cut at ${length}`);
      assert.is(decoder.bufferedBytes, length, `cut at ${length}`);
      assert.is(decoder.error, undefined);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Malformed input: always PROTOCOL, never a throw, earlier frames kept

const ping = (requestId = 1) => encodeControlFrame(FrameKind.REQUEST, 2, requestId, {});
const cborFrame = (kind: number, opcode: number, body: unknown) =>
  rawFrame(kind, opcode, cbor.encode(body));

const malformed: [string, Uint8Array][] = [
  ["an HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: namenode\r\n\r\n", "latin1")],
  ["a TLS client hello", hex("16030100a5010000a1030300")],
  ["twelve 0xff bytes", new Uint8Array(12).fill(0xff)],
  ["kind 0", rawFrame(0, 2, cbor.encode({}))],
  ["kind 8", rawFrame(8, 2, cbor.encode({}))],
  ["kind 255", rawFrame(255, 0, new Uint8Array(0))],
  ["an unknown REQUEST opcode", cborFrame(FrameKind.REQUEST, 99, {})],
  ["REQUEST opcode 0", cborFrame(FrameKind.REQUEST, 0, {})],
  ["a REQUEST with a push's opcode", cborFrame(FrameKind.REQUEST, Pushes.NOTICE.opcode, {})],
  ["a PUSH with a request's opcode", cborFrame(FrameKind.PUSH, Messages.PING.opcode, {})],
  ["a MESSAGE for an opcode without one", cborFrame(FrameKind.MESSAGE, Messages.PING.opcode, {})],
  ["a RESPONSE with a push's opcode", cborFrame(FrameKind.RESPONSE, Pushes.COMMANDS.opcode, {})],
  ["an ERROR with an unknown opcode", rawFrame(FrameKind.ERROR, 99, cbor.encode([15, "x"]))],
  ["flags on a REQUEST", rawFrame(FrameKind.REQUEST, 2, cbor.encode({}), { flags: 1 })],
  ["flags on a CANCEL", rawFrame(FrameKind.CANCEL, 0, new Uint8Array(0), { flags: 1 })],
  [
    "an unknown flag on DATA",
    rawFrame(FrameKind.DATA, 0, rawDataPayload(1n, 0n, 0, new Uint8Array(0)), { flags: 2 }),
  ],
  [
    "the top flag bit on DATA",
    rawFrame(FrameKind.DATA, 0, rawDataPayload(1n, 0n, 0, new Uint8Array(0)), { flags: 0x8001 }),
  ],
  ["an opcode on DATA", rawFrame(FrameKind.DATA, 2, rawDataPayload(1n, 0n, 0, new Uint8Array(0)))],
  ["an opcode on CANCEL", rawFrame(FrameKind.CANCEL, 2, new Uint8Array(0))],
  ["DATA shorter than its header", rawFrame(FrameKind.DATA, 0, new Uint8Array(27))],
  ["empty DATA", rawFrame(FrameKind.DATA, 0, new Uint8Array(0))],
  [
    "DATA declaring more bytes than it carries",
    rawFrame(FrameKind.DATA, 0, rawDataPayload(1n, 0n, 5, bytesOf(1, 2, 3))),
  ],
  [
    "DATA declaring fewer bytes than it carries",
    rawFrame(FrameKind.DATA, 0, rawDataPayload(1n, 0n, 2, bytesOf(1, 2, 3))),
  ],
  [
    "DATA declaring 2^32-1 bytes",
    rawFrame(FrameKind.DATA, 0, rawDataPayload(1n, 0n, 0xffff_ffff, bytesOf(1))),
  ],
  ["a CANCEL with a payload", rawFrame(FrameKind.CANCEL, 0, bytesOf(0xa0))],
  ["an empty REQUEST payload", rawFrame(FrameKind.REQUEST, 2, new Uint8Array(0))],
  ["an empty ERROR payload", rawFrame(FrameKind.ERROR, 0, new Uint8Array(0))],
  ["a CBOR break byte", rawFrame(FrameKind.REQUEST, 2, bytesOf(0xff))],
  ["a reserved CBOR additional-info", rawFrame(FrameKind.REQUEST, 2, bytesOf(0x1c))],
  ["a CBOR string cut short", rawFrame(FrameKind.REQUEST, 2, bytesOf(0x62, 0x61))],
  [
    "a CBOR map cut short",
    rawFrame(FrameKind.REQUEST, 11, bytesOf(0xa1, 0x64, 0x70, 0x61, 0x74, 0x68)),
  ],
  [
    "a CBOR array claiming 2^32-1 items",
    rawFrame(FrameKind.REQUEST, 11, bytesOf(0x9a, 0xff, 0xff, 0xff, 0xff)),
  ],
  [
    "a CBOR byte string claiming 2^64-1 bytes",
    rawFrame(FrameKind.REQUEST, 1, hex("a1 6570726f6f66 5b ffffffffffffffff")),
  ],
  ["CBOR nested 100,000 deep", rawFrame(FrameKind.REQUEST, 2, new Uint8Array(100_000).fill(0x81))],
  [
    "CBOR with a trailing byte",
    rawFrame(FrameKind.REQUEST, 2, concat([cbor.encode({}), bytesOf(0)])),
  ],
  ["two CBOR items", rawFrame(FrameKind.REQUEST, 2, concat([cbor.encode({}), cbor.encode({})]))],
  ["a body that is a list", cborFrame(FrameKind.REQUEST, 2, [])],
  ["a body that is null", cborFrame(FrameKind.REQUEST, 2, null)],
  ["a body that is a number", cborFrame(FrameKind.REQUEST, 2, 7)],
  ["a body that is a byte string", cborFrame(FrameKind.REQUEST, 2, bytesOf(0xa0))],
  ["a field of the wrong type", cborFrame(FrameKind.RESPONSE, 2, { timeMs: "now" })],
  ["a negative uint", cborFrame(FrameKind.RESPONSE, 2, { timeMs: -1 })],
  ["a fractional uint", cborFrame(FrameKind.RESPONSE, 2, { timeMs: 1.5 })],
  ["a uint above 2^53", cborFrame(FrameKind.RESPONSE, 2, { timeMs: 1n << 60n })],
  [
    "a u64 of 2^64",
    cborFrame(FrameKind.RESPONSE, 13, { fileId: 1n << 64n, replication: 1, chunkSizeBytes: 1 }),
  ],
  [
    "a negative u64",
    cborFrame(FrameKind.RESPONSE, 13, { fileId: -1, replication: 1, chunkSizeBytes: 1 }),
  ],
  ["a missing field", cborFrame(FrameKind.REQUEST, Messages.MKDIR.opcode, { parents: true })],
  ["a null required field", cborFrame(FrameKind.REQUEST, Messages.MKDIR.opcode, { path: null })],
  [
    "a path one character over the limit",
    cborFrame(FrameKind.REQUEST, Messages.MKDIR.opcode, { path: "a".repeat(pathLengthMax + 1) }),
  ],
  [
    "a proof one byte over the limit",
    cborFrame(FrameKind.REQUEST, Messages.AUTH.opcode, { proof: new Uint8Array(65) }),
  ],
  [
    "a proof sent as a string",
    cborFrame(FrameKind.REQUEST, Messages.AUTH.opcode, { proof: "abc" }),
  ],
  [
    "a list one item over the limit",
    cborFrame(FrameKind.REQUEST, Messages.WRITE_CHUNK.opcode, {
      chunkId: 1,
      generation: 1,
      token: new Uint8Array(0),
      downstream: Array.from({ length: 65 }, () => dn1),
    }),
  ],
  [
    "a bad item deep in a list",
    cborFrame(FrameKind.RESPONSE, Messages.LIST.opcode, {
      entries: [entry, { ...entry, type: "symlink" }],
    }),
  ],
  [
    "a bad optional field",
    cborFrame(FrameKind.REQUEST, Messages.DELETE.opcode, { path: "/a", recursive: "yes" }),
  ],
  ["an ERROR with an unknown code", cborFrame(FrameKind.ERROR, 0, [999, "x"])],
  ["an ERROR with code 0", cborFrame(FrameKind.ERROR, 0, [0, "x"])],
  ["an ERROR without a message", cborFrame(FrameKind.ERROR, 0, [15])],
  ["an ERROR with an extra field", cborFrame(FrameKind.ERROR, 0, [15, "x", 1])],
  ["an ERROR with the code as a name", cborFrame(FrameKind.ERROR, 0, ["PROTOCOL", "x"])],
  ["an ERROR as a map", cborFrame(FrameKind.ERROR, 0, { code: 15, message: "x" })],
  ["an ERROR with a number message", cborFrame(FrameKind.ERROR, 0, [15, 15])],
];

test("every malformed input is a PROTOCOL error and never a throw", () => {
  for (const [what, bytes] of malformed) {
    const decoder = new FrameDecoder();
    const { frames, error } = pushSafely(decoder, bytes);
    assert.is(frames.length, 0, what);
    assert.ok(error, `${what}: no error`);
    assert.is(error.code, "PROTOCOL", what);
    assert.ok(error.message.length > 0, what);
    assert.is(decoder.bufferedBytes, 0, what);
    assert.is(pushSafely(decoder, ping()).error, error, `${what}: the decoder stays failed`);
  }
});

test("frames before a malformed one are still returned, whole or split", () => {
  const before = concat([ping(1), encodeCancelFrame(3), ping(5)]);
  for (const [what, bytes] of malformed) {
    const joined = concat([before, bytes, ping(7)]);
    const whole = pushSafely(new FrameDecoder(), joined);
    assert.equal(
      whole.frames.map((frame) => frame.requestId),
      [1, 3, 5],
      what,
    );
    assert.is(whole.error?.code, "PROTOCOL", what);
    const at = before.byteLength + Math.floor(bytes.byteLength / 2);
    const split = pushSafely(new FrameDecoder(), joined.subarray(0, at), joined.subarray(at));
    assert.equal(
      split.frames.map((frame) => frame.requestId),
      [1, 3, 5],
      `${what}, split`,
    );
    assert.is(split.error?.code, "PROTOCOL", `${what}, split`);
  }
});

// ---------------------------------------------------------------------------------------------
// Random input

const randomSeed = Number(process.env.BIGFS_FUZZ_SEED ?? 0x5eed_f00d) >>> 0;

test(`20,000 random byte strings never make the decoder throw or overbuffer (seed ${randomSeed})`, () => {
  const random = mulberry32(randomSeed);
  const below = (limit: number) => Math.floor(random() * limit);
  const validOpcodes = [0, 1, 2, 3, 10, 11, 24, 44, 60, 61, 99];
  const templates = [...malformed.map(([, bytes]) => bytes), stream, ping(9)];
  const counts = { frames: 0, errors: 0, waiting: 0 };
  for (let index = 0; index < 20_000; index++) {
    const length = below(301);
    let bytes = new Uint8Array(length);
    for (let at = 0; at < length; at++) bytes[at] = below(256);
    const shape = below(4);
    if (shape === 1 && length >= frameHeaderBytes) {
      // A header that looks valid: small length, known kind, a real opcode, sane flags.
      const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      view.writeUInt32BE(below(length), 0);
      view.writeUInt8(1 + below(7), 4);
      view.writeUInt8(validOpcodes[below(validOpcodes.length)]!, 5);
      view.writeUInt16BE(below(4) === 0 ? 1 : 0, 6);
    } else if (shape === 2) {
      // A valid byte string with a few bits flipped, or cut, or both.
      const template = templates[below(templates.length)]!;
      bytes = Buffer.from(template.subarray(0, Math.min(template.byteLength, 1 + below(400))));
      for (let flips = below(4); flips > 0 && bytes.byteLength > 0; flips--) {
        bytes[below(bytes.byteLength)]! ^= 1 << below(8);
      }
    }
    const payloadBytesMax = [64, 256, payloadBytesMaxDefault][below(3)]!;
    const where = `seed ${randomSeed}, string ${index}: ${Buffer.from(bytes).toString("hex")}`;

    const decoder = new FrameDecoder({ payloadBytesMax });
    const whole = pushSafely(decoder, bytes);
    if (whole.error) assert.is(whole.error.code, "PROTOCOL", where);
    assert.ok(decoder.bufferedBytes <= frameHeaderBytes + payloadBytesMax, where);
    assert.ok(decoder.bufferedBytes <= bytes.byteLength, where);

    // The same bytes split in two decode to the same frames and the same verdict.
    const at = below(bytes.byteLength + 1);
    const splitDecoder = new FrameDecoder({ payloadBytesMax });
    const split = pushSafely(splitDecoder, bytes.subarray(0, at), bytes.subarray(at));
    assert.is(split.error?.message, whole.error?.message, where);
    assert.equal(normalise(split.frames), normalise(whole.frames), where);
    assert.is(splitDecoder.bufferedBytes, decoder.bufferedBytes, where);

    counts.frames += whole.frames.length;
    if (whole.error) counts.errors++;
    else if (decoder.bufferedBytes > 0) counts.waiting++;
  }
  // The corpus reaches all three outcomes, or it tests less than it claims.
  assert.ok(counts.frames > 100, `only ${counts.frames} frames decoded`);
  assert.ok(counts.errors > 1000, `only ${counts.errors} errors`);
  assert.ok(counts.waiting > 1000, `only ${counts.waiting} decoders waiting for more`);
});

test.run();
