import { randomBytes } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsError,
  type BigFsServer,
  ConnectionPool,
  sendWindowStartBytes,
  xxh64,
} from "#protocol";
import { Downstream } from "../../datanode/_downstream.js";
import { fakeWriteTarget } from "../helpers/fake_write_target.js";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("downstream-test-secret-0123456789");
const frameBytes = 256 * 1024;

/** Opens a write of chunk `chunkId` to `server` as the next DataNode, and runs `use` on it. */
async function withDownstream(
  { server, address }: { server: BigFsServer; address: string },
  chunkId: bigint,
  use: (downstream: Downstream) => Promise<void>,
): Promise<void> {
  const pool = new ConnectionPool({ secret, role: "datanode" });
  try {
    const target = { id: "dn-next", address };
    const body = { chunkId, generation: 1n, token: new Uint8Array(32), downstream: [] };
    await use(await Downstream.open(pool, target, body));
  } finally {
    pool.close();
    await server.close();
  }
}

/** Sends frames until one fails; the failing frame's offset and the error. */
async function sendUntilFailure(
  downstream: Downstream,
): Promise<{ failedAt: number; error: BigFsError }> {
  const bytes = randomBytes(frameBytes);
  let failure: { failedAt: number; error: BigFsError } | undefined;
  const sending = (async () => {
    for (let offset = 0; failure === undefined; offset += frameBytes) {
      await downstream
        .send({ chunkId: 3n, offset: BigInt(offset), bytes, xxh64: xxh64(bytes) })
        .catch((caught: BigFsError) => {
          failure = { failedAt: offset, error: caught };
        });
    }
  })();
  await waitFor(() => failure, 10_000, { what: "the waiting send to fail" });
  await sending;
  return failure!;
}

test("a frame waiting for room in the window fails with the downstream's error, named once", async () => {
  // The next DataNode, which never says how much it takes, fails once it has the window a
  // stream starts with, unacknowledged: the sender has then sent its window and waits for
  // room. That wait must end with the error, not hang.
  const next = await fakeWriteTarget({ secret, failAt: sendWindowStartBytes });
  const { received } = next;
  await withDownstream(next, 3n, async (downstream) => {
    const { failedAt, error } = await sendUntilFailure(downstream);
    assert.is(failedAt, sendWindowStartBytes, "the frame after one window waited, and failed");
    assert.is(received(), sendWindowStartBytes);
    assert.is(error.code, "NO_SPACE");
    const named = error.message.split("DataNode dn-next (").length - 1;
    assert.is(named, 1, error.message);
  });
});

test("the window is what the next DataNode says it takes", async () => {
  const windowBytes = 2 * 1024 * 1024 + frameBytes;
  const next = await fakeWriteTarget({ secret, failAt: windowBytes, windowBytes });
  const { received } = next;
  await withDownstream(next, 3n, async (downstream) => {
    const { failedAt } = await sendUntilFailure(downstream);
    assert.is(failedAt, windowBytes);
    assert.is(received(), windowBytes);
  });
});

test("once the downstream failed, a frame is refused with its error even with room in the window", async () => {
  await withDownstream(await fakeWriteTarget({ secret, failAt: 1 }), 4n, async (downstream) => {
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
  });
});

test.run();
