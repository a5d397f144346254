/**
 * A dialled socket that reads into reused buffers (`receive_buffers.ts`): frames arrive intact,
 * a buffer is read into again only once every frame in it was released, a frame still held
 * keeps its bytes, and control frames never point into a reused buffer.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsServer,
  type Connection,
  type DataFrame,
  dial,
  encodeControlFrame,
  FrameDecoder,
  FrameKind,
  listen,
  Messages,
  ReceiveBuffers,
  readBytesMax,
  xxh64,
} from "#protocol";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("receive-buffers-test-secret-0123");
const frameCount = 64;

/** A server whose READ_CHUNK sends `frameCount` frames, frame i filled with byte i. */
async function server(frameBytes = 64 * 1024): Promise<BigFsServer> {
  return listen({
    port: 0,
    secret,
    role: "datanode",
    handler: async (request) => {
      for (let index = 0; index < frameCount; index++) {
        const bytes = Buffer.alloc(frameBytes, index);
        await request.sendData({
          chunkId: 7n,
          offset: BigInt(index * frameBytes),
          bytes,
          xxh64: xxh64(bytes),
          end: index === frameCount - 1,
        });
      }
      return { bytesSent: frameCount * frameBytes };
    },
  });
}

/** Reads every frame of one READ_CHUNK, handing each to `take`. */
async function readAll(client: Connection, take: (frame: DataFrame) => void): Promise<void> {
  const read = await client.open("READ_CHUNK", {
    chunkId: 7n,
    generation: 1n,
    token: new Uint8Array(58),
    offset: 0,
    length: 1,
  });
  for await (const item of read.items) {
    if (item.kind !== FrameKind.DATA) continue;
    take(item);
    if (item.end) break;
  }
  await read.response;
}

function assertIntact(frame: DataFrame, index: number): void {
  assert.is(xxh64(frame.parts), frame.xxh64, `frame ${index} hashes to its checksum`);
  assert.ok(
    frame.parts.every((part) => part.every((byte) => byte === index)),
    `frame ${index} holds only byte ${index}`,
  );
}

test("released frames let the socket read into the same buffers again, every frame intact", async () => {
  const listening = await server();
  const buffers = new ReceiveBuffers(128 * 1024);
  const client = await dial(listening.address, { secret, role: "client", receiveBuffers: buffers });
  try {
    let index = 0;
    await readAll(client, (frame) => {
      assertIntact(frame, index++);
      assert.type(frame.release, "function");
      frame.release!();
      frame.release!(); // idempotent: a second call must not give the buffer back twice
    });
    assert.is(index, frameCount);
    const { reused, allocated } = buffers.counts;
    // 4 MiB through 128 KiB slabs: nearly all of them reused rather than allocated.
    assert.ok(reused > 0, `slabs reused: ${reused}`);
    assert.ok(allocated < 16, `slabs allocated: ${allocated}`);
  } finally {
    client.close();
    await listening.close();
  }
});

/**
 * Reads frames of `frameBytes` through 128 KiB slabs, checking each as it arrives, releasing
 * all but every eighth, and checks the kept ones again at the end.
 */
async function readKeepingEveryEighth(frameBytes: number): Promise<void> {
  const listening = await server(frameBytes);
  const buffers = new ReceiveBuffers(128 * 1024);
  const client = await dial(listening.address, { secret, role: "client", receiveBuffers: buffers });
  try {
    const kept: DataFrame[] = [];
    let index = 0;
    await readAll(client, (frame) => {
      assertIntact(frame, index);
      if (index % 8 === 0) kept.push(frame);
      else frame.release!();
      index++;
    });
    assert.is(index, frameCount);
    assert.ok(buffers.counts.reused > 0, "released slabs were read into again");
    for (const [at, frame] of kept.entries()) assertIntact(frame, at * 8);
  } finally {
    client.close();
    await listening.close();
  }
}

test("a frame not released keeps its bytes while later frames are read", async () => {
  await readKeepingEveryEighth(64 * 1024);
});

