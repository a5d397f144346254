import { mkdtemp, open, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DataNode, type DataNodeOptions, parseDataNodeConfig } from "#datanode";
import { type Connection, createLogger, dial, xxh64 } from "#protocol";
import { chunkBytes, readChunk, rejection, tokenFor, writeChunk } from "../helpers/chunk_client.js";
import { FakeNameNode } from "../helpers/fake_namenode.js";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("datanode-test-secret-0123456789ab");

/** One test's world: a fake NameNode, temp folders, DataNodes and client connections. */
class World {
  namenode!: FakeNameNode;
  readonly folders: string[] = [];
  readonly nodes = new Set<DataNode>();
  readonly connections: Connection[] = [];

  static async create(heartbeatIntervalMs = 50): Promise<World> {
    const world = new World();
    world.namenode = await FakeNameNode.start({ secret, heartbeatIntervalMs });
    return world;
  }

  async folder(): Promise<string> {
    const folder = await mkdtemp(join(tmpdir(), "bigfs-datanode-test-"));
    this.folders.push(folder);
    return folder;
  }

  async start(
    dataDir: string,
    flags: string[] = [],
    options: Partial<DataNodeOptions> = {},
  ): Promise<DataNode> {
    const config = parseDataNodeConfig([
      ...["--data-dir", dataDir, "--port", "0", "--namenode", this.namenode.address],
      ...["--http-port", "0"],
      ...flags,
    ]);
    const registersBefore = this.namenode.registers.length;
    const node = await DataNode.start(config, { secret, reconnectDelayMsMax: 300, ...options });
    this.nodes.add(node);
    const registered = () =>
      this.namenode.registers.slice(registersBefore).some((r) => r.datanodeId === node.id);
    await waitFor(registered, 5_000, {
      what: `${node.id} to register`,
    });
    return node;
  }

  async stop(node: DataNode): Promise<void> {
    this.nodes.delete(node);
    await node.stop();
  }

  async connect(node: DataNode): Promise<Connection> {
    const connection = await dial(node.boundAddress, { secret, role: "client" });
    this.connections.push(connection);
    return connection;
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.close();
    await Promise.allSettled([...this.nodes].map((node) => node.stop()));
    await this.namenode.close();
    await Promise.all(this.folders.map((folder) => rm(folder, { recursive: true, force: true })));
  }
}

async function withWorld(
  body: (world: World) => Promise<void>,
  heartbeatIntervalMs?: number,
): Promise<void> {
  const world = await World.create(heartbeatIntervalMs);
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

/** Flips one byte in the middle of a replica's data file. */
async function flipByte(dataDir: string, chunkId: bigint, generation = 1n): Promise<void> {
  const name = `chunk_${chunkId}_${generation}.data`;
  const entries = await readdir(join(dataDir, "chunks"), { recursive: true, withFileTypes: true });
  const entry = entries.find((candidate) => candidate.name === name);
  assert.ok(entry, `no data file ${name} under ${dataDir}`);
  const file = await open(join(entry.parentPath, entry.name), "r+");
  try {
    const { size } = await file.stat();
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, Math.floor(size / 2));
    byte[0] = byte[0]! ^ 0xff;
    await file.write(byte, 0, 1, Math.floor(size / 2));
  } finally {
    await file.close();
  }
}

test("a chunk reads back whole and by range, and the NameNode hears it was added", async () => {
  await withWorld(async (world) => {
    const node = await world.start(await world.folder());
    const client = await world.connect(node);
    const bytes = chunkBytes(700 * 1024 + 7);
    const written = await writeChunk(client, bytes, { secret, chunkId: 11n });
    assert.equal(written.stored, [node.id]);
    assert.is(written.size, bytes.byteLength);
    assert.is(written.xxh64, xxh64(bytes));
    await waitFor(() => world.namenode.addedBy(node.id).some((r) => r.id === 11n), 5_000);
    assert.equal(world.namenode.addedBy(node.id)[0], {
      id: 11n,
      generation: 1n,
      size: bytes.byteLength,
    });

    const whole = await readChunk(client, { secret, chunkId: 11n });
    assert.ok(whole.bytes.equals(bytes));
    assert.is(whole.response.bytesSent, bytes.byteLength);
    const ranges: [number, number][] = [
      [0, 100],
      [200_000, 300_000],
      [bytes.byteLength - 10, 100],
      [bytes.byteLength, 10],
    ];
    for (const [offset, length] of ranges) {
      const { bytes: got, response } = await readChunk(client, {
        secret,
        chunkId: 11n,
        offset,
        length,
      });
      const expected = bytes.subarray(offset, offset + length);
      assert.ok(got.equals(expected), `range ${offset}+${length}`);
      assert.is(response.bytesSent, expected.byteLength);
    }
    const past = await rejection(
      readChunk(client, { secret, chunkId: 11n, offset: bytes.byteLength + 1 }),
    );
    assert.is(past.code, "INVALID_ARGUMENT");
    const stale = await rejection(readChunk(client, { secret, chunkId: 11n, generation: 2n }));
    assert.is(stale.code, "STALE_GENERATION");
    const missing = await rejection(readChunk(client, { secret, chunkId: 12n }));
    assert.is(missing.code, "NOT_FOUND");
    const wrongToken = await rejection(
      readChunk(client, { secret, chunkId: 11n, token: tokenFor(secret, 11n, 1n, "write") }),
    );
    assert.is(wrongToken.code, "ACCESS_DENIED");
  });
});

