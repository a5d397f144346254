import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Connection, dial, mintChunkToken, sendWindowBytesDefault, xxh64 } from "#protocol";
import { chunksFolderName } from "../../datanode/_chunk_layout.js";
import { decodeChunkMeta, footerBytes } from "../../datanode/_chunk_meta.js";
import { chunkBytes, readChunk, rejection, tokenFor, writeChunk } from "../helpers/chunk_client.js";
import { type DataNodeProcess, spawnDataNode } from "../helpers/datanode_process.js";
import { FakeNameNode } from "../helpers/fake_namenode.js";
import { replicaBytes, replicasOnDisk } from "../helpers/stored_replicas.js";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("pipeline-test-secret-0123456789abcdef");

let folder: string;
let namenode: FakeNameNode;
let nodes: DataNodeProcess[] = [];
const connections: Connection[] = [];

async function connect(node: DataNodeProcess): Promise<Connection> {
  const connection = await dial({ host: node.host, port: node.port }, { secret, role: "client" });
  connections.push(connection);
  return connection;
}

function refs(...chosen: DataNodeProcess[]): { id: string; address: string }[] {
  return chosen.map((node) => ({ id: node.id, address: node.address }));
}

test.before(async () => {
  folder = await mkdtemp(join(tmpdir(), "bigfs-pipeline-test-"));
  const secretFile = join(folder, "secret");
  await writeFile(secretFile, `${secret.toString("latin1")}\n`);
  namenode = await FakeNameNode.start({ secret, heartbeatIntervalMs: 100 });
  nodes = await Promise.all(
    [1, 2, 3].map((index) =>
      spawnDataNode({
        dataDir: join(folder, `dn${index}`),
        namenode: namenode.address,
        secretFile,
      }),
    ),
  );
  await waitFor(() => nodes.every((node) => namenode.registersOf(node.id).length > 0), 10_000, {
    what: "all three DataNodes to register",
  });
});

test.after(async () => {
  for (const connection of connections) connection.close();
  await Promise.all(nodes.map((node) => node.kill("SIGKILL")));
  await namenode?.close();
  await rm(folder, { recursive: true, force: true });
});

test("each DataNode registers with its advertised address and an empty full report", () => {
  for (const node of nodes) {
    const register = namenode.registersOf(node.id)[0]!;
    assert.is(register.address, node.address);
    assert.equal(register.chunks, []);
    assert.ok(register.capacityBytes > 0);
  }
});

test("a chunk written through three DataNodes is stored, identical and verified, on all three", async () => {
  const [first, second, third] = nodes as [DataNodeProcess, DataNodeProcess, DataNodeProcess];
  const bytes = chunkBytes(1024 * 1024 + 12_345);
  const client = await connect(first);
  const written = await writeChunk(client, bytes, {
    secret,
    chunkId: 100n,
    downstream: refs(second, third),
  });
  assert.equal(written.stored, [first.id, second.id, third.id]);
  assert.is(written.size, bytes.byteLength);
  assert.is(written.xxh64, xxh64(bytes));
  for (const node of nodes) {
    const { bytes: copy, response } = await readChunk(await connect(node), {
      secret,
      chunkId: 100n,
    });
    assert.ok(copy.equals(bytes), `the replica on ${node.id} differs`);
    assert.is(response.bytesSent, bytes.byteLength);
    assert.is(xxh64(copy), written.xxh64);
    // Only the last DataNode hashed the whole chunk; the others recorded its figure.
    const onDisk = (await replicasOnDisk(node.dataDir)).find((r) => r.chunkId === 100n)!;
    const file = await replicaBytes(onDisk);
    const meta = decodeChunkMeta(
      file.subarray(onDisk.sizeBytes, onDisk.fileBytes - footerBytes),
      `chunk 100 on ${node.id}`,
    );
    assert.is(meta.xxh64, written.xxh64, `the whole-chunk xxh64 recorded on ${node.id}`);
    await waitFor(() => namenode.addedBy(node.id).some((r) => r.id === 100n), 5_000, {
      what: `CHUNK_REPORT added from ${node.id}`,
    });
    assert.equal(
      namenode.addedBy(node.id).find((r) => r.id === 100n),
      {
        id: 100n,
        generation: 1n,
        size: bytes.byteLength,
      },
    );
  }
});

