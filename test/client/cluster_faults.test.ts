/**
 * A cluster of real processes on loopback, put through the round trips and the faults the
 * older Python system failed: uploads in the first moments of a cluster, many-chunk files,
 * DataNode and NameNode restarts, a flipped byte on disk, space after `rm`, two writers of one
 * name, and a DataNode killed with SIGKILL in the middle of an upload.
 *
 * Tests that kill or restart nothing share one cluster (3 DataNodes, replication 3); the others
 * start their own. Every wait is on a condition with a deadline.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BigFsClient, isBigFsError } from "#client";
import { sha256 } from "../helpers/bytes.js";
import { ProcessCluster } from "../helpers/process_cluster.js";
import { flipReplicaByte } from "../helpers/stored_replicas.js";
import { waitFor } from "../helpers/wait.js";

const chunkBytes = 64 * 1024;

let shared: ProcessCluster | undefined;
let localDir = "";

test.before(async () => {
  localDir = await mkdtemp(join(tmpdir(), "bigfs-faults-local-"));
});

test.after(async () => {
  await shared?.stop();
  await rm(localDir, { recursive: true, force: true });
});

/** The cluster of the tests that kill and restart nothing, started on first use. */
async function sharedCluster(): Promise<ProcessCluster> {
  shared ??= await ProcessCluster.start({ datanodes: 3 });
  return shared;
}

/** Runs `body` on a cluster of its own, stopped afterwards whatever happens. */
async function withCluster(
  options: Parameters<typeof ProcessCluster.start>[0],
  body: (cluster: ProcessCluster) => Promise<void>,
): Promise<void> {
  const cluster = await ProcessCluster.start(options);
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

/** Downloads `path` into a local file and returns the bytes. */
async function download(client: BigFsClient, path: string): Promise<Buffer> {
  const target = join(localDir, `get-${randomBytes(6).toString("hex")}`);
  try {
    const { size } = await client.get(path, target);
    const bytes = await readFile(target);
    assert.is(size, bytes.length, `get ${path} says how many bytes it wrote`);
    return bytes;
  } finally {
    await rm(target, { force: true });
  }
}

async function assertReadsBack(client: BigFsClient, path: string, content: Buffer) {
  const copy = await download(client, path);
  assert.is(copy.length, content.length, `size of ${path}`);
  assert.is(sha256(copy), sha256(content), `sha256 of ${path}`);
}

/** Waits until every chunk of `path` has `replicas` replicas on distinct DataNodes. */
async function waitForReplication(client: BigFsClient, path: string, replicas: number) {
  return waitFor(
    async () => {
      const status = await client.stat(path);
      const met = status.chunks.every(
        (chunk) => chunk.replicas.length === replicas && new Set(chunk.replicas).size === replicas,
      );
      return met ? status : undefined;
    },
    15_000,
    { what: `${replicas} replicas of every chunk of ${path}`, intervalMs: 50 },
  );
}

/** A stream of `content` in pieces of `pieceBytes`. */
function piecesOf(content: Buffer, pieceBytes = chunkBytes): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < content.length; offset += pieceBytes) {
    pieces.push(content.subarray(offset, offset + pieceBytes));
  }
  return Readable.from(pieces);
}

const json = (value: unknown) =>
  JSON.stringify(value, (_key, item) => (typeof item === "bigint" ? String(item) : item));

// ----------------------------------------------------------------------------------------
// Round trips and placement

const roundTripSizes: [string, number][] = [
  ["an empty file", 0],
  ["a 1-byte file", 1],
  ["a file of exactly one chunk", chunkBytes],
  ["a file of one chunk and 1 byte", chunkBytes + 1],
  ["a file of 11 chunks", 10 * chunkBytes + 12_345],
];

for (const [name, size] of roundTripSizes) {
  test(`put → ls → stat → get round trip of ${name} is byte-exact with 3 replicas on distinct DataNodes`, async () => {
    const cluster = await sharedCluster();
    const { client } = cluster;
    const content = randomBytes(size);
    const local = join(localDir, `round-trip-${size}`);
    await writeFile(local, content);
    const remote = `/round-trip/size-${size}.bin`;
    await client.mkdir("/round-trip", { parents: true });

    const put = await client.put(local, remote);
    const chunkCount = Math.ceil(size / chunkBytes);
    assert.equal(put, { size, chunks: chunkCount });

    const entry = (await client.list("/round-trip")).find(
      (item) => item.name === `size-${size}.bin`,
    );
    assert.ok(entry, `ls /round-trip lists size-${size}.bin`);
    assert.is(entry.type, "file");
    assert.is(entry.size, size);
    assert.is(entry.replication, 3);

    const status = await waitForReplication(client, remote, 3);
    assert.is(status.entry.size, size);
    assert.is(status.entry.replication, 3);
    assert.is(status.chunks.length, chunkCount);
    assert.is(
      status.chunks.reduce((sum, chunk) => sum + chunk.size, 0),
      size,
      "chunk sizes add up to the file size",
    );
    const ids = new Set(Array.from({ length: cluster.datanodeCount }, (_, i) => cluster.idOf(i)));
    for (const chunk of status.chunks) {
      for (const replica of chunk.replicas) assert.ok(ids.has(replica), `${replica} is ours`);
    }

    await assertReadsBack(client, remote, content);
  });
}

