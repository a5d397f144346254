/**
 * BigFS across hosts: a NameNode, four DataNodes and a client, each on a host of its own: a
 * Linux network namespace with its own address on a private bridge (`helpers/netns.ts`; needs
 * root, as CI runs). Every daemon binds to and advertises its host's address, and the client
 * (the `bigfs` CLI, and a client process for reports and a paused read) runs on its own host,
 * so every byte crosses the bridge. Heartbeats every 200 ms, dead after 2 s, 64 KiB chunks.
 *
 * The tests share the cluster and run in order: files go up and down; a DataNode's cable is
 * pulled (its bridge port down) and it is declared dead and its chunks copied elsewhere; the
 * cable goes back and the extra copies are removed; then the client's route to one DataNode
 * is cut in the middle of a read, which completes from other replicas. Every process and
 * namespace is removed at the end, even when a test fails or the run is interrupted.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sha256 } from "../helpers/bytes.js";
import { type AgentStat, ClientAgent } from "../helpers/client_agent.js";
import { type Daemon, distDir, makeWorkspace, startDaemon } from "../helpers/daemon.js";
import { ipCommand, VirtualHosts } from "../helpers/netns.js";
import { replicasOnDisk } from "../helpers/stored_replicas.js";
import { waitFor } from "../helpers/wait.js";

const execFileAsync = promisify(execFile);

const chunkBytes = 64 * 1024;
const heartbeatIntervalMs = 200;
const deadAfterMs = 2_000;
const datanodeHosts = ["dn0", "dn1", "dn2", "dn3"] as const;
const namenodePort = 9000;
const datanodePort = 9866;
/** Declared dead within this of the cut (plus a tick or two), on a busy two-core machine. */
const deadWithinMs = deadAfterMs + 8_000;
/** Re-replication, excess deletion, a DataNode coming back: each within this. */
const healWithinMs = 30_000;

let hosts: VirtualHosts | undefined;
let workspace: Awaited<ReturnType<typeof makeWorkspace>> | undefined;
let namenode: Daemon | undefined;
const datanodes: Daemon[] = [];
/** DataNode ids by host. */
const datanodeIds = new Map<string, string>();
let agent: ClientAgent | undefined;
/** Every file the tests expect, with its bytes. */
const files = new Map<string, Buffer>();

function virtualHosts(): VirtualHosts {
  if (hosts === undefined) throw new Error("The hosts were not built");
  return hosts;
}

function client(): ClientAgent {
  if (agent === undefined) throw new Error("The client agent did not start");
  return agent;
}

function namenodeAddress(): string {
  return `${virtualHosts().address("nn")}:${namenodePort}`;
}

function idOf(host: string): string {
  const id = datanodeIds.get(host);
  if (id === undefined) throw new Error(`No DataNode on ${host}`);
  return id;
}

function hostOf(datanodeId: string): string {
  for (const [host, id] of datanodeIds) if (id === datanodeId) return host;
  throw new Error(`No host runs DataNode ${datanodeId}`);
}

/** Runs `bigfs ...args` on the client host; resolves with its stdout, fails with its stderr. */
async function bigfs(args: readonly string[]): Promise<string> {
  const [command, ...launcher] = virtualHosts().launcher("client");
  const cli = [process.execPath, join(distDir, "client/main.js"), ...args];
  const flags = ["--namenode", namenodeAddress(), "--secret-file", workspace!.secretFile];
  try {
    const { stdout } = await execFileAsync(command!, [...launcher, ...cli, ...flags], {
      timeout: 60_000,
      encoding: "utf8",
      env: { ...process.env, BIGFS_NAMENODE: "", BIGFS_SECRET_FILE: "" },
    });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`bigfs ${args.join(" ")} failed: ${stderr || (error as Error).message}`);
  }
}