test("the first DataNode acknowledges bytes upstream as the whole pipeline has them", async () => {
  const [first, second, third] = nodes as [DataNodeProcess, DataNodeProcess, DataNodeProcess];
  const client = await connect(first);
  const bytes = chunkBytes(512 * 1024);
  const write = await client.open("WRITE_CHUNK", {
    chunkId: 101n,
    generation: 1n,
    token: tokenFor(secret, 101n, 1n, "write"),
    downstream: refs(second, third),
  });
  const acks: number[] = [];
  const windows: (number | undefined)[] = [];
  const reading = (async () => {
    for await (const item of write.items) {
      if (item.kind !== 6) continue;
      const { ackedBytes, windowBytes } = item.body as { ackedBytes: number; windowBytes?: number };
      windows.push(windowBytes);
      acks.push(ackedBytes);
    }
  })().catch(() => {});
  const frameBytes = 32 * 1024;
  for (let offset = 0; offset < bytes.byteLength; offset += frameBytes) {
    const piece = bytes.subarray(offset, offset + frameBytes);
    await write.sendData({
      chunkId: 101n,
      offset: BigInt(offset),
      bytes: piece,
      xxh64: xxh64(piece),
      end: offset + frameBytes >= bytes.byteLength,
    });
  }
  await waitFor(() => acks.length > 0, 5_000, { what: "a pipeline ack" });
  const response = await write.response;
  await reading;
  assert.is(response.size, bytes.byteLength);
  assert.ok(
    acks.every((acked, index) => acked > (acks[index - 1] ?? 0)),
    "acks only grow",
  );
  assert.ok(acks.every((acked) => acked % frameBytes === 0 && acked <= bytes.byteLength));
  // The last frame is acknowledged by the response alone.
  assert.ok(acks.at(-1)! < bytes.byteLength, `last ack ${acks.at(-1)}`);
  // Every ack tells the sender its window: one write under way takes the most a sender keeps.
  assert.ok(
    windows.every((window) => window === sendWindowBytesDefault),
    `windows ${windows}`,
  );
});

test("a frame with a wrong checksum is refused with CHECKSUM_MISMATCH naming the DataNode", async () => {
  const [first, second, third] = nodes as [DataNodeProcess, DataNodeProcess, DataNodeProcess];
  const client = await connect(first);
  const error = await rejection(
    writeChunk(client, chunkBytes(400 * 1024), {
      secret,
      chunkId: 200n,
      downstream: refs(second, third),
      corruptFrame: 3,
    }),
  );
  assert.is(error.code, "CHECKSUM_MISMATCH");
  assert.match(error.message, `DataNode ${first.id} (${first.address})`);
  assert.match(error.message, "offset 196608");
  for (const node of nodes) {
    const missing = await rejection(readChunk(await connect(node), { secret, chunkId: 200n }));
    assert.is(missing.code, "NOT_FOUND", `${node.id} kept chunk 200`);
  }
});

test("a forged, expired or misdirected token is refused with ACCESS_DENIED", async () => {
  const [first, second] = nodes as [DataNodeProcess, DataNodeProcess];
  const client = await connect(first);
  const forged = mintChunkToken(Buffer.from("some-other-cluster-secret-000000"), {
    chunkId: 300n,
    generation: 1n,
    operation: "write",
    expiresAtMs: Date.now() + 60_000,
  });
  const tokens: [string, Uint8Array][] = [
    ["forged", forged],
    ["expired", tokenFor(secret, 300n, 1n, "write", Date.now() - 1_000)],
    ["another chunk", tokenFor(secret, 301n, 1n, "write")],
    ["another generation", tokenFor(secret, 300n, 2n, "write")],
    ["a read token", tokenFor(secret, 300n, 1n, "read")],
    ["garbage", new Uint8Array(58)],
  ];
  for (const [what, token] of tokens) {
    const error = await rejection(
      writeChunk(client, chunkBytes(1000), {
        secret,
        chunkId: 300n,
        token,
        downstream: refs(second),
      }),
    );
    assert.is(error.code, "ACCESS_DENIED", what);
  }
  const read = await rejection(readChunk(client, { secret, chunkId: 100n, token: forged }));
  assert.is(read.code, "ACCESS_DENIED");
});