test("the chunks of a 12-chunk file are spread: no DataNode of four holds every first replica", async () => {
  await withCluster({ datanodes: 4 }, async (cluster) => {
    const { client } = cluster;
    const content = randomBytes(12 * chunkBytes);
    await client.put(piecesOf(content), "/spread.bin", { replication: 3 });
    const status = await waitForReplication(client, "/spread.bin", 3);
    assert.is(status.chunks.length, 12);
    const firsts = new Set(status.chunks.map((chunk) => chunk.replicas[0]));
    assert.ok(firsts.size > 1, `first replicas all on one DataNode: ${json(status.chunks)}`);
    const holders = new Set(status.chunks.flatMap((chunk) => chunk.replicas));
    assert.is(holders.size, 4, "every DataNode holds some of the file");
    await assertReadsBack(client, "/spread.bin", content);
  });
});

// ----------------------------------------------------------------------------------------
// The faults of the older system

test("fault 1: an upload started the moment the cluster starts succeeds and stays readable", async () => {
  // The upload starts as soon as the NameNode listens, while the DataNode processes are still
  // starting: the client must wait for them rather than fail (or worse, lose the file).
  await withCluster({ datanodes: 3, waitFor: "nothing" }, async (cluster) => {
    const { client } = cluster;
    const content = randomBytes(5 * chunkBytes + 99);
    const startedMs = Date.now();
    await client.put(piecesOf(content), "/early.bin");
    const registered = cluster.namenode.lines.find((line) => line.msg === "DataNode registered");
    assert.ok(registered, "the NameNode logged a DataNode registering");
    assert.ok(
      startedMs < Number(registered.time),
      "the upload started before any DataNode registered",
    );
    await assertReadsBack(client, "/early.bin", content);

    // Still there once every DataNode has registered and reported, and healed to full
    // replication (a pipeline cut short by a DataNode not yet registered is the NameNode's
    // to repair).
    await cluster.datanodesListening;
    await cluster.waitForLive(3);
    await waitForReplication(client, "/early.bin", 3);
    await waitFor(
      async () => {
        const fsck = await client.fsck("/early.bin");
        return fsck.healthy === fsck.chunks && fsck.chunks === 6 ? fsck : undefined;
      },
      15_000,
      { what: "fsck to count every chunk of /early.bin healthy", intervalMs: 50 },
    );
    for (let index = 0; index < 3; index++) {
      await waitFor(async () => (await cluster.chunkFiles(index)).length === 6, 10_000, {
        what: `6 chunk files on DataNode ${index}`,
      });
    }
    await assertReadsBack(client, "/early.bin", content);
  });
});

test("fault 2: a file of 40 chunks downloads byte-exact, and a range read of it too", async () => {
  const { client } = await sharedCluster();
  const content = randomBytes(40 * chunkBytes - 7);
  const put = await client.put(piecesOf(content, 100_000), "/forty-chunks.bin");
  assert.is(put.chunks, 40);
  await assertReadsBack(client, "/forty-chunks.bin", content);
  const start = 3 * chunkBytes - 5;
  const end = 17 * chunkBytes + 11;
  const pieces: Buffer[] = [];
  for await (const piece of client.createReadStream("/forty-chunks.bin", { start, end })) {
    pieces.push(piece as Buffer);
  }
  assert.is(sha256(Buffer.concat(pieces)), sha256(content.subarray(start, end + 1)));
});

