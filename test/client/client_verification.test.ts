import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsServer,
  type ByteParts,
  bytePartsLength,
  ConnectionPool,
  type DataToSend,
  type IncomingRequest,
  joinByteParts,
  listen,
  xxh64,
} from "#protocol";
import { type LocatedChunk, ReplicaReadError, readReplica } from "../../client/chunk_reader.js";
import { ChunkSource } from "../../client/chunk_source.js";
import { clusterSecret } from "../helpers/cluster.js";

/** How the fake DataNode answers READ_CHUNK: the frames it sends for the asked range. */
type Behaviour = (range: { offset: number; length: number }) => DataToSend[];

async function fakeDatanode(behaviour: Behaviour): Promise<BigFsServer> {
  return listen({
    port: 0,
    secret: clusterSecret,
    role: "datanode",
    handler: async (request: IncomingRequest) => {
      const { offset, length } = request.body as { offset: number; length: number };
      const frames = behaviour({ offset, length });
      for (const frame of frames) await request.sendData(frame);
      return { bytesSent: frames.reduce((sum, frame) => sum + bytePartsLength(frame.bytes), 0) };
    },
  });
}

const content = randomBytes(100_000);

function located(): LocatedChunk {
  return {
    id: 7n,
    generation: 1n,
    offset: 0,
    size: content.length,
    xxh64: xxh64(content),
    replicas: [],
    token: new Uint8Array(8),
  };
}

function honestFrames(bytes: Uint8Array, offset = 0, pieceBytes = 30_000): DataToSend[] {
  const frames: DataToSend[] = [];
  for (let at = 0; at < bytes.length; at += pieceBytes) {
    const piece = bytes.subarray(at, at + pieceBytes);
    frames.push({ chunkId: 7n, offset: BigInt(offset + at), bytes: piece, xxh64: xxh64(piece) });
  }
  frames.at(-1)!.end = true;
  return frames;
}

async function readFrom(
  behaviour: Behaviour,
  range: {
    offset?: number;
    length?: number;
    onData?: (offset: number, bytes: ByteParts) => Promise<void>;
  } = {},
) {
  const server = await fakeDatanode(behaviour);
  const pool = new ConnectionPool({ secret: clusterSecret, role: "client" });
  try {
    const replica = { id: "dn-fake", address: `127.0.0.1:${server.address.port}` };
    return await readReplica(pool, located(), replica, { ...range, stallTimeoutMs: 5_000 });
  } finally {
    pool.close();
    await server.close();
  }
}

async function failure(promise: Promise<unknown>): Promise<ReplicaReadError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  assert.instance(error, ReplicaReadError);
  return error as ReplicaReadError;
}

test("an honest replica's bytes come back whole and in order", async () => {
  const pieces = await readFrom(() => honestFrames(content));
  assert.ok(Buffer.concat(pieces).equals(content));
  const part = await readFrom(
    ({ offset, length }) => honestFrames(content.subarray(offset, offset + length), offset),
    { offset: 40_000, length: 25_000 },
  );
  assert.ok(Buffer.concat(part).equals(content.subarray(40_000, 65_000)));
});

test("a frame whose bytes do not match its xxh64 is refused as corrupt", async () => {
  const error = await failure(
    readFrom(() => {
      const frames = honestFrames(content);
      const spoiled = Buffer.from(joinByteParts(frames[1]!.bytes));
      spoiled[5] = spoiled[5]! ^ 1;
      frames[1] = { ...frames[1]!, bytes: spoiled };
      return frames;
    }),
  );
  assert.ok(error.corrupt);
  assert.is(error.code, "CHECKSUM_MISMATCH");
  assert.match(error.message, "dn-fake");
});

test("frames that each check out but make another chunk fail the end-to-end check", async () => {
  const other = Buffer.from(content);
  other[99_999] = other[99_999]! ^ 0x80;
  const error = await failure(readFrom(() => honestFrames(other)));
  assert.ok(error.corrupt);
  assert.match(error.message, "the file says");
});

test("a whole chunk in one frame that checks out is still held to the chunk's xxh64", async () => {
  const whole = await readFrom(() => honestFrames(content, 0, content.length));
  assert.ok(Buffer.concat(whole).equals(content));
  const other = Buffer.from(content);
  other[0] = other[0]! ^ 0x01;
  const error = await failure(readFrom(() => honestFrames(other, 0, other.length)));
  assert.ok(error.corrupt);
  assert.match(error.message, "the file says");
});

test("with onData, each checked frame is handed out at its offset and none is kept", async () => {
  const copy = Buffer.alloc(content.length);
  const offsets: number[] = [];
  const kept = await readFrom(() => honestFrames(content), {
    onData: async (offset, bytes) => {
      offsets.push(offset);
      copy.set(joinByteParts(bytes), offset);
    },
  });
  assert.equal(kept, []);
  assert.equal(offsets, [0, 30_000, 60_000, 90_000]);
  assert.ok(copy.equals(content));
});

