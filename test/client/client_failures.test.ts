import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isBigFsError } from "#client";
import { createLogger } from "#protocol";
import { Cluster } from "../helpers/cluster.js";
import { flipReplicaByte } from "../helpers/stored_replicas.js";
import { waitFor } from "../helpers/wait.js";

const chunkBytes = 64 * 1024;

/** A logger that keeps every line at `warn` and above. */
function capturingLogger(lines: Record<string, unknown>[]) {
  return createLogger({
    name: "client",
    level: "warn",
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of stream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

async function fullyReplicated(cluster: Cluster, path: string, replicas: number) {
  const client = await cluster.client();
  return waitFor(async () => {
    const status = await client.stat(path);
    return status.chunks.every((chunk) => chunk.replicas.length === replicas) ? status : undefined;
  }, 5_000);
}

test("a corrupt replica is never delivered: the read moves on and the NameNode is told", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  const local = await mkdtemp(join(tmpdir(), "bigfs-client-local-"));
  try {
    const lines: Record<string, unknown>[] = [];
    const client = await cluster.client({ logger: capturingLogger(lines) });
    const content = randomBytes(3 * chunkBytes);
    await client.put(Readable.from([content]), "/corrupt");
    const status = await fullyReplicated(cluster, "/corrupt", 3);
    const chunk = status.chunks[1]!;
    // The replica a reader is sent to first is the one to spoil. The NameNode lists the least
    // busy first, so wait until the upload's transfers are over and the order holds still.
    await waitFor(
      () => cluster.namenode.registry.views().every((view) => view.activeTransfers === 0),
      5_000,
      { what: "DataNodes idle" },
    );
    const first = cluster.namenode.readReplicas(chunk.id)[0]!.id;
    const [replica] = await cluster.replicasOf(cluster.indexOf(first), chunk.id);
    assert.ok(replica, "the chunk's replica is on disk");
    await flipReplicaByte(replica, 1000);

    const target = join(local, "copy");
    await client.get("/corrupt", target);
    assert.ok((await readFile(target)).equals(content), "the download is byte-exact");
    assert.ok(cluster.namenode.chunkMap.corruptReplicas(chunk.id).includes(first));
    assert.not.ok(cluster.namenode.readReplicas(chunk.id).some((replica) => replica.id === first));
    const fsck = await client.fsck("/corrupt");
    assert.ok(
      fsck.corrupt + fsck.underReplicated >= 1,
      JSON.stringify(fsck, (_k, v) => (typeof v === "bigint" ? String(v) : v)),
    );
    assert.ok(lines.some((line) => line.msg === "replica read failed" && line.datanode === first));
  } finally {
    await cluster.stop();
    await rm(local, { recursive: true, force: true });
  }
});

test("a chunk with every replica corrupt fails the download, naming path and chunk, and leaves no file", async () => {
  const cluster = await Cluster.start({ datanodes: 2 });
  const local = await mkdtemp(join(tmpdir(), "bigfs-client-local-"));
  try {
    const client = await cluster.client();
    await client.put(Readable.from([randomBytes(2 * chunkBytes)]), "/ruined", { replication: 2 });
    const status = await fullyReplicated(cluster, "/ruined", 2);
    const chunk = status.chunks[0]!;
    for (const datanodeId of chunk.replicas) {
      for (const replica of await cluster.replicasOf(cluster.indexOf(datanodeId), chunk.id)) {
        await flipReplicaByte(replica, 7);
      }
    }
    const target = join(local, "copy");
    const error = await client.get("/ruined", target).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    assert.ok(isBigFsError(error), String(error));
    assert.match(error.message, "/ruined");
    assert.match(error.message, `chunk 0 (id ${chunk.id}`);
    assert.equal(await readdir(local), [], "no partial or temporary file is left");
  } finally {
    await cluster.stop();
    await rm(local, { recursive: true, force: true });
  }
});

test("a DataNode stopped mid-upload is left out and the upload succeeds", async () => {
  const cluster = await Cluster.start({ datanodes: 4 });
  try {
    const lines: Record<string, unknown>[] = [];
    const client = await cluster.client({ logger: capturingLogger(lines) });
    const chunks = 16;
    const content = randomBytes(chunks * chunkBytes);
    const victim = cluster.datanodes[0]!;
    async function* source(): AsyncGenerator<Buffer> {
      for (let index = 0; index < chunks; index++) {
        const at = index * chunkBytes;
        yield content.subarray(at, at + chunkBytes / 2);
        if (index === 3) await victim.stop();
        yield content.subarray(at + chunkBytes / 2, at + chunkBytes);
      }
    }
    const put = await client.put(Readable.from(source()), "/survivor", { replication: 3 });
    assert.equal(put, { size: content.length, chunks });
    assert.ok(
      lines.some((line) => line.msg === "pipeline failed" && line.datanode === victim.id),
      "the stopped DataNode was blamed",
    );
    const status = await client.stat("/survivor");
    for (const chunk of status.chunks.slice(5)) {
      assert.not.ok(
        chunk.replicas.includes(victim.id),
        `chunk ${chunk.id} is not on the stopped DataNode`,
      );
    }
    assert.ok((await readAll(client.createReadStream("/survivor"))).equals(content));
  } finally {
    await cluster.stop();
  }
});

test("a DataNode stopped mid-upload of a local file: its chunks are read from the file again", async () => {
  const cluster = await Cluster.start({ datanodes: 4 });
  const local = await mkdtemp(join(tmpdir(), "bigfs-put-file-"));
  try {
    const lines: Record<string, unknown>[] = [];
    const client = await cluster.client({ logger: capturingLogger(lines) });
    const chunks = 16;
    const content = randomBytes(chunks * chunkBytes);
    const path = join(local, "source.bin");
    await writeFile(path, content);
    const victim = cluster.datanodes[0]!;
    let stopping: Promise<void> | undefined;
    const put = await client.put(path, "/from-file", {
      replication: 3,
      onProgress: (bytesDone) => {
        if (bytesDone >= 3 * chunkBytes) stopping ??= victim.stop();
      },
    });
    await stopping;
    assert.ok(stopping, "the DataNode was stopped during the upload");
    assert.equal(put, { size: content.length, chunks });
    assert.ok(
      lines.some((line) => line.msg === "pipeline failed" && line.datanode === victim.id),
      "a pipeline through the stopped DataNode failed and was replaced",
    );
    assert.ok((await readAll(client.createReadStream("/from-file"))).equals(content));
  } finally {
    await cluster.stop();
    await rm(local, { recursive: true, force: true });
  }
});

test("an upload that cannot find any DataNode fails and leaves no file and no chunks", async () => {
  const cluster = await Cluster.start({ datanodes: 2 });
  try {
    const client = await cluster.client();
    await Promise.all(cluster.datanodes.map((datanode) => datanode.stop()));
    const error = await client.put(Readable.from([randomBytes(3 * chunkBytes)]), "/doomed").then(
      () => undefined,
      (failure: unknown) => failure,
    );
    assert.ok(isBigFsError(error), String(error));
    assert.match(error.message, "Cannot upload /doomed");
    assert.equal(await client.list("/"), []);
    const missing = await client.stat("/doomed").then(
      () => undefined,
      (failure: unknown) => failure,
    );
    assert.ok(isBigFsError(missing, "NOT_FOUND"));
    await waitFor(() => cluster.namenode.chunkMap.size === 0, 5_000, { what: "chunks collected" });
    assert.is(cluster.namenode.leases.fileCount, 0);
  } finally {
    await cluster.stop();
  }
});

test("an aborted upload rejects with the signal's reason and leaves no file", async () => {
  const cluster = await Cluster.start({ datanodes: 2 });
  try {
    const client = await cluster.client();
    const controller = new AbortController();
    const reason = new Error("stop it");
    async function* source(): AsyncGenerator<Buffer> {
      yield randomBytes(2 * chunkBytes);
      controller.abort(reason);
      yield randomBytes(2 * chunkBytes);
    }
    const error = await client
      .put(Readable.from(source()), "/aborted", { signal: controller.signal, replication: 2 })
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    assert.is(error, reason);
    assert.equal(await client.list("/"), []);
    await waitFor(() => cluster.namenode.chunkMap.size === 0, 5_000, { what: "chunks collected" });
  } finally {
    await cluster.stop();
  }
});

test("leases are renewed while a slow upload waits on its source", async () => {
  const leaseTimeoutMs = 400;
  const cluster = await Cluster.start({
    datanodes: 2,
    namenodeFlags: ["--lease-timeout", `${leaseTimeoutMs}ms`],
  });
  try {
    const client = await cluster.client({ leaseRenewIntervalMs: 50 });
    const content = randomBytes(3 * chunkBytes);
    async function* source(): AsyncGenerator<Buffer> {
      yield content.subarray(0, chunkBytes);
      // The source stalls for several lease timeouts; only RENEW_LEASE keeps the file.
      const until = Date.now() + 3 * leaseTimeoutMs;
      await waitFor(() => Date.now() >= until, 10_000);
      yield content.subarray(chunkBytes);
    }
    await client.put(Readable.from(source()), "/slow", { replication: 2 });
    assert.ok((await readAll(client.createReadStream("/slow"))).equals(content));
  } finally {
    await cluster.stop();
  }
});

test.run();