test("fault 3: a DataNode restart keeps its chunks on disk, and the file reads back from it alone", async () => {
  await withCluster({ datanodes: 3 }, async (cluster) => {
    const { client } = cluster;
    const content = randomBytes(6 * chunkBytes + 1_000);
    await client.put(piecesOf(content), "/kept.bin");
    const status = await waitForReplication(client, "/kept.bin", 3);
    const restarted = 1;
    const id = cluster.idOf(restarted);
    const before = (await cluster.chunkFiles(restarted)).map((file) => file.path).sort();
    assert.is(before.length, 7);

    await cluster.restartDatanode(restarted);
    assert.is(cluster.idOf(restarted), id, "same DataNode id after the restart");
    const after = (await cluster.chunkFiles(restarted)).map((file) => file.path).sort();
    assert.equal(after, before, "the data folder still has every chunk file");
    await waitFor(
      async () => {
        const report = await client.report();
        const node = report.datanodes.find((datanode) => datanode.id === id);
        return node?.state === "live" && node.chunks === 7;
      },
      10_000,
      { what: "the restarted DataNode to register its 7 chunks", intervalMs: 50 },
    );

    // With the other two gone, every byte must come from the restarted DataNode.
    await cluster.killDatanode(0);
    await cluster.killDatanode(2);
    await assertReadsBack(client, "/kept.bin", content);
    const again = await client.stat("/kept.bin");
    for (const chunk of again.chunks) assert.ok(chunk.replicas.includes(id));
    assert.is(again.chunks.length, status.chunks.length);
  });
});

test("fault 3b: small files acknowledged, then every DataNode killed with SIGKILL, read back after a restart", async () => {
  await withCluster({ datanodes: 3 }, async (cluster) => {
    const { client } = cluster;
    // Small files: each replica is a record in a container, not a file of its own.
    const files = new Map<string, Buffer>();
    await Promise.all(
      Array.from({ length: 40 }, async (_, index) => {
        const content = randomBytes(100 + index * 97);
        await client.put(piecesOf(content), `/small/${index}.bin`);
        files.set(`/small/${index}.bin`, content);
      }),
    );
    const stored = await cluster.chunkFiles(0);
    assert.ok(
      stored.some((replica) => replica.contained),
      "the replicas are in containers",
    );
    // Acknowledged means on disk: no DataNode gets to write anything more.
    for (const index of [0, 1, 2]) await cluster.killDatanode(index);
    for (const index of [0, 1, 2]) await cluster.startDatanode(index);
    await cluster.waitForLive(3);
    for (const [path, content] of files) await assertReadsBack(client, path, content);
    for (const index of [0, 1, 2]) {
      const replicas = await cluster.chunkFiles(index);
      assert.is(replicas.length, 40, `DataNode ${index} still holds a replica of every file`);
    }
  });
});

test("fault 4: after a NameNode restart, DataNodes reconnect by themselves, new uploads succeed and old files read back", async () => {
  await withCluster({ datanodes: 3 }, async (cluster) => {
    const { client } = cluster;
    const old = randomBytes(4 * chunkBytes + 3);
    await client.put(piecesOf(old), "/before-restart.bin");
    await waitForReplication(client, "/before-restart.bin", 3);

    await cluster.restartNamenode();
    // Started at once, while the new NameNode is in safe mode and has no DataNode: the same
    // client, whose NameNode connection broke with the restart and is dialled again.
    const fresh = randomBytes(5 * chunkBytes + 17);
    const upload = client.put(piecesOf(fresh), "/after-restart.bin");
    upload.catch(() => {});

    // Nobody restarts the DataNodes: each registers again by itself.
    await waitFor(
      () =>
        [0, 1, 2].every(
          (index) =>
            cluster
              .datanode(index)!
              .lines.filter((line) => line.msg === "registered with the NameNode").length >= 2,
        ),
      15_000,
      { what: "every DataNode to register with the new NameNode", intervalMs: 50 },
    );
    await cluster.waitForLive(3);
    await upload;
    await assertReadsBack(client, "/after-restart.bin", fresh);
    await assertReadsBack(client, "/before-restart.bin", old);
    await waitForReplication(client, "/before-restart.bin", 3);
    await waitForReplication(client, "/after-restart.bin", 3);
  });
});

// HDFS keeps decommissioned DataNodes in its excludes file, read again at every start.
test("a decommissioned DataNode stays out of service across a NameNode restart", async () => {
  await withCluster({ datanodes: 4 }, async (cluster) => {
    const { client } = cluster;
    const old = randomBytes(3 * chunkBytes + 5);
    await client.put(piecesOf(old), "/before.bin");
    await waitForReplication(client, "/before.bin", 3);
    const retired = cluster.idOf(0);
    const entryOf = async () =>
      (await client.report()).datanodes.find((entry) => entry.id === retired);
    await client.decommission(retired);
    await waitFor(async () => (await entryOf())?.state === "decommissioned", 15_000, {
      what: "the DataNode to be decommissioned",
      intervalMs: 50,
    });

    await cluster.restartNamenode();
    // It registers again by itself, and is out of service from that moment: never live.
    const seen = await waitFor(entryOf, 15_000, {
      what: "the retired DataNode to register with the new NameNode",
      intervalMs: 50,
    });
    assert.ok(
      seen.state === "decommissioning" || seen.state === "decommissioned",
      `state ${seen.state} after the restart`,
    );
    await waitFor(async () => (await entryOf())?.state === "decommissioned", 15_000, {
      what: "the DataNode to be decommissioned again",
      intervalMs: 50,
    });
    await cluster.waitForLive(3);
    const fresh = randomBytes(4 * chunkBytes + 7);
    await client.put(piecesOf(fresh), "/after.bin");
    const status = await waitForReplication(client, "/after.bin", 3);
    for (const chunk of status.chunks) {
      assert.not.ok(chunk.replicas.includes(retired), `chunk ${chunk.id} on the retired DataNode`);
    }
    await assertReadsBack(client, "/before.bin", old);
    await assertReadsBack(client, "/after.bin", fresh);
  });
});

