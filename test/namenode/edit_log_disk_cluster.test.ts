/**
 * The NameNode's disk filling up, on a real tmpfs under a real NameNode process: the edit log
 * fails, and the NameNode refuses every later change with an error naming the cause, keeps
 * serving reads, and after a restart on the freed disk holds every change it acknowledged and
 * none it refused. A checkpoint that cannot be written leaves the image and log before it.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BigFsClient, isBigFsError } from "#client";
import { sha256 } from "../helpers/bytes.js";
import { distDir } from "../helpers/daemon.js";
import { fetchMetrics, fetchText } from "../helpers/http_side_port.js";
import { ProcessCluster } from "../helpers/process_cluster.js";
import { mountTmpfs, type Tmpfs } from "../helpers/tmpfs.js";
import { waitFor } from "../helpers/wait.js";

const run = promisify(execFile);
const pageBytes = 4096;

/** Runs `body` with a cluster whose NameNode lives on a tmpfs; both go afterwards. */
async function withNamenodeOnTmpfs(
  options: { datanodes: number; sizeBytes: number; namenodeFlags?: string[] },
  body: (cluster: ProcessCluster, tmpfs: Tmpfs) => Promise<void>,
): Promise<void> {
  const tmpfs = await mountTmpfs(options.sizeBytes);
  let cluster: ProcessCluster | undefined;
  try {
    cluster = await ProcessCluster.start({
      datanodes: options.datanodes,
      namenodeDataDir: tmpfs.path,
      namenodeFlags: [...(options.namenodeFlags ?? []), ...["--replication", "1"]],
    });
    await body(cluster, tmpfs);
  } finally {
    // The NameNode stops before its file system goes.
    await cluster?.stop();
    await tmpfs.unmount();
  }
}

/** The error `promise` rejects with; fails the test when it resolves. */
async function refusal(promise: Promise<unknown>, what: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error(`${what} was acknowledged on a NameNode whose edit log failed`);
}

/** A change refused because the edit log failed: UNAVAILABLE, naming the log and the disk. */
function assertRefusedForTheLog(error: Error, what: string): void {
  assert.ok(isBigFsError(error, "UNAVAILABLE"), `${what}: ${error.message}`);
  assert.match(error.message, /edit log/, what);
  assert.match(error.message, /ENOSPC|no space/i, what);
}

async function readAll(client: BigFsClient, path: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of client.createReadStream(path)) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

async function names(client: BigFsClient, path: string): Promise<string[]> {
  return (await client.list(path)).map((entry) => entry.name).sort();
}