test("frames larger than a buffer arrive intact: a buffer the decoder still reads is not reused", async () => {
  // Each 300 KiB frame spans three or four 128 KiB slabs: the first ones are retired while
  // the decoder still holds their bytes, waiting for the rest of the frame.
  await readKeepingEveryEighth(300 * 1024);
});

test("a client reading into reused buffers stops reading while its stream queue is full", async () => {
  const streamBufferBytesMax = 1024 * 1024;
  const frameBytes = 64 * 1024;
  const totalBytes = 128 * 1024 * 1024;
  let serverSide: Connection | undefined;
  let sentBytes = 0;
  const listening = await listen({
    port: 0,
    secret,
    role: "datanode",
    onConnection: (connection) => {
      serverSide = connection;
    },
    handler: async (request) => {
      const bytes = Buffer.alloc(frameBytes, 9);
      const checksum = xxh64(bytes);
      while (sentBytes < totalBytes) {
        await request.sendData({
          chunkId: 7n,
          offset: BigInt(sentBytes),
          bytes,
          xxh64: checksum,
          end: sentBytes + frameBytes >= totalBytes,
        });
        sentBytes += frameBytes;
      }
      return { bytesSent: totalBytes };
    },
  });
  const client = await dial(listening.address, {
    secret,
    role: "client",
    receiveBuffers: new ReceiveBuffers(),
    streamBufferBytesMax,
  });
  try {
    const read = await client.open("READ_CHUNK", {
      chunkId: 7n,
      generation: 1n,
      token: new Uint8Array(58),
      offset: 0,
      length: totalBytes,
    });
    await waitFor(() => serverSide?.waitingForDrain, 20_000, {
      what: "the server to wait for the client to read",
    });
    // The socket stopped reading: the sender is held back long before the whole stream.
    assert.ok(sentBytes < 48 * 1024 * 1024, `server ran ahead by ${sentBytes} bytes`);
    // Over its bound by at most the one read that took it there, and the frame it finished.
    assert.ok(
      read.items.bufferedBytes <= streamBufferBytesMax + readBytesMax + frameBytes,
      `client queued ${read.items.bufferedBytes} bytes`,
    );
    let received = 0;
    for await (const item of read.items) {
      if (item.kind !== FrameKind.DATA) continue;
      assert.is(xxh64(item.parts), item.xxh64);
      received += item.byteLength;
      item.release!();
      if (item.end) break;
    }
    assert.is(received, totalBytes);
    await read.response;
  } finally {
    client.close();
    await listening.close();
  }
});

test("frames of a connection without reused buffers carry no release", async () => {
  const listening = await server();
  const client = await dial(listening.address, { secret, role: "client" });
  try {
    let count = 0;
    await readAll(client, (frame) => {
      assert.is(frame.release, undefined);
      count++;
    });
    assert.is(count, frameCount);
  } finally {
    client.close();
    await listening.close();
  }
});

test("a decoder told to copy control payloads keeps no view of the bytes pushed", () => {
  const token = Uint8Array.from({ length: 58 }, (_, index) => index);
  const frame = encodeControlFrame(FrameKind.REQUEST, Messages.WRITE_CHUNK.opcode, 1, {
    chunkId: 1n,
    generation: 1n,
    token,
    downstream: [],
  });
  for (const copyControlPayloads of [true, false]) {
    const pushed = Buffer.from(frame);
    const { frames } = new FrameDecoder({ copyControlPayloads }).push(pushed);
    const body = (frames[0] as { body: { token: Uint8Array } }).body;
    pushed.fill(0xee); // the socket reads new bytes into the same buffer
    const intact = Buffer.from(body.token).equals(Buffer.from(token));
    // Without the option the decoded token is a view (zero-copy), and shows the overwrite.
    assert.is(intact, copyControlPayloads, `copyControlPayloads: ${copyControlPayloads}`);
  }
});

test("slabs smaller than two reads are refused", () => {
  assert.throws(() => new ReceiveBuffers(64 * 1024), /at least 128 KiB/);
});

test.run();
