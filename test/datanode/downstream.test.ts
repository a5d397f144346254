import { randomBytes } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  BigFsError,
  type BigFsServer,
  ConnectionPool,
  type IncomingRequest,
  listen,
  sendWindowBytesDefault,
  xxh64,
} from "#protocol";
import { Downstream } from "../../datanode/_downstream.js";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("downstream-test-secret-0123456789");
const frameBytes = 256 * 1024;

/** A next DataNode that takes frames without acknowledging them, and fails after `failAt` bytes. */
async function silentDataNode(
  failAt: number,
): Promise<{ server: BigFsServer; received: () => number }> {
  let received = 0;
  const server = await listen({
    port: 0,
    secret,
    role: "datanode",
    handler: async (request) => {
      for await (const item of (request as IncomingRequest<"WRITE_CHUNK">).items) {
        if (item.kind !== 5) continue;
        received += item.byteLength;
        if (received >= failAt) throw new BigFsError("NO_SPACE", "the disk is full");
      }
      throw new BigFsError("INTERNAL", "the stream ended");
    },
  });
  return { server, received: () => received };
}

test("a frame waiting for room in the window fails with the downstream's error, named once", async () => {
  // The next DataNode fails once it has one window's worth, unacknowledged: the sender has
  // then sent its window and waits for room. That wait must end with the error, not hang.
  const { server, received } = await silentDataNode(sendWindowBytesDefault);
  const pool = new ConnectionPool({ secret, role: "datanode" });
  const { host, port } = server.address;
  const target = { id: "dn-next", address: `${host}:${port}` };
  try {
    const downstream = await Downstream.open(pool, target, {
      chunkId: 3n,
      generation: 1n,
      token: new Uint8Array(32),
      downstream: [],
    });
    const bytes = randomBytes(frameBytes);
    let error: BigFsError | undefined;
    let failedAt = -1;
    const sending = (async () => {
      for (let offset = 0; error === undefined; offset += frameBytes) {
        await downstream
          .send({ chunkId: 3n, offset: BigInt(offset), bytes, xxh64: xxh64(bytes) })
          .catch((caught: BigFsError) => {
            error = caught;
            failedAt = offset;
          });
      }
    })();
    await waitFor(() => error, 10_000, { what: "the waiting send to fail" });
    await sending;
    assert.is(failedAt, sendWindowBytesDefault, "the frame after one window waited, and failed");
    assert.is(received(), sendWindowBytesDefault);
    assert.is(error!.code, "NO_SPACE");
    const named = error!.message.split("DataNode dn-next (").length - 1;
    assert.is(named, 1, error!.message);
  } finally {
    pool.close();
    await server.close();
  }
});

test("once the downstream failed, a frame is refused with its error even with room in the window", async () => {
  const { server } = await silentDataNode(1);
  const pool = new ConnectionPool({ secret, role: "datanode" });
  const { host, port } = server.address;
  try {
    const downstream = await Downstream.open(
      pool,
      { id: "dn-next", address: `${host}:${port}` },
      {
        chunkId: 4n,
        generation: 1n,
        token: new Uint8Array(32),
        downstream: [],
      },
    );
    const bytes = randomBytes(1024);
    await downstream.send({ chunkId: 4n, offset: 0n, bytes, xxh64: xxh64(bytes) });
    const failed = await downstream.failure.catch((caught: unknown) => caught);
    const later = await downstream
      .send({ chunkId: 4n, offset: 1024n, bytes, xxh64: xxh64(bytes) })
      .then(
        () => "sent",
        (caught: unknown) => caught,
      );
    assert.is(later, failed, "a frame went into a failed request");
  } finally {
    pool.close();
    await server.close();
  }
});

test.run();
