import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isBigFsError } from "#client";
import { sha256 } from "../helpers/bytes.js";
import { Cluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/wait.js";

const chunkBytes = 64 * 1024;

async function collect(stream: Readable): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of stream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

test("put, list, stat and get round-trip files of 0, 1, one chunk, one chunk + 1 and many chunks", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  const local = await mkdtemp(join(tmpdir(), "bigfs-client-local-"));
  try {
    const client = await cluster.client();
    const sizes = [0, 1, chunkBytes, chunkBytes + 1, 10 * chunkBytes + 12_345];
    await client.mkdir("/data");
    for (const size of sizes) {
      const content = randomBytes(size);
      const source = join(local, `source-${size}`);
      await writeFile(source, content);
      const progress: number[] = [];
      const put = await client.put(source, `/data/file-${size}`, {
        onProgress: (bytes) => progress.push(bytes),
      });
      assert.equal(put, { size, chunks: Math.ceil(size / chunkBytes) });
      if (size > 0) assert.is(progress.at(-1), size, `progress of ${size} ends at the size`);
      const target = join(local, `target-${size}`);
      const got = await client.get(`/data/file-${size}`, target);
      assert.is(got.size, size);
      assert.is(sha256(await readFile(target)), sha256(content), `content of ${size} bytes`);
    }
    const entries = await client.list("/data");
    assert.equal(
      entries.map((entry) => [entry.name, entry.type, entry.size]).sort(),
      sizes.map((size) => [`file-${size}`, "file", size]).sort(),
    );
    const status = await client.stat(`/data/file-${10 * chunkBytes + 12_345}`);
    assert.is(status.entry.type, "file");
    assert.is(status.chunks.length, 11);
    assert.is(
      status.chunks.reduce((sum, chunk) => sum + chunk.size, 0),
      10 * chunkBytes + 12_345,
    );
    const summary = await client.contentSummary("/data");
    assert.is(summary.files, sizes.length);
  } finally {
    await cluster.stop();
    await rm(local, { recursive: true, force: true });
  }
});

test("a stream uploads like a file and downloads to a stream", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  try {
    const client = await cluster.client({ chunksInFlight: 2 });
    const content = randomBytes(5 * chunkBytes + 77);
    // Pieces of odd sizes, so frames span pieces.
    const pieces = [];
    for (let offset = 0; offset < content.length; offset += 10_007) {
      pieces.push(content.subarray(offset, offset + 10_007));
    }
    const put = await client.put(Readable.from(pieces), "/streamed");
    assert.equal(put, { size: content.length, chunks: 6 });
    const sink: Buffer[] = [];
    const { Writable } = await import("node:stream");
    const destination = new Writable({
      write(piece: Buffer, _encoding, callback) {
        sink.push(piece);
        callback();
      },
    });
    const totals: number[] = [];
    const got = await client.get("/streamed", destination, {
      onProgress: (_done, total) => totals.push(total),
    });
    assert.is(got.size, content.length);
    assert.ok(Buffer.concat(sink).equals(content));
    assert.ok(totals.every((total) => total === content.length));
  } finally {
    await cluster.stop();
  }
});

test("createReadStream reads ranges across chunk borders, inclusive of end", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  try {
    const client = await cluster.client();
    const content = randomBytes(4 * chunkBytes + 100);
    await client.put(Readable.from([content]), "/ranges");
    const cases: [number | undefined, number | undefined][] = [
      [undefined, undefined],
      [0, 0],
      [chunkBytes - 1, chunkBytes],
      [chunkBytes - 10, 3 * chunkBytes + 10],
      [100, 200],
      [2 * chunkBytes, 3 * chunkBytes - 1],
      [4 * chunkBytes + 50, undefined],
      [4 * chunkBytes + 99, 10 * chunkBytes],
      [content.length, undefined],
    ];
    for (const [start, end] of cases) {
      const options = {
        ...(start === undefined ? {} : { start }),
        ...(end === undefined ? {} : { end }),
      };
      const bytes = await collect(client.createReadStream("/ranges", options));
      const expected = content.subarray(start ?? 0, end === undefined ? undefined : end + 1);
      assert.ok(bytes.equals(expected), `range ${start}..${end}: ${bytes.length} bytes`);
    }
    assert.throws(() => client.createReadStream("/ranges", { start: -1 }), RangeError);
    const missing = await collect(client.createReadStream("/nope")).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(isBigFsError(missing, "NOT_FOUND"), String(missing));
  } finally {
    await cluster.stop();
  }
});