test("an empty chunk is stored and read back as one empty end frame", async () => {
  await withWorld(async (world) => {
    const node = await world.start(await world.folder());
    const client = await world.connect(node);
    const written = await writeChunk(client, new Uint8Array(0), { secret, chunkId: 5n });
    assert.is(written.size, 0);
    const { bytes, response } = await readChunk(client, { secret, chunkId: 5n });
    assert.is(bytes.byteLength, 0);
    assert.is(response.bytesSent, 0);
  });
});

test("a replica corrupted on disk is refused with CHECKSUM_MISMATCH and reported corrupt", async () => {
  await withWorld(async (world) => {
    const dataDir = await world.folder();
    const node = await world.start(dataDir);
    const client = await world.connect(node);
    const bytes = chunkBytes(300 * 1024);
    await writeChunk(client, bytes, { secret, chunkId: 21n });
    await writeChunk(client, bytes, { secret, chunkId: 22n });
    await flipByte(dataDir, 21n);
    const error = await rejection(readChunk(client, { secret, chunkId: 21n }));
    assert.is(error.code, "CHECKSUM_MISMATCH");
    assert.match(error.message, node.id);
    const report = await waitFor(
      () => world.namenode.corruptReports.find((r) => r.chunkId === 21n),
      5_000,
      { what: "REPORT_CORRUPT for chunk 21" },
    );
    assert.is(report.datanodeId, node.id);
    assert.is(report.generation, 1n);
    const other = await readChunk(client, { secret, chunkId: 22n });
    assert.ok(other.bytes.equals(bytes), "the other chunk is still served");
  });
});

test("a delete command removes the chunk and reports it removed", async () => {
  await withWorld(async (world) => {
    const node = await world.start(await world.folder());
    const client = await world.connect(node);
    await writeChunk(client, chunkBytes(10_000), { secret, chunkId: 31n });
    world.namenode.queueCommand(node.id, {
      action: "delete",
      chunks: [{ id: 31n, generation: 1n }],
    });
    await waitFor(() => world.namenode.removedBy(node.id).some((r) => r.id === 31n), 5_000, {
      what: "CHUNK_REPORT removed 31",
    });
    const error = await rejection(readChunk(client, { secret, chunkId: 31n }));
    assert.is(error.code, "NOT_FOUND");
  });
});

test("a replicate command copies the chunk to the target, which verifies and reports it", async () => {
  await withWorld(async (world) => {
    const source = await world.start(await world.folder());
    const target = await world.start(await world.folder());
    const bytes = chunkBytes(900 * 1024);
    await writeChunk(await world.connect(source), bytes, { secret, chunkId: 41n, generation: 3n });
    world.namenode.queueCommand(source.id, {
      action: "replicate",
      chunks: [{ id: 41n, generation: 3n }],
      targets: [{ id: target.id, address: target.address }],
      tokens: [tokenFor(secret, 41n, 3n, "replicate")],
    });
    await waitFor(() => world.namenode.addedBy(target.id).some((r) => r.id === 41n), 10_000, {
      what: "the target to report chunk 41",
    });
    const copy = await readChunk(await world.connect(target), {
      secret,
      chunkId: 41n,
      generation: 3n,
    });
    assert.ok(copy.bytes.equals(bytes));
  });
});

