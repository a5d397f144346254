import { randomBytes } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsError,
  ConnectionPool,
  sendWindowBytesDefault,
  sendWindowStartBytes,
  xxh64,
} from "#protocol";
import type { ChunkData, ChunkFrame } from "../../client/chunk_source.js";
import { type ChunkGrant, writeChunk } from "../../client/chunk_writer.js";
import { fakeWriteTarget } from "../helpers/fake_write_target.js";

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

/** What `upload` failed with; undefined when it succeeded. */
function failureOf(upload: Promise<unknown>): Promise<BigFsError | undefined> {
  return upload.then(
    () => undefined,
    (caught: unknown) => caught as BigFsError,
  );
}

function grantFor(address: string): ChunkGrant {
  return {
    chunkId: 7n,
    generation: 1n,
    pipeline: [{ id: "dn-fake", address }],
    token: new Uint8Array(32),
  };
}

for (const [said, windowBytes, expected] of [
  ["never says its window", undefined, sendWindowStartBytes],
  ["says 3 MiB", 3 * 1024 * 1024, 3 * 1024 * 1024],
  ["says more than the most a client keeps", 64 * 1024 * 1024, sendWindowBytesDefault],
] as const) {
  test(`an upload sends no more than its window unacknowledged: a DataNode that ${said}`, async () => {
    const { server, address, received } = await fakeWriteTarget({
      secret,
      ...(windowBytes === undefined ? {} : { windowBytes }),
    });
    const pool = new ConnectionPool({ secret, role: "client" });
    try {
      // 64 frames, 16 MiB. Nothing is acknowledged, so after one window the upload waits
      // until its stall timeout fails it; without a window it would send them all and get
      // its answer.
      const outcome = await failureOf(
        writeChunk(pool, grantFor(address), chunkOf(64), { stallTimeoutMs: 500 }),
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

test("an upload waiting for room in its window ends with its pipeline's failure", async () => {
  // The DataNode fails once the first window came and acknowledges nothing: the upload is
  // waiting for room when it fails, and must end with that error, not its stall timeout.
  const { server, address } = await fakeWriteTarget({ secret, failAt: sendWindowStartBytes });
  const pool = new ConnectionPool({ secret, role: "client" });
  try {
    const outcome = await failureOf(
      writeChunk(pool, grantFor(address), chunkOf(64), { stallTimeoutMs: 60_000 }),
    );
    assert.ok(outcome, "the failed pipeline was answered as stored");
    assert.is(outcome.code, "NO_SPACE", outcome.message);
  } finally {
    pool.close();
    await server.close();
  }
});

test("an upload whose pipeline acknowledges goes on past its window to the end", async () => {
  const { server, address, received } = await fakeWriteTarget({ secret, acks: true });
  const pool = new ConnectionPool({ secret, role: "client" });
  try {
    const acked: number[] = [];
    await writeChunk(pool, grantFor(address), chunkOf(64), {
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