// Fault 6 runs before fault 5 on the shared cluster: the replicas fault 5 spoils are then
// deleted and copied again by the NameNode, which would move the byte counts fault 6 watches.
test("fault 6: rm frees the DataNodes' disk space", async () => {
  const cluster = await sharedCluster();
  const { client } = cluster;
  const indexes = Array.from({ length: cluster.datanodeCount }, (_, index) => index);
  const bytesOn = () => Promise.all(indexes.map((index) => cluster.chunkBytesOn(index)));
  const baseline = await bytesOn();
  const content = randomBytes(8 * chunkBytes);
  await client.put(piecesOf(content), "/doomed/big.bin");
  const status = await waitForReplication(client, "/doomed/big.bin", 3);
  const ids = new Set(status.chunks.map((chunk) => chunk.id));
  const filesOfIt = async (index: number) =>
    (await cluster.chunkFiles(index)).filter((file) => ids.has(file.chunkId));
  for (const index of indexes) {
    const files = await filesOfIt(index);
    assert.is(files.length, 8, `DataNode ${index} has a file for each chunk`);
    assert.is(
      files.reduce((sum, file) => sum + file.sizeBytes, 0),
      content.length,
      `DataNode ${index} stores the whole file`,
    );
  }
  const full = await bytesOn();
  const footprint = await Promise.all(indexes.map((index) => cluster.footprintBytesOn(index)));

  await client.delete("/doomed", { recursive: true });
  await waitFor(
    async () => {
      for (const index of indexes) if ((await filesOfIt(index)).length > 0) return false;
      const now = await bytesOn();
      return indexes.every((index) => now[index]! <= baseline[index]!);
    },
    15_000,
    { what: "every DataNode's chunk files of the file to go, and its bytes back to before" },
  );
  const after = await bytesOn();
  for (const index of indexes) {
    assert.ok(
      after[index]! <= full[index]! - content.length,
      `DataNode ${index}: ${baseline[index]} → ${full[index]} → ${after[index]} bytes`,
    );
  }
  // What each DataNode reports as used follows, with its next heartbeat.
  await waitFor(
    async () => {
      const report = await client.report();
      return indexes.every((index) => {
        const reported = report.datanodes.find((datanode) => datanode.id === cluster.idOf(index));
        return reported !== undefined && reported.usedBytes <= footprint[index]! - content.length;
      });
    },
    10_000,
    { what: "the DataNodes to report the space freed", intervalMs: 50 },
  );
});

test("fault 5: a flipped byte in stored chunks never reaches the user: another replica serves the read", async () => {
  const cluster = await sharedCluster();
  const { client } = cluster;
  const content = randomBytes(6 * chunkBytes);
  await client.put(piecesOf(content), "/flipped.bin");
  const status = await waitForReplication(client, "/flipped.bin", 3);
  // Spoil every replica but one of every chunk. A reader tries replicas least loaded first,
  // ties in the order stat lists them: the good copy is never the first listed, and not on the
  // same DataNode for every chunk, so whatever the order, a read meets bad copies first.
  const keptOn = new Set<string>();
  let flipped = 0;
  for (const chunk of status.chunks) {
    const candidates = chunk.replicas.slice(1);
    const good = candidates.find((id) => !keptOn.has(id)) ?? candidates[0]!;
    keptOn.add(good);
    for (const datanodeId of chunk.replicas) {
      if (datanodeId === good) continue;
      const files = await cluster.chunkFiles(cluster.indexOf(datanodeId));
      const file = files.find((item) => item.chunkId === chunk.id);
      assert.ok(file, `chunk ${chunk.id} has a replica on ${datanodeId}`);
      await flipReplicaByte(file, Math.floor(file.sizeBytes / 2));
      flipped++;
    }
  }
  assert.ok(keptOn.size >= 2, "the good copies are on more than one DataNode");
  assert.is(flipped, 12);

  await assertReadsBack(client, "/flipped.bin", content);
  await assertReadsBack(client, "/flipped.bin", content);
  const fsck = await waitFor(
    async () => {
      const report = await client.fsck("/flipped.bin");
      return report.corrupt + report.underReplicated > 0 ? report : undefined;
    },
    10_000,
    { what: "the NameNode to learn of a corrupt replica of /flipped.bin", intervalMs: 50 },
  );
  assert.is(fsck.missing, 0, json(fsck));
});