test("a replicate command with a token for another operation is refused by the target", async () => {
  await withWorld(async (world) => {
    const source = await world.start(await world.folder());
    const target = await world.start(await world.folder());
    await writeChunk(await world.connect(source), chunkBytes(1000), { secret, chunkId: 42n });
    world.namenode.queueCommand(source.id, {
      action: "replicate",
      chunks: [{ id: 42n, generation: 1n }],
      targets: [{ id: target.id, address: target.address }],
      tokens: [tokenFor(secret, 42n, 1n, "read")],
    });
    // Then a good command, to know the first one has been tried.
    await writeChunk(await world.connect(source), chunkBytes(1000), { secret, chunkId: 43n });
    world.namenode.queueCommand(source.id, {
      action: "replicate",
      chunks: [{ id: 43n, generation: 1n }],
      targets: [{ id: target.id, address: target.address }],
      tokens: [tokenFor(secret, 43n, 1n, "replicate")],
    });
    await waitFor(() => world.namenode.addedBy(target.id).some((r) => r.id === 43n), 10_000);
    assert.not.ok(world.namenode.addedBy(target.id).some((r) => r.id === 42n));
    const error = await rejection(readChunk(await world.connect(target), { secret, chunkId: 42n }));
    assert.is(error.code, "NOT_FOUND");
  });
});

test("the scrubber finds a flipped byte and reports the replica corrupt", async () => {
  await withWorld(async (world) => {
    const dataDir = await world.folder();
    const node = await world.start(dataDir, ["--scrub-rate", "4MiB"], { scrubIntervalMs: 50 });
    const client = await world.connect(node);
    await writeChunk(client, chunkBytes(512 * 1024), { secret, chunkId: 51n });
    await flipByte(dataDir, 51n);
    const report = await waitFor(
      () => world.namenode.corruptReports.find((r) => r.chunkId === 51n),
      10_000,
      { what: "the scrubber's REPORT_CORRUPT" },
    );
    assert.is(report.datanodeId, node.id);
    assert.match(report.reason, /scrubber/);
  });
});

test("a write past the capacity fails with NO_SPACE and leaves stored chunks intact", async () => {
  await withWorld(async (world) => {
    const dataDir = await world.folder();
    const node = await world.start(dataDir, ["--capacity", "1MiB"]);
    const client = await world.connect(node);
    const first = chunkBytes(600 * 1024);
    await writeChunk(client, first, { secret, chunkId: 61n });
    const error = await rejection(
      writeChunk(client, chunkBytes(600 * 1024), { secret, chunkId: 62n }),
    );
    assert.is(error.code, "NO_SPACE");
    assert.match(error.message, node.id);
    const again = await readChunk(client, { secret, chunkId: 61n });
    assert.ok(again.bytes.equals(first));
    const missing = await rejection(readChunk(client, { secret, chunkId: 62n }));
    assert.is(missing.code, "NOT_FOUND");
    await waitFor(async () => (await readdir(join(dataDir, "tmp"))).length === 0, 5_000, {
      what: "the temp files to be removed",
    });
  });
});

test("a write refused NO_SPACE sends a heartbeat at once, with the room left", async () => {
  // Heartbeats are an hour apart: any heartbeat in this test is one sent early.
  await withWorld(async (world) => {
    const node = await world.start(await world.folder(), ["--capacity", "1MiB"]);
    const registered = world.namenode.registersOf(node.id).at(-1)!;
    assert.ok(registered.remainingBytes !== undefined && registered.remainingBytes > 900 * 1024);
    const client = await world.connect(node);
    await writeChunk(client, chunkBytes(600 * 1024), { secret, chunkId: 71n });
    assert.is(world.namenode.heartbeats.length, 0, "no heartbeat is due for an hour");
    const error = await rejection(
      writeChunk(client, chunkBytes(600 * 1024), { secret, chunkId: 72n }),
    );
    assert.is(error.code, "NO_SPACE");
    const heartbeat = await waitFor(
      () => world.namenode.heartbeats.find((beat) => beat.datanodeId === node.id),
      5_000,
      { what: "a heartbeat sent because the write found no room" },
    );
    assert.ok(heartbeat.remainingBytes! < 600 * 1024, `remaining ${heartbeat.remainingBytes}`);
  }, 3_600_000);
});

