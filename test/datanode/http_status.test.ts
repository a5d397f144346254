import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DataNode, parseDataNodeConfig } from "#datanode";
import { type Connection, createLogger, dial } from "#protocol";
import { chunkBytes, readChunk, rejection, writeChunk } from "../helpers/chunk_client.js";
import { FakeNameNode } from "../helpers/fake_namenode.js";
import { fetchMetrics, fetchText } from "../helpers/http_side_port.js";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("datanode-http-test-secret-0123456789");

interface Started {
  namenode: FakeNameNode;
  node: DataNode;
  logLines: Record<string, unknown>[];
  connection: Connection;
}

async function withDataNode(
  body: (started: Started) => Promise<void>,
  flags: string[] = [],
): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-datanode-http-test-"));
  const namenode = await FakeNameNode.start({ secret, heartbeatIntervalMs: 50 });
  const logLines: Record<string, unknown>[] = [];
  const logger = createLogger({
    name: "datanode",
    level: "info",
    destination: { write: (line: string) => void logLines.push(JSON.parse(line)) },
  });
  const config = parseDataNodeConfig([
    ...["--data-dir", folder, "--port", "0", "--http-port", "0"],
    ...["--namenode", namenode.address, "--scrub-rate", "0"],
    ...flags,
  ]);
  const node = await DataNode.start(config, { secret, logger });
  const connection = await dial(node.boundAddress, { secret, role: "client" });
  try {
    await waitFor(() => node.registered, 5_000, { what: "the DataNode to register" });
    await body({ namenode, node, logLines, connection });
  } finally {
    connection.close();
    await node.stop();
    await namenode.close();
    await rm(folder, { recursive: true, force: true });
  }
}

test("/health answers ok with the DataNode's id, and the bound port is logged", async () => {
  await withDataNode(async ({ node, logLines }) => {
    const { status, body } = await fetchText(node.httpAddress, "/health");
    assert.is(status, 200);
    assert.equal(JSON.parse(body), {
      status: "ok",
      role: "datanode",
      datanode: node.id,
      registered: true,
    });
    const listening = logLines.find((line) => line.msg === "HTTP listening");
    assert.is(listening?.httpPort, node.httpAddress.port);
    const started = logLines.find((line) => line.msg === "DataNode started");
    assert.is(started?.httpPort, node.httpAddress.port);
    assert.is((await fetchText(node.httpAddress, "/")).status, 404);
  });
});

test("/metrics counts chunk bytes written and read, requests, errors and stored chunks", async () => {
  await withDataNode(async ({ node, connection }) => {
    const bytes = chunkBytes(200_000);
    await writeChunk(connection, bytes, { secret, chunkId: 7n, frameBytes: 64 * 1024 });
    const read = await readChunk(connection, { secret, chunkId: 7n });
    assert.is(read.bytes.byteLength, bytes.byteLength);
    await rejection(readChunk(connection, { secret, chunkId: 8n }));
    const metrics = await fetchMetrics(node.httpAddress);
    assert.is(metrics.value("bigfs_datanode_bytes_written_total"), bytes.byteLength);
    assert.is(metrics.value("bigfs_datanode_bytes_read_total"), bytes.byteLength);
    assert.is(metrics.value("bigfs_requests_total", { message: "WRITE_CHUNK" }), 1);
    assert.is(metrics.value("bigfs_requests_total", { message: "READ_CHUNK" }), 2);
    const errors = metrics.all("bigfs_request_errors_total");
    assert.is(errors.length, 1);
    assert.is(errors[0]!.labels.message, "READ_CHUNK");
    assert.is(metrics.value("bigfs_datanode_chunks"), 1);
    assert.ok(metrics.value("bigfs_datanode_used_bytes") >= bytes.byteLength);
    assert.is(metrics.value("bigfs_datanode_capacity_bytes"), 100 * 1024 ** 3);
    assert.is(metrics.value("bigfs_datanode_registered"), 1);
    assert.is(metrics.value("bigfs_datanode_registrations_total"), 1);
    assert.is(metrics.value("bigfs_datanode_active_transfers", { kind: "write" }), 0);
    assert.is(metrics.value("bigfs_datanode_scrubbed_bytes_total"), 0);
    assert.is(metrics.value("bigfs_datanode_container_dead_bytes"), 0);
  });
});

test("chunk data goes past the page cache where the disk takes it, unless --direct-io=false", async () => {
  const bytes = chunkBytes(3 * 1024 * 1024 + 1000);
  const writeAndRead = async (connection: Connection) => {
    await writeChunk(connection, bytes, { secret, chunkId: 9n, frameBytes: 256 * 1024 });
    const read = await readChunk(connection, { secret, chunkId: 9n });
    assert.ok(read.bytes.equals(bytes), "the chunk reads back as written");
  };
  await withDataNode(async ({ node, connection, logLines }) => {
    await writeAndRead(connection);
    const metrics = await fetchMetrics(node.httpAddress);
    const opened = logLines.find((line) => line.msg === "chunk store opened");
    if (metrics.value("bigfs_datanode_direct_io") === 1) {
      assert.is(opened?.directIo, "on");
      assert.ok(metrics.value("bigfs_datanode_direct_io_bytes_total", { op: "write" }) >= 3 << 20);
      assert.ok(metrics.value("bigfs_datanode_direct_io_bytes_total", { op: "read" }) >= 3 << 20);
    } else {
      console.log(`  (direct I/O is ${String(opened?.directIo)} on this file system)`);
      assert.match(String(opened?.directIo), /^not supported here/);
    }
  });
  await withDataNode(
    async ({ node, connection, logLines }) => {
      await writeAndRead(connection);
      const metrics = await fetchMetrics(node.httpAddress);
      assert.is(metrics.value("bigfs_datanode_direct_io"), 0);
      assert.is(metrics.value("bigfs_datanode_direct_io_bytes_total", { op: "write" }), 0);
      assert.is(metrics.value("bigfs_datanode_direct_io_bytes_total", { op: "read" }), 0);
      assert.is(logLines.find((line) => line.msg === "chunk store opened")?.directIo, "off");
    },
    ["--direct-io=false"],
  );
});

test("an HTTP port in use stops start-up with an error naming it, and frees the folder", async () => {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-datanode-http-test-"));
  const namenode = await FakeNameNode.start({ secret });
  const blocker = createServer();
  try {
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as { port: number };
    const flags = ["--data-dir", folder, "--port", "0", "--namenode", namenode.address];
    const taken = parseDataNodeConfig([...flags, "--http-port", String(port)]);
    const error = await rejection(DataNode.start(taken, { secret }));
    assert.match(
      error.message,
      `Cannot serve HTTP on 127.0.0.1:${port} (--http-port): the port is already in use`,
    );
    const node = await DataNode.start(parseDataNodeConfig([...flags, "--http-port", "0"]), {
      secret,
    });
    await node.stop();
  } finally {
    blocker.close();
    await namenode.close();
    await rm(folder, { recursive: true, force: true });
  }
});

test.run();
