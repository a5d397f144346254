/**
 * FileReader's choice of replicas across the chunks of one file, against fake DataNodes: one
 * honest, one that takes READ_CHUNK requests and never answers them (a DataNode cut off by
 * the network looks like this from the client).
 */
import { randomBytes } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsServer,
  bytePartsList,
  ConnectionPool,
  createLogger,
  type IncomingRequest,
  listen,
  ReceiveBuffers,
  xxh64,
} from "#protocol";
import type { LocatedChunk } from "../../client/chunk_reader.js";
import { type DownloadContext, FileReader } from "../../client/file_reader.js";
import type { NamenodeClient } from "../../client/namenode_client.js";
import { sha256 } from "../helpers/bytes.js";
import { clusterSecret } from "../helpers/cluster.js";

const chunkBytes = 32 * 1024;
const content = randomBytes(6 * chunkBytes);

/** A DataNode that serves `content`'s chunks, or takes requests and never answers. */
async function fakeDatanode(
  kind: "honest" | "silent",
  release: Promise<void>,
): Promise<{ server: BigFsServer; requests: () => number }> {
  let requests = 0;
  const server = await listen({
    port: 0,
    secret: clusterSecret,
    role: "datanode",
    handler: async (request: IncomingRequest) => {
      requests++;
      const { chunkId } = request.body as { chunkId: bigint };
      if (kind === "silent") {
        await release;
        throw new Error("released at the end of the test");
      }
      const at = Number(chunkId) * chunkBytes;
      const bytes = content.subarray(at, at + chunkBytes);
      await request.sendData({ chunkId, offset: 0n, bytes, xxh64: xxh64(bytes), end: true });
      return { bytesSent: bytes.byteLength };
    },
  });
  return { server, requests: () => requests };
}

/** OPEN's answer: every chunk listed on `replicas`, in that order. */
function locate(replicas: { id: string; address: string }[]): LocatedChunk[] {
  return Array.from({ length: content.length / chunkBytes }, (_, index) => {
    const bytes = content.subarray(index * chunkBytes, (index + 1) * chunkBytes);
    return {
      id: BigInt(index),
      generation: 1n,
      offset: index * chunkBytes,
      size: bytes.byteLength,
      xxh64: xxh64(bytes),
      replicas,
      token: new Uint8Array(8),
    };
  });
}

test("a DataNode that stalled on one chunk is tried last for the rest of the file", async () => {
  let releaseSilent!: () => void;
  const release = new Promise<void>((resolve) => {
    releaseSilent = resolve;
  });
  const silent = await fakeDatanode("silent", release);
  const honest = await fakeDatanode("honest", release);
  const pool = new ConnectionPool({ secret: clusterSecret, role: "client" });
  try {
    const chunks = locate([
      { id: "dn-silent", address: `127.0.0.1:${silent.server.address.port}` },
      { id: "dn-honest", address: `127.0.0.1:${honest.server.address.port}` },
    ]);
    const namenode = {
      request: async (name: string) => {
        assert.is(name, "OPEN");
        return { size: content.length, chunks };
      },
    } as unknown as NamenodeClient;
    const context: DownloadContext = {
      namenode,
      pool,
      logger: createLogger({ name: "client", level: "silent" }),
      chunksInFlight: 1,
      bufferBytesMax: 64 * 1024 * 1024,
      stallTimeoutMs: 300,
    };
    const reader = await FileReader.open(context, "/file");
    const pieces: Uint8Array[] = [];
    for await (const piece of reader.read(0, content.length)) pieces.push(piece);

    assert.is(sha256(Buffer.concat(pieces)), sha256(content), "the file reads back exact");
    assert.is(silent.requests(), 1, "the silent DataNode was asked once, not once per chunk");
    assert.is(honest.requests(), content.length / chunkBytes);
  } finally {
    releaseSilent();
    pool.close();
    await silent.server.close();
    await honest.server.close();
  }
});

test("a download into a file releases each frame once written: its receive slabs are reused", async () => {
  const never = new Promise<void>(() => {});
  const honest = await fakeDatanode("honest", never);
  const receiveBuffers = new ReceiveBuffers(128 * 1024);
  const pool = new ConnectionPool({ secret: clusterSecret, role: "client", receiveBuffers });
  try {
    const chunks = locate([
      { id: "dn-honest", address: `127.0.0.1:${honest.server.address.port}` },
    ]);
    const namenode = {
      request: async () => ({ size: content.length, chunks }),
    } as unknown as NamenodeClient;
    const context: DownloadContext = {
      namenode,
      pool,
      logger: createLogger({ name: "client", level: "silent" }),
      chunksInFlight: 2,
      bufferBytesMax: 64 * 1024 * 1024,
      stallTimeoutMs: 5_000,
    };
    // Four downloads of 192 KiB through 128 KiB slabs: more slabs than were ever allocated.
    for (let round = 0; round < 4; round++) {
      const reader = await FileReader.open(context, "/file");
      const copy = Buffer.alloc(content.length);
      await reader.readInto(async (position, bytes) => {
        await Promise.resolve(); // written later, as a file write is
        let at = position;
        for (const part of bytePartsList(bytes)) {
          copy.set(part, at);
          at += part.byteLength;
        }
      });
      assert.is(sha256(copy), sha256(content), `download ${round + 1} reads back exact`);
    }
    assert.ok(receiveBuffers.counts.reused > 0, `slabs reused: ${receiveBuffers.counts.reused}`);
  } finally {
    pool.close();
    await honest.server.close();
  }
});

test.run();