test("with onData, a chunk that fails the end-to-end check still fails after its frames went out", async () => {
  const other = Buffer.from(content);
  other[99_999] = other[99_999]! ^ 0x80;
  let handedOut = 0;
  const error = await failure(
    readFrom(() => honestFrames(other), {
      onData: async (_offset, bytes) => {
        handedOut += bytePartsLength(bytes);
      },
    }),
  );
  assert.is(handedOut, content.length, "every frame checked out on its own");
  assert.ok(error.corrupt);
  assert.match(error.message, "the file says");
});

test("a short, a long or an out-of-order replica is refused", async () => {
  const short = await failure(readFrom(() => honestFrames(content.subarray(0, 90_000))));
  assert.ok(short.corrupt);
  assert.match(short.message, "got 90000 bytes, expected 100000");
  const long = await failure(readFrom(() => honestFrames(Buffer.concat([content, content]))));
  assert.ok(long.corrupt);
  const reordered = await failure(
    readFrom(() => {
      const frames = honestFrames(content);
      return [frames[1]!, frames[0]!, ...frames.slice(2)];
    }),
  );
  assert.ok(reordered.corrupt);
});

test("an unreachable replica fails as unavailable, not corrupt", async () => {
  const pool = new ConnectionPool({
    secret: clusterSecret,
    role: "client",
    connectTimeoutMs: 1_000,
  });
  try {
    const server = await fakeDatanode(() => []);
    const port = server.address.port;
    await server.close();
    const error = await failure(
      readReplica(
        pool,
        located(),
        { id: "dn-gone", address: `127.0.0.1:${port}` },
        {
          stallTimeoutMs: 1_000,
        },
      ),
    );
    assert.not.ok(error.corrupt);
    assert.is(error.code, "UNAVAILABLE");
  } finally {
    pool.close();
  }
});

test("a source is cut into chunks of frames at chunk borders, each frame hashed", async () => {
  const bytes = randomBytes(10_000);
  const pieces = [bytes.subarray(0, 1), bytes.subarray(1, 4_500), bytes.subarray(4_500)];
  const source = new ChunkSource(Readable.from(pieces), 4_000, 1_500);
  const chunks = [];
  for (let chunk = await source.next(); chunk; chunk = await source.next()) chunks.push(chunk);
  assert.equal(
    chunks.map((chunk) => [chunk.index, chunk.fileOffset, chunk.sizeBytes]),
    [
      [0, 0, 4_000],
      [1, 4_000, 4_000],
      [2, 8_000, 2_000],
    ],
  );
  for (const chunk of chunks) {
    const frames = [];
    for await (const frame of chunk.frames()) frames.push(frame);
    const joined = Buffer.concat(frames.map((frame) => frame.bytes));
    assert.ok(joined.equals(bytes.subarray(chunk.fileOffset, chunk.fileOffset + chunk.sizeBytes)));
    assert.is(chunk.xxh64, xxh64(joined));
    assert.equal(
      frames.map((frame) => frame.bytes.byteLength),
      chunk.sizeBytes === 4_000 ? [1_500, 1_500, 1_000] : [1_500, 500],
    );
    for (const frame of frames) assert.is(frame.xxh64, xxh64(frame.bytes));
  }
  const empty = new ChunkSource(Readable.from([]), 4_000, 1_500);
  assert.is(await empty.next(), undefined);
  const exact = new ChunkSource(Readable.from([randomBytes(8_000)]), 4_000, 1_500);
  assert.ok(await exact.next());
  assert.ok(await exact.next());
  assert.is(await exact.next(), undefined, "no empty chunk after an exact multiple");
});

test("a read that stalls retires its connection: the next read dials a fresh one and succeeds", async () => {
  // The first READ_CHUNK is never answered, as from a DataNode whose path went silent; the
  // ones after it are answered honestly.
  let requests = 0;
  const server = await listen({
    port: 0,
    secret: clusterSecret,
    role: "datanode",
    handler: async (request: IncomingRequest) => {
      requests += 1;
      if (requests === 1) {
        await new Promise<void>((resolve) =>
          request.signal.addEventListener("abort", () => resolve()),
        );
        throw new Error("cancelled");
      }
      const frames = honestFrames(content);
      for (const frame of frames) await request.sendData(frame);
      return { bytesSent: content.length };
    },
  });
  const pool = new ConnectionPool({ secret: clusterSecret, role: "client" });
  try {
    const replica = { id: "dn-fake", address: `127.0.0.1:${server.address.port}` };
    const stuck = await pool.get(replica.address);
    const error = await failure(readReplica(pool, located(), replica, { stallTimeoutMs: 300 }));
    assert.is(error.code, "TIMEOUT");
    const fresh = await pool.get(replica.address);
    assert.ok(fresh !== stuck, "the pool hands out a new connection after the stall");
    const pieces = await readReplica(pool, located(), replica, { stallTimeoutMs: 5_000 });
    assert.ok(Buffer.concat(pieces).equals(content));
    // Retiring a connection that is no longer the pooled one changes nothing.
    pool.retire(replica.address, stuck);
    assert.ok((await pool.get(replica.address)) === fresh);
  } finally {
    pool.close();
    await server.close();
  }
});

test.run();
