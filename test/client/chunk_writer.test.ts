import { randomBytes } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsError,
  type BigFsServer,
  ConnectionPool,
  type IncomingRequest,
  listen,
  sendWindowBytesDefault,
  sendWindowStartBytes,
  xxh64,
} from "#protocol";
import type { ChunkData, ChunkFrame } from "../../client/chunk_source.js";
import { type ChunkGrant, writeChunk } from "../../client/chunk_writer.js";

const secret = Buffer.from("chunk-writer-test-secret-0123456789");
const frameBytes = 256 * 1024;

/** A chunk of `frames` frames held in memory. */
function chunkOf(frames: number): ChunkData {
  const bytes = randomBytes(frames * frameBytes);
  return {
    index: 0,
    fileOffset: 0,
    sizeBytes: bytes.byteLength,
    xxh64: xxh64(bytes),
    last: true,
    async *frames(): AsyncGenerator<ChunkFrame> {
      for (let offset = 0; offset < bytes.byteLength; offset += frameBytes) {
        const piece = bytes.subarray(offset, offset + frameBytes);
        yield { offset, bytes: piece, xxh64: xxh64(piece) };
      }
    },
  };
}

/**
 * A first DataNode that takes every frame at once; it acknowledges them only when `acks` is
 * set, and answers after the last. With `windowBytes` it first tells the client its window.
 */
async function fakeDataNode(
  acks: boolean,
  windowBytes?: number,
): Promise<{ server: BigFsServer; received: () => number }> {
  let received = 0;
  const server = await listen({
    port: 0,
    secret,
    role: "datanode",
    handler: async (request) => {
      const write = request as IncomingRequest<"WRITE_CHUNK">;
      if (windowBytes !== undefined) await write.sendMessage({ ackedBytes: 0, windowBytes });
      const hasher: Uint8Array[] = [];
      for await (const item of write.items) {
        if (item.kind !== 5) continue;
        received += item.byteLength;
        hasher.push(Buffer.concat(item.parts as Uint8Array[]));
        if (item.end) break;
        if (acks) await write.sendMessage({ ackedBytes: received });
      }
      return { stored: ["dn-fake"], size: received, xxh64: xxh64(Buffer.concat(hasher)) };
    },
  });
  return { server, received: () => received };
}

function grantFor(server: BigFsServer): ChunkGrant {
  const { host, port } = server.address;
  return {
    chunkId: 7n,
    generation: 1n,
    pipeline: [{ id: "dn-fake", address: `${host}:${port}` }],
    token: new Uint8Array(32),
  };
}

for (const [said, windowBytes, expected] of [
  ["never says its window", undefined, sendWindowStartBytes],
  ["says 3 MiB", 3 * 1024 * 1024, 3 * 1024 * 1024],
  ["says more than the most a client keeps", 64 * 1024 * 1024, sendWindowBytesDefault],
] as const) {
  test(`an upload sends no more than its window unacknowledged: a DataNode that ${said}`, async () => {
    const { server, received } = await fakeDataNode(false, windowBytes);
    const pool = new ConnectionPool({ secret, role: "client" });
    try {
      // 64 frames, 16 MiB. Nothing is acknowledged, so after one window the upload waits
      // until its stall timeout fails it; without a window it would send them all and get
      // its answer.
      const outcome = await writeChunk(pool, grantFor(server), chunkOf(64), {
        stallTimeoutMs: 500,
      }).then(
        () => undefined,
        (caught: unknown) => caught as BigFsError,
      );
      assert.ok(outcome, "the whole chunk went unacknowledged and was answered");
      assert.is(outcome.code, "TIMEOUT", outcome.message);
      assert.is(received(), expected);
    } finally {
      pool.close();
      await server.close();
    }
  });
}

test("an upload whose pipeline acknowledges goes on past its window to the end", async () => {
  const { server, received } = await fakeDataNode(true);
  const pool = new ConnectionPool({ secret, role: "client" });
  try {
    const acked: number[] = [];
    await writeChunk(pool, grantFor(server), chunkOf(64), {
      stallTimeoutMs: 10_000,
      onAck: (bytes) => acked.push(bytes),
    });
    assert.is(received(), 64 * frameBytes);
    // Past the window only through acknowledgements (the last frame's is the answer).
    assert.ok(
      acked.some((bytes) => bytes >= sendWindowBytesDefault),
      `acks ${acked}`,
    );
    assert.ok(acked.every((bytes) => bytes <= 63 * frameBytes));
  } finally {
    pool.close();
    await server.close();
  }
});

test.run();