/** Writes `bytes` to a local file on the client host and uploads it with `bigfs put`. */
async function put(path: string, bytes: Buffer, flags: readonly string[] = []): Promise<void> {
  const local = join(workspace!.dir, `upload-${files.size}`);
  await writeFile(local, bytes);
  await bigfs(["put", local, path, ...flags]);
  files.set(path, bytes);
}

/** Downloads every expected file with `bigfs get` and compares its sha256. */
async function assertAllExact(): Promise<void> {
  for (const [path, bytes] of files) {
    const local = join(workspace!.dir, `download-${sha256(Buffer.from(path)).slice(0, 12)}`);
    await bigfs(["get", path, local, "--overwrite"]);
    assert.is(sha256(await readFile(local)), sha256(bytes), `${path} downloads byte-exact`);
  }
}

/** `stat` of every expected file. */
async function statAll(): Promise<AgentStat[]> {
  return Promise.all([...files.keys()].map((path) => client().stat(path)));
}

/** Waits until every chunk is healthy and `also` holds for the files' stats; returns them. */
async function waitHealthy(
  what: string,
  also: (stats: AgentStat[]) => boolean | Promise<boolean> = () => true,
): Promise<AgentStat[]> {
  let last = "nothing yet";
  try {
    return await waitFor(
      async () => {
        const fsck = await client().fsck("/");
        const stats = await statAll();
        last = JSON.stringify({ fsck, stats });
        const healthy = fsck.chunks > 0 && fsck.healthy === fsck.chunks;
        return healthy && (await also(stats)) ? stats : undefined;
      },
      healWithinMs,
      { what, intervalMs: 100 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${last}`);
  }
}

/** Waits until the NameNode reports the DataNode on `host` in `state`. */
async function waitState(host: string, state: string, timeoutMs: number): Promise<void> {
  const id = idOf(host);
  await waitFor(
    async () => (await client().report()).datanodes.some((d) => d.id === id && d.state === state),
    timeoutMs,
    { what: `the DataNode on ${host} to be ${state}`, intervalMs: 100 },
  );
}

/** The chunks that list the DataNode on `host` as a replica. */
function chunksOn(stats: AgentStat[], host: string): AgentStat["chunks"] {
  return stats.flatMap((stat) => stat.chunks).filter((c) => c.replicas.includes(idOf(host)));
}

/** Each DataNode host's replicas on disk (files, or contained), as `<id>/<generation>` keys. */
async function replicasByHost(): Promise<Map<string, Set<string>>> {
  const byHost = new Map<string, Set<string>>();
  for (const host of datanodeHosts) {
    const replicas = await replicasOnDisk(join(workspace!.dir, host));
    byHost.set(host, new Set(replicas.map((r) => `${r.chunkId}/${r.generation}`)));
  }
  return byHost;
}

/** The hosts that have a finalised replica of `chunk` on disk, in order. */
function hostsStoring(
  chunk: AgentStat["chunks"][number],
  byHost: Map<string, Set<string>>,
): string[] {
  const key = `${BigInt(chunk.id)}/${BigInt(chunk.generation)}`;
  return datanodeHosts.filter((host) => byHost.get(host)!.has(key));
}

/** Builds the hosts and starts the cluster on them. */
async function startCluster(): Promise<void> {
  hosts = await VirtualHosts.create(["nn", ...datanodeHosts, "client"]);
  workspace = await makeWorkspace();
  // Also when a signal ends the run early (helpers/netns.ts exits on SIGINT and SIGTERM).
  const folder = workspace.dir;
  process.on("exit", () => rmSync(folder, { recursive: true, force: true }));
  namenode = startDaemon(
    "namenode/main.js",
    [
      ...["--data-dir", join(workspace.dir, "nn"), "--secret-file", workspace.secretFile],
      ...["--host", hosts.address("nn"), "--port", String(namenodePort), "--http-port", "9870"],
      ...["--chunk-size", `${chunkBytes}`, "--heartbeat-interval", `${heartbeatIntervalMs}ms`],
      ...["--dead-after", `${deadAfterMs}ms`],
    ],
    {},
    { launcher: hosts.launcher("nn") },
  );
  await namenode.waitForLine((line) => line.msg === "NameNode listening");
  for (const host of datanodeHosts) {
    const address = hosts.address(host);
    const datanode = startDaemon(
      "datanode/main.js",
      [
        ...["--data-dir", join(workspace.dir, host), "--secret-file", workspace.secretFile],
        ...["--namenode", namenodeAddress(), "--host", address, "--port", String(datanodePort)],
        ...["--advertise", `${address}:${datanodePort}`, "--http-port", "9864"],
        // The NameNode lists replicas to readers least used first: the DataNode on dn0, with
        // 16 times the others' capacity, is every reader's first choice (see the last test).
        ...["--capacity", host === "dn0" ? "1GiB" : "64MiB", "--scrub-rate", "0"],
      ],
      {},
      { launcher: hosts.launcher(host) },
    );
    datanodes.push(datanode);
  }
  for (const [index, host] of datanodeHosts.entries()) {
    const started = await datanodes[index]!.waitForLine((line) => line.msg === "DataNode started");
    datanodeIds.set(host, String(started.datanode));
  }
  agent = await ClientAgent.start({
    namenode: namenodeAddress(),
    secretFile: workspace.secretFile,
    launcher: hosts.launcher("client"),
  });
  await waitFor(
    async () => (await client().report()).datanodes.filter((d) => d.state === "live").length === 4,
    15_000,
    { what: "four live DataNodes", intervalMs: 100 },
  );
}

let started: Promise<void> | undefined;

// Before each test rather than once before all: uvu does not report an error thrown by a
// `before` hook, while one thrown here fails each test with its reason (such as "need root").
test.before.each(async () => {
  started ??= startCluster();
  await started;
});

test.after(async () => {
  await started?.catch(() => {});
  try {
    await agent?.stop();
    await Promise.allSettled(datanodes.map((datanode) => datanode.stop(5_000)));
    await namenode?.stop(5_000);
  } finally {
    hosts?.destroy();
    await workspace?.remove();
  }
});

test("each daemon binds to and advertises its own host's address, none on the machine's own network", async () => {
  const listening = namenode!.lines.find((line) => line.msg === "NameNode listening")!;
  assert.is(listening.host, virtualHosts().address("nn"));
  for (const [index, host] of datanodeHosts.entries()) {
    const started = datanodes[index]!.lines.find((line) => line.msg === "DataNode started")!;
    assert.is(started.host, virtualHosts().address(host), `${host} binds its address`);
    assert.is(started.address, `${virtualHosts().address(host)}:${datanodePort}`);
  }
  const report = await client().report();
  const advertised = report.datanodes.map((d) => [hostOf(d.id), d.address, d.state]).sort();
  assert.equal(
    advertised,
    datanodeHosts.map((host) => [host, `${virtualHosts().address(host)}:${datanodePort}`, "live"]),
  );
  // The bridge and every address live inside namespaces of the test's own.
  const rootAddresses = execFileSync(ipCommand(), ["-o", "addr", "show"], { encoding: "utf8" });
  assert.not.ok(rootAddresses.includes(`${virtualHosts().subnet}.`), rootAddresses);
});

test("files put and got with the CLI from another host come back byte-exact, three replicas each", async () => {
  await bigfs(["mkdir", "-p", "/data"]);
  await put("/data/a.bin", randomBytes(10 * chunkBytes));
  await put("/data/b.bin", randomBytes(5 * chunkBytes + 777));
  await put("/data/c.bin", randomBytes(10_000));
  await assertAllExact();
  const stats = await waitHealthy("every chunk healthy after the uploads");
  const onDisk = await replicasByHost();
  for (const chunk of stats.flatMap((stat) => stat.chunks)) {
    assert.is(chunk.replicas.length, 3, `chunk ${chunk.id}`);
    assert.equal(
      hostsStoring(chunk, onDisk),
      chunk.replicas.map(hostOf).sort(),
      `chunk ${chunk.id}`,
    );
  }
});

test("a DataNode whose link goes down is declared dead and its chunks are copied elsewhere", async () => {
  const held = chunksOn(await statAll(), "dn3");
  assert.ok(held.length > 0, "dn3 holds replicas");

  await virtualHosts().setLink("dn3", "down");
  await waitState("dn3", "dead", deadWithinMs);
  await waitHealthy(
    "every chunk healthy again without dn3",
    (stats) => chunksOn(stats, "dn3").length === 0,
  );
  assert.ok(datanodes[3]!.child.exitCode === null, "dn3 itself still runs: only its link is cut");
  await assertAllExact();
});

test("the link comes back: the DataNode returns and the extra replicas are removed from disk", async () => {
  const excessBefore = namenode!.lines.filter(
    (line) => line.msg === "deleting an excess replica",
  ).length;
  await virtualHosts().setLink("dn3", "up");
  await waitState("dn3", "live", healWithinMs);
  await waitHealthy("each chunk's replicas, and only they, on disk", async (stats) => {
    const onDisk = await replicasByHost();
    return stats.every((stat) =>
      stat.chunks.every(
        (chunk) =>
          chunk.replicas.length === stat.entry.replication &&
          hostsStoring(chunk, onDisk).join() === chunk.replicas.map(hostOf).sort().join(),
      ),
    );
  });
  const excessAfter = namenode!.lines.filter(
    (line) => line.msg === "deleting an excess replica",
  ).length;
  assert.ok(excessAfter > excessBefore, "the copies dn3 brought back were in excess and deleted");
  assert.is((await client().fsck("/")).overReplicated, 0);
  await assertAllExact();
});

test("a read under way when the client's route to one DataNode is cut completes from other replicas", async () => {
  const path = "/data/read.bin";
  // On every DataNode, so that the one cut off is the first choice for every chunk.
  await put(path, randomBytes(8 * chunkBytes), ["--replication", "4"]);
  const uploadedMs = Date.now();
  await waitHealthy("four replicas of every chunk of the read file", (stats) =>
    stats.every(
      (stat) => stat.entry.replication !== 4 || stat.chunks.every((c) => c.replicas.length === 4),
    ),
  );
  // Readers are sent to the least busy DataNode first: wait until every DataNode has
  // heartbeated since the upload ended, so none still counts it as a transfer.
  await waitFor(
    async () => {
      const { datanodes: all } = await client().report();
      const nowMs = Date.now();
      return all.every((d) => nowMs - d.lastHeartbeatMsAgo > uploadedMs + heartbeatIntervalMs);
    },
    10_000,
    { what: "a heartbeat from every DataNode after the upload", intervalMs: 50 },
  );

  // A DataNode that sends nothing for 3 s is given up on: long enough that a working one on
  // a busy machine never is, so every failure below is the cut's.
  const read = client().pausedRead(path, 3_000);
  const firstBytes = await read.paused;
  assert.ok(firstBytes > 0 && firstBytes < 8 * chunkBytes, `paused after ${firstBytes} bytes`);
  await virtualHosts().setBlocked("client", "dn0", true);
  try {
    await read.resume();
    const result = await read.done;
    assert.is(result.size, 8 * chunkBytes);
    assert.is(result.sha256, sha256(files.get(path)!), "the read delivers the exact bytes");
    const gaveUpOn = result.replicaFailures.map((failure) => hostOf(failure.datanode));
    assert.ok(
      gaveUpOn.includes("dn0"),
      `the read met the cut: it gave up on dn0 for a chunk (gave up on: ${JSON.stringify(result.replicaFailures)})`,
    );
    assert.ok(
      gaveUpOn.every((host) => host === "dn0"),
      "no other DataNode failed",
    );
  } finally {
    await virtualHosts().setBlocked("client", "dn0", false);
  }
});

test.run();