test("a restart keeps the id and every chunk, and registers again with a full report", async () => {
  await withWorld(async (world) => {
    const dataDir = await world.folder();
    const first = await world.start(dataDir);
    const client = await world.connect(first);
    const bytes = chunkBytes(100_000);
    await writeChunk(client, bytes, { secret, chunkId: 71n });
    await writeChunk(client, bytes.subarray(0, 5_000), { secret, chunkId: 72n, generation: 4n });
    await world.stop(first);
    const second = await world.start(dataDir);
    assert.is(second.id, first.id);
    const registers = world.namenode.registersOf(second.id);
    const last = registers[registers.length - 1]!;
    const reported = [...last.chunks].sort((a, b) => Number(a.id - b.id));
    assert.equal(reported, [
      { id: 71n, generation: 1n, size: 100_000 },
      { id: 72n, generation: 4n, size: 5_000 },
    ]);
    const again = await readChunk(await world.connect(second), { secret, chunkId: 71n });
    assert.ok(again.bytes.equals(bytes));
  });
});

test("a second DataNode on the same data folder refuses to start, naming the lock", async () => {
  await withWorld(async (world) => {
    const dataDir = await world.folder();
    await world.start(dataDir);
    const config = parseDataNodeConfig([
      ...["--data-dir", dataDir, "--port", "0", "--namenode", world.namenode.address],
    ]);
    const error = await rejection(DataNode.start(config, { secret }));
    assert.match(error.message, /Cannot start DataNode: data folder .* is in use by process \d+/);
  });
});

test("a refused chunk token is logged once, with the peer's address and the chunk", async () => {
  await withWorld(async (world) => {
    const lines: Record<string, unknown>[] = [];
    const destination = new PassThrough();
    destination.setEncoding("utf8").on("data", (text: string) => {
      for (const line of text.split("\n")) if (line) lines.push(JSON.parse(line));
    });
    const logger = createLogger({ name: "datanode", level: "warn", destination });
    const node = await world.start(await world.folder(), [], { logger });
    const client = await world.connect(node);
    const otherChunk = tokenFor(secret, 99n, 1n, "write");
    const refused = await rejection(
      writeChunk(client, chunkBytes(1000), { secret, chunkId: 5n, token: otherChunk }),
    );
    assert.is(refused.code, "ACCESS_DENIED");
    const logged = await waitFor(
      () => {
        const found = lines.filter((line) => line.msg === "chunk token refused");
        return found.length > 0 ? found : undefined;
      },
      5_000,
      { what: "the refusal to be logged" },
    );
    assert.is(logged.length, 1);
    assert.is(logged[0]?.chunkId, "5");
    assert.match(String(logged[0]?.remote), /^(::ffff:)?127\.0\.0\.1:\d+$/);
  });
});

test("stopping aborts a write in flight: its temp file goes and no replica is kept", async () => {
  await withWorld(async (world) => {
    const dataDir = await world.folder();
    const node = await world.start(dataDir);
    const client = await world.connect(node);
    const write = await client.open("WRITE_CHUNK", {
      chunkId: 81n,
      generation: 1n,
      token: tokenFor(secret, 81n, 1n, "write"),
      downstream: [],
    });
    const bytes = chunkBytes(64 * 1024);
    await write.sendData({ chunkId: 81n, offset: 0n, bytes, xxh64: xxh64(bytes) });
    await waitFor(async () => (await readdir(join(dataDir, "tmp"))).length > 0, 5_000);
    await world.stop(node);
    assert.equal(await readdir(join(dataDir, "tmp")), []);
    const error = await rejection(write.response);
    assert.is(error.code, "UNAVAILABLE");
    const restarted = await world.start(dataDir);
    const last = world.namenode.registersOf(restarted.id).at(-1)!;
    assert.equal(last.chunks, []);
  });
});

test("the DataNode registers again after the NameNode restarts on the same port", async () => {
  await withWorld(async (world) => {
    const node = await world.start(await world.folder());
    const port = world.namenode.port;
    await world.namenode.close();
    world.namenode = await FakeNameNode.start({ secret, port, heartbeatIntervalMs: 50 });
    await waitFor(() => world.namenode.registersOf(node.id).length > 0, 10_000, {
      what: "registration with the new NameNode",
    });
    await waitFor(() => world.namenode.heartbeats.some((h) => h.datanodeId === node.id), 5_000);
  });
});

test("a heartbeat answered NOT_FOUND makes the DataNode register again with a full report", async () => {
  await withWorld(async (world) => {
    const node = await world.start(await world.folder());
    await writeChunk(await world.connect(node), chunkBytes(1000), { secret, chunkId: 91n });
    world.namenode.forget.add(node.id);
    await waitFor(() => world.namenode.registersOf(node.id).length >= 2, 5_000);
    const last = world.namenode.registersOf(node.id).at(-1)!;
    assert.equal(last.chunks, [{ id: 91n, generation: 1n, size: 1000 }]);
  });
});

test.run();