test("a pipeline stuck behind a stopped DataNode holds up no other pipeline through the same two", async () => {
  const [first, second, third] = nodes as [DataNodeProcess, DataNodeProcess, DataNodeProcess];
  // Both pipelines go from the first DataNode to the second, over its one pooled connection.
  // The stuck one goes on to the third, which is stopped: the second cannot pass its frames
  // on. Without a send window the first forwards them until the second's queue for that
  // stream passes its bound and the second stops reading the shared connection.
  third.child.kill("SIGSTOP");
  try {
    const stuckBytes = chunkBytes(48 * 1024 * 1024);
    let stuckFrames = 0;
    const stuck = writeChunk(await connect(first), stuckBytes, {
      secret,
      chunkId: 150n,
      downstream: refs(second, third),
      frameBytes: 256 * 1024,
      afterFrame: (index) => {
        stuckFrames = index + 1;
      },
    });
    stuck.catch(() => {});
    await waitFor(() => stuckFrames >= 16, 10_000, { what: "4 MiB of the stuck chunk to go" });

    const otherBytes = chunkBytes(48 * 1024 * 1024);
    const other = writeChunk(await connect(first), otherBytes, {
      secret,
      chunkId: 151n,
      downstream: refs(second),
      frameBytes: 256 * 1024,
    });
    let answer: Awaited<typeof other> | undefined;
    other.then(
      (response) => {
        answer = response;
      },
      () => {},
    );
    await waitFor(() => answer, 20_000, { what: "the other pipeline's answer" });
    assert.equal(answer!.stored, [first.id, second.id]);
    assert.is(answer!.size, otherBytes.byteLength);

    // The stopped DataNode goes on, and so does the stuck pipeline.
    third.child.kill("SIGCONT");
    const response = await stuck;
    assert.equal(response.stored, [first.id, second.id, third.id]);
    assert.equal(
      (await readChunk(await connect(third), { secret, chunkId: 150n })).bytes,
      stuckBytes,
    );
  } finally {
    third.child.kill("SIGCONT");
  }
});

test("the last DataNode failing at its own finalise leaves no replica on the two before it", async () => {
  const [first, second, third] = nodes as [DataNodeProcess, DataNodeProcess, DataNodeProcess];
  // A file stands where the third DataNode would make this chunk's folder: every frame reaches
  // all three, and the third fails only as it finalises. The two before it wait for its
  // answer (its whole-chunk xxh64) before finalising, so they must store nothing either.
  const chunkId = 0x07_0000n;
  const blocker = join(third.dataDir, chunksFolderName, "07");
  await writeFile(blocker, "in the way\n");
  try {
    const error = await rejection(
      writeChunk(await connect(first), chunkBytes(2 * 1024 * 1024), {
        secret,
        chunkId,
        downstream: refs(second, third),
      }),
    );
    // A disk error, as the third DataNode met it (ENOTDIR), naming that DataNode.
    assert.is(error.code, "INTERNAL");
    assert.match(error.message, `DataNode ${third.id} (${third.address})`);
    for (const node of nodes) {
      const missing = await rejection(readChunk(await connect(node), { secret, chunkId }));
      assert.is(missing.code, "NOT_FOUND", `${node.id} kept the chunk`);
      await waitFor(async () => (await readdir(join(node.dataDir, "tmp"))).length === 0, 5_000, {
        what: `${node.id} to remove its temp file`,
      });
      assert.not.ok(namenode.addedBy(node.id).some((r) => r.id === chunkId));
    }
  } finally {
    await rm(blocker, { force: true });
  }
});

test("a downstream DataNode killed mid-chunk fails the write with UNAVAILABLE naming it", async () => {
  const [first, second, third] = nodes as [DataNodeProcess, DataNodeProcess, DataNodeProcess];
  const client = await connect(first);
  const error = await rejection(
    writeChunk(client, chunkBytes(2 * 1024 * 1024), {
      secret,
      chunkId: 400n,
      downstream: refs(second, third),
      frameBytes: 32 * 1024,
      afterFrame: async (index) => {
        if (index === 8) assert.is(await second.kill("SIGKILL"), "SIGKILL");
      },
    }),
  );
  assert.is(error.code, "UNAVAILABLE");
  assert.match(error.message, `DataNode ${second.id} (${second.address})`);
  for (const node of [first, third]) {
    const missing = await rejection(readChunk(await connect(node), { secret, chunkId: 400n }));
    assert.is(missing.code, "NOT_FOUND", `${node.id} kept chunk 400`);
    await waitFor(async () => (await readdir(join(node.dataDir, "tmp"))).length === 0, 5_000, {
      what: `${node.id} to remove its temp file`,
    });
    assert.not.ok(namenode.addedBy(node.id).some((r) => r.id === 400n));
  }
  // The survivors still serve what they had.
  const { bytes } = await readChunk(await connect(third), { secret, chunkId: 100n });
  assert.is(bytes.byteLength, 1024 * 1024 + 12_345);
});

test("SIGTERM stops a DataNode cleanly with exit code 0 and keeps its chunks", async () => {
  const third = nodes[2]!;
  assert.is(await third.kill("SIGTERM"), 0);
  assert.ok(third.logs.some((line) => line.msg === "DataNode stopped"));
  const chunks = await readdir(join(third.dataDir, "chunks"), { recursive: true });
  assert.ok(chunks.some((name) => String(name).endsWith("chunk_100_1.data")));
});

test.run();