test("a failed edit-log write: later changes are refused naming the cause, reads go on, a restart has exactly what was acknowledged", async () => {
  await withNamenodeOnTmpfs({ datanodes: 1, sizeBytes: 1024 * 1024 }, async (cluster, tmpfs) => {
    const { client } = cluster;
    await client.mkdir("/kept");
    await client.mkdir("/after-fill");
    const small = randomBytes(3000);
    const large = randomBytes(70_000); // two chunks
    await client.put(Readable.from([small]), "/kept/small.bin");
    await client.put(Readable.from([large]), "/kept/large.bin");

    await tmpfs.fill();
    // The log's last page may still have room for a few records: changes go on being
    // acknowledged until one needs a page the disk no longer has. Each is one record.
    const acknowledged: string[] = [];
    let refused: Error | undefined;
    for (let index = 0; index < 10_000 && refused === undefined; index++) {
      const name = `d${String(index).padStart(5, "0")}`;
      try {
        await client.mkdir(`/after-fill/${name}`);
        acknowledged.push(name);
      } catch (error) {
        refused = error as Error;
      }
    }
    assert.ok(refused, "a change was refused once the disk was full");
    assertRefusedForTheLog(refused, "the change whose record did not fit");

    // Every later change is refused, whatever it is.
    const later: [string, () => Promise<unknown>][] = [
      ["mkdir", () => client.mkdir("/later")],
      ["put", () => client.put(Readable.from([randomBytes(100)]), "/later.bin")],
      ["rename", () => client.rename("/kept/small.bin", "/kept/moved.bin")],
      ["delete", () => client.delete("/kept/large.bin")],
      ["setrep", () => client.setReplication("/kept/small.bin", 2)],
    ];
    for (const [what, change] of later) {
      assertRefusedForTheLog(await refusal(change(), what), what);
    }
    const cli = await run(
      process.execPath,
      [
        ...[join(distDir, "client/main.js"), "--namenode", `127.0.0.1:${cluster.namenodePort}`],
        ...["--secret-file", cluster.secretFile, "mkdir", "/from-cli"],
      ],
      { env: { ...process.env, BIGFS_NAMENODE: "", BIGFS_SECRET_FILE: "" } },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    assert.is(cli.code, 1, "the CLI exits 1");
    assert.match(cli.stderr, /\/from-cli/, "the CLI names the path");
    assert.match(cli.stderr, /edit log/, "and the edit log");
    assert.match(cli.stderr, /ENOSPC|no space/i, "and the full disk");

    // Reads are served as before, and the process runs on.
    assert.equal(await names(cluster.client, "/kept"), ["large.bin", "small.bin"]);
    assert.is(sha256(await readAll(client, "/kept/large.bin")), sha256(large));
    assert.is((await client.stat("/kept/small.bin")).entry.size, small.length);
    assert.is(cluster.namenode.child.exitCode, null, "the NameNode has not crashed");
    assert.ok(
      cluster.namenode.lines.some(
        (line) => line.msg === "edit log failed: refusing every further change",
      ),
      "the NameNode logs the failure",
    );
    // What an operator's monitoring sees.
    const listening = cluster.namenode.lines.find((line) => line.msg === "NameNode listening")!;
    const side = { host: "127.0.0.1", port: Number(listening.httpPort) };
    const health = JSON.parse((await fetchText(side, "/health")).body) as Record<string, string>;
    assert.is(health.status, "edit-log-failed");
    assert.match(health.editLogFailure!, /ENOSPC|no space/i);
    assert.is((await fetchMetrics(side)).value("bigfs_namenode_edit_log_failed"), 1);
    assert.match((await fetchText(side, "/")).body, /Edit log failed/);

    // Fixed disk, restart: every acknowledged change is there, no refused one.
    await cluster.restartNamenode(() => tmpfs.free());
    assert.equal(await names(client, "/after-fill"), acknowledged);
    assert.equal(await names(client, "/"), ["after-fill", "kept"]);
    assert.equal(await names(client, "/kept"), ["large.bin", "small.bin"]);
    await waitFor(
      async () => sha256(await readAll(client, "/kept/large.bin")) === sha256(large),
      15_000,
      { what: "the large file to read back once its DataNode reported it", intervalMs: 100 },
    );
    assert.is(sha256(await readAll(client, "/kept/small.bin")), sha256(small));
    await waitFor(() => client.mkdir("/healed").then(() => true), 15_000, {
      what: "the NameNode to take changes again once out of safe mode",
      intervalMs: 100,
    });
  });
});

test("a checkpoint that cannot be written leaves the image and the log before it whole", async () => {
  await withNamenodeOnTmpfs({ datanodes: 0, sizeBytes: 1024 * 1024 }, async (cluster, tmpfs) => {
    const { client } = cluster;
    const current = join(tmpfs.path, "current");
    const images = async () =>
      (await readdir(current)).filter((name) => name.startsWith("image_")).sort();
    // Long names make an image of several pages.
    const name = (index: number) => `${String(index).padStart(4, "0")}-${"x".repeat(120)}`;
    await client.mkdir("/dirs");
    for (let index = 0; index < 100; index++) await client.mkdir(`/dirs/${name(index)}`);
    // A clean stop writes an image; these changes then live in the log after it.
    await cluster.restartNamenode();
    const imagesBefore = await images();
    assert.is(imagesBefore.length, 1, "the stop wrote an image");
    for (let index = 100; index < 150; index++) await client.mkdir(`/dirs/${name(index)}`);

    // Room for a new log segment (one page), not for an image (over 16 KiB).
    await tmpfs.fill();
    await tmpfs.shrink(2 * pageBytes);
    const stopped = cluster.namenode;
    await cluster.restartNamenode();
    const checkpoint = stopped.lines.find((line) => line.msg === "checkpoint failed");
    assert.ok(checkpoint, "the stop's checkpoint failed");
    // The new log segment fitted; the image did not.
    const reason = (checkpoint.err as { message: string }).message;
    assert.match(reason, /Cannot write namespace image .*(ENOSPC|no space)/i);

    // What it left is whole: the NameNode started on the same disk, still full, has every
    // change, from the older image and the log after it.
    assert.equal(await images(), imagesBefore, "the older image is kept, no temp file left");
    const listed = await names(client, "/dirs");
    assert.is(listed.length, 150);
    assert.equal(
      listed,
      Array.from({ length: 150 }, (_, index) => name(index)),
    );
    await tmpfs.free();
    await client.mkdir("/after");
    assert.ok((await names(client, "/")).includes("after"));

    // With no room at all, not even the new log segment of the stop's checkpoint fits.
    await tmpfs.fill();
    const stoppedFull = cluster.namenode;
    await cluster.restartNamenode();
    assert.ok(stoppedFull.lines.some((line) => line.msg === "checkpoint failed"));
    assert.equal(await images(), imagesBefore);
    assert.equal(await names(client, "/"), ["after", "dirs"]);
    assert.is((await names(client, "/dirs")).length, 150);
  });
});

test.run();
