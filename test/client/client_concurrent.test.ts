import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isBigFsError } from "#client";
import { Cluster } from "../helpers/cluster.js";

const chunkBytes = 64 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of stream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

/** A source that gives its bytes in small pieces, so two uploads overlap in time. */
function trickle(content: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < content.length; offset += 16 * 1024) {
    pieces.push(content.subarray(offset, offset + 16 * 1024));
  }
  return Readable.from(pieces);
}

test("two uploads of one name: one is refused, the other's content is intact", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  try {
    const first = await cluster.client();
    const second = await cluster.client();
    const contents = [randomBytes(6 * chunkBytes + 3), randomBytes(6 * chunkBytes + 9)];
    const results = await Promise.allSettled([
      first.put(trickle(contents[0]!), "/same"),
      second.put(trickle(contents[1]!), "/same"),
    ]);
    const won = results.findIndex((result) => result.status === "fulfilled");
    const lost = results.findIndex((result) => result.status === "rejected");
    assert.ok(won >= 0 && lost >= 0, results.map((result) => result.status).join(", "));
    const reason = (results[lost] as PromiseRejectedResult).reason;
    assert.ok(
      isBigFsError(reason, "LEASE_CONFLICT") || isBigFsError(reason, "EXISTS"),
      String(reason),
    );
    assert.ok((await readAll(first.createReadStream("/same"))).equals(contents[won]!));
    assert.is((await first.list("/")).length, 1);
  } finally {
    await cluster.stop();
  }
});

test("two uploads of one name with overwrite: the file is exactly one of them", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  try {
    const first = await cluster.client();
    const second = await cluster.client();
    const contents = [randomBytes(5 * chunkBytes + 1), randomBytes(4 * chunkBytes + 2)];
    const results = await Promise.allSettled([
      first.put(trickle(contents[0]!), "/over", { overwrite: true }),
      second.put(trickle(contents[1]!), "/over", { overwrite: true }),
    ]);
    assert.ok(results.some((result) => result.status === "fulfilled"));
    for (const result of results) {
      if (result.status === "rejected") {
        assert.ok(isBigFsError(result.reason, "LEASE_CONFLICT"), String(result.reason));
      }
    }
    const stored = await readAll(second.createReadStream("/over"));
    assert.ok(
      stored.equals(contents[0]!) || stored.equals(contents[1]!),
      `the file (${stored.length} bytes) is one upload, not a mix`,
    );
    // Once both are done, a third overwrite replaces it whole.
    const third = randomBytes(2 * chunkBytes);
    await first.put(Readable.from([third]), "/over", { overwrite: true });
    assert.ok((await readAll(first.createReadStream("/over"))).equals(third));
  } finally {
    await cluster.stop();
  }
});

test.run();