/**
 * Two uploads of one name, their bytes held back until both have asked to create the file
 * (or one has failed), so that they overlap.
 */
async function racingUploads(cluster: ProcessCluster, path: string, overwrite: boolean) {
  const clients = [await cluster.connect(), await cluster.connect()];
  const contents = [randomBytes(8 * chunkBytes + 1), randomBytes(8 * chunkBytes + 2)];
  let pulled = 0;
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => {
    openGate = resolve;
  });
  const source = async function* (content: Buffer) {
    pulled++;
    if (pulled === 2) openGate();
    await gate;
    for (let offset = 0; offset < content.length; offset += chunkBytes) {
      yield content.subarray(offset, offset + chunkBytes);
    }
  };
  const results = await Promise.allSettled(
    clients.map((client, index) =>
      client.put(Readable.from(source(contents[index]!)), path, { overwrite }).finally(openGate),
    ),
  );
  return { contents, results };
}

async function assertNotMixed(cluster: ProcessCluster, path: string, overwrite: boolean) {
  const { contents, results } = await racingUploads(cluster, path, overwrite);
  const failures = results.flatMap((result) => (result.status === "rejected" ? [result] : []));
  assert.ok(failures.length < 2, `both uploads failed: ${failures.map((f) => f.reason)}`);
  for (const failure of failures) {
    const reason = failure.reason as unknown;
    assert.ok(
      isBigFsError(reason) && (reason.code === "LEASE_CONFLICT" || reason.code === "EXISTS"),
      `a losing upload fails with LEASE_CONFLICT or EXISTS, not: ${String(reason)}`,
    );
  }
  const copy = await download(cluster.client, path);
  const digest = sha256(copy);
  const winners = contents.filter((content) => sha256(content) === digest);
  assert.is(winners.length, 1, "the file is exactly one of the two uploads");
  if (failures.length === 1) {
    const winner = results.findIndex((result) => result.status === "fulfilled");
    assert.is(digest, sha256(contents[winner]!), "the upload that succeeded is the one stored");
  }
}

test("fault 7: two uploads of one name at once do not mix their data", async () => {
  const cluster = await sharedCluster();
  await assertNotMixed(cluster, "/race.bin", false);
});

test("fault 7 with overwrite: two uploads of one name at once do not mix their data", async () => {
  const cluster = await sharedCluster();
  await assertNotMixed(cluster, "/race-overwrite.bin", true);
});

// ----------------------------------------------------------------------------------------
// A crash in the middle of an upload

test("a DataNode killed with SIGKILL in the middle of an upload: the upload succeeds and reads back exact", async () => {
  await withCluster({ datanodes: 3 }, async (cluster) => {
    const { client } = cluster;
    const content = randomBytes(24 * chunkBytes + 5);
    const source = new PassThrough();
    const firstPart = 6 * chunkBytes;
    let killed: Promise<void> | undefined;
    let progressAtKill = 0;
    const upload = client.put(source, "/crash.bin", {
      onProgress: (bytesDone) => {
        if (killed === undefined && bytesDone >= 3 * chunkBytes) {
          progressAtKill = bytesDone;
          killed = cluster.killDatanode(1);
        }
      },
    });
    upload.catch(() => {});
    source.write(content.subarray(0, firstPart));
    await waitFor(() => killed !== undefined, 10_000, { what: "3 chunks acknowledged" });
    await killed;
    // Every pipeline has all three DataNodes: the rest of the file must route around the dead one.
    source.end(content.subarray(firstPart));
    const put = await upload;
    assert.is(put.size, content.length);
    assert.ok(progressAtKill < content.length);
    await assertReadsBack(client, "/crash.bin", content);
    const status = await client.stat("/crash.bin");
    const deadId = cluster.idOf(1);
    for (const chunk of status.chunks.slice(-10)) {
      assert.not.ok(chunk.replicas.includes(deadId), "chunks after the crash avoid the dead one");
      assert.ok(chunk.replicas.length >= 1);
    }
  });
});

test.run();