test("createWriteStream finishes only once the file is complete", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  try {
    const client = await cluster.client();
    const content = randomBytes(3 * chunkBytes + 5);
    const stream = client.createWriteStream("/written", { replication: 2 });
    const finished = new Promise<void>((resolve, reject) => {
      stream.on("finish", resolve);
      stream.on("error", reject);
    });
    for (let offset = 0; offset < content.length; offset += 4096) {
      const piece = Buffer.from(content.subarray(offset, offset + 4096));
      if (!stream.write(piece)) await new Promise((resolve) => stream.once("drain", resolve));
      // The stream must have copied it: reusing the buffer cannot change the file.
      piece.fill(0);
    }
    stream.end();
    await finished;
    const status = await client.stat("/written");
    assert.is(status.entry.size, content.length);
    assert.is(status.entry.replication, 2);
    assert.ok((await collect(client.createReadStream("/written"))).equals(content));

    const refused = client.createWriteStream("/written");
    const error = await new Promise<unknown>((resolve) => {
      refused.on("error", resolve);
      refused.end(Buffer.from("more"));
    });
    assert.ok(isBigFsError(error, "EXISTS"), String(error));
  } finally {
    await cluster.stop();
  }
});

test("stat shows every chunk replicated on distinct DataNodes", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  try {
    const client = await cluster.client();
    await client.put(Readable.from([randomBytes(3 * chunkBytes)]), "/replicated");
    const status = await waitFor(async () => {
      const found = await client.stat("/replicated");
      return found.chunks.every((chunk) => chunk.replicas.length === 3) ? found : undefined;
    }, 5_000);
    assert.is(status.entry.replication, 3);
    for (const chunk of status.chunks) assert.is(new Set(chunk.replicas).size, 3);
    const ids = new Set(cluster.datanodes.map((datanode) => datanode.id));
    for (const chunk of status.chunks) for (const id of chunk.replicas) assert.ok(ids.has(id));
    const report = await client.report();
    assert.is(report.datanodes.filter((datanode) => datanode.state === "live").length, 3);
    const fsck = await client.fsck("/");
    assert.is(fsck.healthy, 3);
  } finally {
    await cluster.stop();
  }
});

test("chunks of a 12-chunk file spread over 4 DataNodes", async () => {
  const cluster = await Cluster.start({ datanodes: 4 });
  try {
    const client = await cluster.client();
    await client.put(Readable.from([randomBytes(12 * chunkBytes)]), "/spread", {
      replication: 2,
    });
    const status = await waitFor(async () => {
      const found = await client.stat("/spread");
      return found.chunks.every((chunk) => chunk.replicas.length === 2) ? found : undefined;
    }, 5_000);
    const firsts = new Set(status.chunks.map((chunk) => chunk.replicas[0]));
    assert.ok(firsts.size > 1, `first replicas all on ${[...firsts].join(", ")}`);
    const holders = new Set(status.chunks.flatMap((chunk) => chunk.replicas));
    assert.is(holders.size, 4, "every DataNode holds some chunk");
  } finally {
    await cluster.stop();
  }
});

test("namespace operations pass through to the NameNode", async () => {
  const cluster = await Cluster.start({ datanodes: 1 });
  try {
    const client = await cluster.client();
    await client.mkdir("/a/b", { parents: true });
    await client.put(Readable.from([Buffer.from("hello")]), "/a/b/f", { replication: 1 });
    await client.rename("/a/b/f", "/a/g");
    assert.equal((await client.list("/a")).map((entry) => entry.name).sort(), ["b", "g"]);
    const notEmpty = await client.delete("/a").then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(isBigFsError(notEmpty, "NOT_EMPTY"), String(notEmpty));
    await client.delete("/a", { recursive: true });
    assert.equal(await client.list("/"), []);
  } finally {
    await cluster.stop();
  }
});

test("chunks of many frames round-trip, whole and in ranges", async () => {
  const cluster = await Cluster.start({ datanodes: 3 });
  try {
    const client = await cluster.client();
    const mebibyte = 1024 * 1024;
    const content = randomBytes(2 * mebibyte + 300_000);
    const put = await client.put(Readable.from([content]), "/big", { chunkSizeBytes: mebibyte });
    assert.equal(put, { size: content.length, chunks: 3 });
    assert.ok((await collect(client.createReadStream("/big"))).equals(content));
    const start = mebibyte - 100_000;
    const end = 2 * mebibyte + 5;
    const range = await collect(client.createReadStream("/big", { start, end }));
    assert.ok(range.equals(content.subarray(start, end + 1)));
  } finally {
    await cluster.stop();
  }
});

test("a missing local file fails before anything is created", async () => {
  const cluster = await Cluster.start({ datanodes: 1 });
  try {
    const client = await cluster.client();
    const error = await client.put("/no/such/local/file", "/x").then(
      () => undefined,
      (failure: unknown) => failure,
    );
    assert.ok(isBigFsError(error, "NOT_FOUND"), String(error));
    assert.match(error.message, "/no/such/local/file");
    assert.equal(await client.list("/"), []);
    assert.is(cluster.namenode.leases.fileCount, 0);
  } finally {
    await cluster.stop();
  }
});

test.run();
