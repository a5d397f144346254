/**
 * The NameNode heals and balances its cluster: re-replication after a death, retries, corrupt
 * and excess replicas, replication changes, decommissioning, the balancer and placement.
 *
 * The DataNodes are fakes that do what a real one does with a command, over the wire: a
 * `replicate` makes each target report the new replica (CHUNK_REPORT added), a `delete` makes
 * the DataNode report it removed. Every delete is checked as it arrives: a good replica may go
 * only when the chunk keeps its target without it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ChunkMap, NameNode, type NameNodeOptions, parseNamenodeConfig } from "#namenode";
import { type Connection, createLogger, type ResponseOf, verifyChunkToken } from "#protocol";
import {
  type FakeDatanode,
  type FakeDatanodeOptions,
  fastFlags,
  Harness,
  type Replica,
  rejection,
  testSecret,
  writeFile,
} from "../helpers/namenode_harness.js";
import { waitFor } from "../helpers/wait.js";

const deadlineMs = 10_000;
const chunkBytes = 64 * 1024;

type Command = ResponseOf<"HEARTBEAT">["commands"][number];

/** A replicate command as a fake DataNode received it. */
interface ReceivedCopy {
  source: string;
  chunkId: bigint;
  targets: string[];
}

/** Starts a NameNode with the fast test flags and the monitor options a test needs. */
async function startNamenode(
  harness: Harness,
  stopList: NameNode[],
  options: Omit<NameNodeOptions, "logger" | "secret"> = {},
): Promise<NameNode> {
  const config = parseNamenodeConfig(["--data-dir", await harness.folder(), ...fastFlags]);
  const namenode = await NameNode.start(config, {
    logger: createLogger({ name: "namenode", level: "silent" }),
    secret: testSecret,
    ...options,
    replication: { commitGraceMs: 100, ...options.replication },
  });
  stopList.push(namenode);
  return namenode;
}

/** Fake DataNodes that heartbeat on their own and carry out the commands they get. */
class Cluster {
  readonly namenode: NameNode;
  readonly harness: Harness;
  readonly nodes = new Map<string, FakeDatanode>();
  /** What each fake holds, to register again with after a "death". */
  readonly held = new Map<string, Map<bigint, Replica>>();
  readonly sizes = new Map<bigint, { generation: bigint; size: number }>();
  readonly copies: ReceivedCopy[] = [];
  readonly deletes: { datanode: string; chunkId: bigint }[] = [];
  /** Deletes that would have taken a chunk below its target. */
  readonly violations: string[] = [];
  /** Whether a fake carries out a command it got; a dropped one is still recorded. */
  obey: (command: Command, datanode: string) => boolean = () => true;
  /** While true, commands wait (as on a busy DataNode) until {@linkcode resume}. */
  paused = false;
  readonly #backlog: { datanode: string; command: Command }[] = [];
  readonly #timers = new Map<string, NodeJS.Timeout>();

  constructor(harness: Harness, namenode: NameNode) {
    this.harness = harness;
    this.namenode = namenode;
  }

  /** A fake DataNode, registered and heartbeating every 50 ms. */
  async add(id: string, options: FakeDatanodeOptions = {}): Promise<FakeDatanode> {
    const datanode = await this.harness.datanode(this.namenode, id, {
      ...options,
      heartbeatIntervalMs: 0,
    });
    this.nodes.set(id, datanode);
    this.held.set(id, new Map((options.chunks ?? []).map((replica) => [replica.id, replica])));
    this.#startLoop(id);
    return datanode;
  }

  /** Goes silent, to be declared dead; returns once the NameNode has. */
  async kill(id: string): Promise<void> {
    clearInterval(this.#timers.get(id));
    this.#timers.delete(id);
    await waitFor(() => !this.namenode.registry.isLive(id), deadlineMs, { what: `${id} dead` });
  }

  /** Comes back with a full report of what it held. */
  async revive(id: string): Promise<void> {
    await this.node(id).register({ chunks: [...this.held.get(id)!.values()] });
    this.#startLoop(id);
  }

  node(id: string): FakeDatanode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no fake DataNode ${id}`);
    return node;
  }

  /** Writes a file whose every chunk is reported by `holders`. */
  async put(
    client: Connection,
    path: string,
    chunks: number,
    holders: string[],
    replication = holders.length,
  ): Promise<bigint[]> {
    const contents = Array.from({ length: chunks }, (_, index) => ({
      size: chunkBytes,
      xxh64: BigInt(index + 1),
    }));
    const written = await writeFile(client, path, contents, {
      replication,
      reportFrom: holders.map((id) => this.node(id)),
    });
    for (const chunk of written.chunks) {
      this.sizes.set(chunk.id, { generation: chunk.generation, size: chunk.size });
      for (const id of holders) {
        this.held
          .get(id)!
          .set(chunk.id, { id: chunk.id, generation: chunk.generation, size: chunk.size });
      }
    }
    return written.chunks.map((chunk) => chunk.id);
  }

  /** Live good replicas of a chunk, by DataNode id, sorted. */
  replicas(chunkId: bigint): string[] {
    return this.namenode.chunkMap.liveReplicas(chunkId).sort();
  }

  stop(): void {
    for (const timer of this.#timers.values()) clearInterval(timer);
    this.#timers.clear();
  }

  #startLoop(id: string): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.#pump(id)
        .catch(() => {})
        .finally(() => {
          busy = false;
        });
    }, 50);
    this.#timers.set(id, timer);
  }

  async #pump(id: string): Promise<void> {
    const commands = await this.node(id).heartbeat();
    for (const command of commands) {
      if (command.action === "replicate") {
        command.chunks.forEach((chunk, index) => {
          // The token must let the target write this copy.
          verifyChunkToken(testSecret, command.tokens![index]!, {
            chunkId: chunk.id,
            generation: chunk.generation,
            operation: "replicate",
          });
          this.copies.push({
            source: id,
            chunkId: chunk.id,
            targets: (command.targets ?? []).map((target) => target.id),
          });
        });
      } else {
        for (const chunk of command.chunks) {
          this.#checkDelete(id, chunk.id);
          this.deletes.push({ datanode: id, chunkId: chunk.id });
        }
      }
      if (!this.obey(command, id)) continue;
      if (this.paused) this.#backlog.push({ datanode: id, command });
      else await this.#carryOut(id, command);
    }
  }

  /** Carries out the commands that waited, and the next ones at once. */
  async resume(): Promise<void> {
    this.paused = false;
    for (const { datanode, command } of this.#backlog.splice(0)) {
      await this.#carryOut(datanode, command);
    }
  }

  #checkDelete(datanode: string, chunkId: bigint): void {
    const { chunkMap } = this.namenode;
    const chunk = chunkMap.get(chunkId);
    if (!chunk?.committed) return;
    const good = chunkMap.liveReplicas(chunkId);
    if (!good.includes(datanode)) return; // a corrupt or unknown replica
    const left = good.filter(
      (other) => other !== datanode && this.namenode.registry.isWritable(other),
    ).length;
    if (left < chunk.expectedReplication) {
      this.violations.push(
        `delete of chunk ${chunkId} on ${datanode} leaves ${left} of ${chunk.expectedReplication}`,
      );
    }
  }

  async #carryOut(id: string, command: Command): Promise<void> {
    if (command.action === "delete") {
      for (const chunk of command.chunks) this.held.get(id)!.delete(chunk.id);
      await this.node(id).report([], command.chunks);
      return;
    }
    for (const target of command.targets ?? []) {
      if (!this.#timers.has(target.id)) continue; // a "dead" fake receives nothing
      const added = command.chunks.map((chunk) => ({
        id: chunk.id,
        generation: chunk.generation,
        size: this.sizes.get(chunk.id)?.size ?? 0,
      }));
      for (const replica of added) this.held.get(target.id)!.set(replica.id, replica);
      await this.node(target.id).report(added);
    }
  }
}

/** Runs `body` with a harness, a NameNode and a cluster of fakes, and cleans up. */
async function withCluster(
  options: Omit<NameNodeOptions, "logger" | "secret">,
  body: (cluster: Cluster, client: Connection) => Promise<void>,
): Promise<void> {
  const harness = new Harness();
  const namenodes: NameNode[] = [];
  let cluster: Cluster | undefined;
  try {
    const namenode = await startNamenode(harness, namenodes, options);
    cluster = new Cluster(harness, namenode);
    await body(cluster, await harness.client(namenode));
    assert.equal(cluster.violations, [], "no delete took a chunk below its target");
  } finally {
    cluster?.stop();
    await Promise.all(namenodes.map((namenode) => namenode.stop()));
    await harness.cleanup();
  }
}

async function fsck(client: Connection): Promise<ResponseOf<"FSCK">> {
  return client.request("FSCK", { path: "/" });
}

async function healthy(client: Connection): Promise<boolean> {
  const report = await fsck(client);
  return report.healthy === report.chunks && report.chunks > 0;
}

// ---------------------------------------------------------------------------------------

test("a dead DataNode's chunks are copied elsewhere: one-replica chunks first, at most 4 copies per DataNode, then fsck is healthy", async () => {
  await withCluster({ replication: { pendingTimeoutMs: 60_000 } }, async (cluster, client) => {
    for (const id of ["dn1", "dn2", "dn3", "dn4", "dn5", "dn6"]) await cluster.add(id);
    // Replication 2 on dn1 and dn2: one replica left when dn1 dies. Replication 3: two left.
    const single = await cluster.put(client, "/single", 6, ["dn1", "dn2"]);
    const triple = await cluster.put(client, "/triple", 16, ["dn1", "dn3", "dn4"]);
    assert.ok(await healthy(client));
    cluster.paused = true;

    await cluster.kill("dn1");
    const monitor = cluster.namenode.replicationMonitor;
    await waitFor(() => monitor.pendingReplications().length >= 12, deadlineMs);
    const pending = monitor.pendingReplications().sort((a, b) => a.sequence - b.sequence);
    const firstTriple = pending.findIndex((entry) => triple.includes(entry.chunkId));
    const lastSingle = pending.findLastIndex((entry) => single.includes(entry.chunkId));
    assert.ok(firstTriple > lastSingle, "every one-replica chunk scheduled went first");
    // dn2, the only source of /single, sends 4; dn3 and dn4 send 4 each for /triple.
    assert.is(pending.filter((entry) => single.includes(entry.chunkId)).length, 4);
    for (const id of ["dn2", "dn3", "dn4", "dn5", "dn6"]) {
      assert.ok(pending.filter((entry) => entry.source === id).length <= 4, `${id} sends <= 4`);
      assert.ok(pending.filter((entry) => entry.target === id).length <= 4, `${id} takes <= 4`);
    }
    await waitFor(
      () => cluster.copies.filter((copy) => copy.source === "dn2").length === 4,
      deadlineMs,
    );

    await cluster.resume();
    await waitFor(async () => (await fsck(client)).underReplicated === 0, deadlineMs, {
      what: "fsck underReplicated 0",
    });
    const report = await fsck(client);
    assert.is(report.healthy, report.chunks);
    for (const id of single) assert.is(cluster.replicas(id).length, 2);
    for (const id of triple) {
      assert.is(cluster.replicas(id).length, 3);
      assert.not.ok(cluster.replicas(id).includes("dn1"));
    }
    assert.is(monitor.stats().pendingReplications, 0);
  });
});

test("a copy its target never reports is scheduled again, to another DataNode", async () => {
  await withCluster({ replication: { pendingTimeoutMs: 400 } }, async (cluster, client) => {
    for (const id of ["dn1", "dn2", "dn3", "dn4", "dn5"]) await cluster.add(id);
    const [chunkId] = await cluster.put(client, "/f", 1, ["dn1", "dn2", "dn3"]);
    cluster.obey = () => false;
    await cluster.kill("dn1");
    await waitFor(() => cluster.copies.length >= 1, deadlineMs);
    const first = cluster.copies[0]!;
    assert.is(first.chunkId, chunkId);
    assert.equal(first.targets.length, 1);
    assert.ok(["dn4", "dn5"].includes(first.targets[0]!));

    await waitFor(() => cluster.copies.length >= 2, deadlineMs, { what: "a retry" });
    const second = cluster.copies[1]!;
    assert.is(second.chunkId, chunkId);
    assert.is.not(second.targets[0], first.targets[0], "the retry goes elsewhere");
    assert.ok(cluster.namenode.replicationMonitor.stats().timedOut >= 1);

    cluster.obey = () => true;
    await waitFor(() => healthy(client), deadlineMs, { what: "healthy" });
    assert.is(cluster.replicas(chunkId!).length, 3);
  });
});

test("a corrupt replica is replaced first and deleted only once enough good copies exist", async () => {
  await withCluster({}, async (cluster, client) => {
    for (const id of ["dn1", "dn2", "dn3", "dn4"]) await cluster.add(id);
    const [chunkId] = await cluster.put(client, "/f", 1, ["dn1", "dn2", "dn3"]);
    const { generation } = cluster.sizes.get(chunkId!)!;
    cluster.paused = true;
    await cluster.node("dn2").connection.request("REPORT_CORRUPT", {
      datanodeId: "dn2",
      chunkId: chunkId!,
      generation,
      reason: "scrubber: xxh64 mismatch",
    });
    assert.is((await fsck(client)).corrupt, 1);

    await waitFor(() => cluster.copies.length >= 1, deadlineMs);
    assert.equal(cluster.copies[0]!.targets, ["dn4"], "the copy goes to the one DataNode left");
    assert.not.ok(cluster.copies[0]!.source === "dn2", "never copied from the corrupt replica");
    // Waiting for the copy, the corrupt replica stays: it may be the best left.
    const heartbeats = cluster.node("dn2").heartbeats;
    await waitFor(() => cluster.node("dn2").heartbeats >= heartbeats + 3, deadlineMs);
    assert.equal(cluster.deletes, []);

    await cluster.resume();
    await waitFor(() => cluster.deletes.some((entry) => entry.datanode === "dn2"), deadlineMs, {
      what: "the corrupt replica deleted",
    });
    await waitFor(() => healthy(client), deadlineMs, { what: "healthy" });
    assert.equal(cluster.replicas(chunkId!), ["dn1", "dn3", "dn4"]);
    assert.equal(cluster.namenode.chunkMap.corruptReplicas(chunkId!), []);
  });
});

test("a returning DataNode's extra copies are deleted from the fullest DataNodes, never below the target", async () => {
  await withCluster({}, async (cluster, client) => {
    await cluster.add("dn1");
    // dn2 is the fullest: the same replicas on a far smaller disk.
    await cluster.add("dn2", { capacityBytes: 64 * chunkBytes });
    await cluster.add("dn3");
    await cluster.add("dn4");
    const chunks = await cluster.put(client, "/f", 4, ["dn1", "dn2", "dn3"]);
    await cluster.kill("dn1");
    await waitFor(() => healthy(client), deadlineMs, { what: "re-replicated" });
    for (const id of chunks) assert.equal(cluster.replicas(id), ["dn2", "dn3", "dn4"]);

    await cluster.revive("dn1");
    await waitFor(async () => (await fsck(client)).overReplicated === 0, deadlineMs, {
      what: "overReplicated 0",
    });
    await waitFor(() => healthy(client), deadlineMs);
    for (const id of chunks) assert.equal(cluster.replicas(id), ["dn1", "dn3", "dn4"]);
    assert.equal(
      [...new Set(cluster.deletes.map((entry) => entry.datanode))],
      ["dn2"],
      "only the fullest DataNode lost copies",
    );
  });
});

test("raising a file's replication adds copies; lowering it removes them, never below the new target", async () => {
  await withCluster({}, async (cluster, client) => {
    for (const id of ["dn1", "dn2", "dn3", "dn4"]) await cluster.add(id);
    const chunks = await cluster.put(client, "/f", 3, ["dn1", "dn2"]);
    await client.request("SET_REPLICATION", { path: "/f", replication: 4 });
    assert.is((await client.request("STAT", { path: "/f" })).entry.replication, 4);
    await waitFor(() => chunks.every((id) => cluster.replicas(id).length === 4), deadlineMs, {
      what: "4 replicas",
    });
    assert.ok(await healthy(client));

    await client.request("SET_REPLICATION", { path: "/f", replication: 1 });
    await waitFor(() => chunks.every((id) => cluster.replicas(id).length === 1), deadlineMs, {
      what: "1 replica",
    });
    await waitFor(() => healthy(client), deadlineMs);
    assert.is(cluster.namenode.replicationMonitor.stats().pendingDeletes, 0);

    await client.request("MKDIR", { path: "/dir" });
    const refusals: [Promise<unknown>, string][] = [
      [client.request("SET_REPLICATION", { path: "/dir", replication: 2 }), "IS_A_DIRECTORY"],
      [client.request("SET_REPLICATION", { path: "/f", replication: 0 }), "INVALID_ARGUMENT"],
      [client.request("SET_REPLICATION", { path: "/nope", replication: 2 }), "NOT_FOUND"],
    ];
    for (const [promise, code] of refusals) assert.is((await rejection(promise)).code, code);
  });
});

test("a decommissioned DataNode takes no new chunks, its replicas are copied away, and it ends decommissioned", async () => {
  await withCluster({}, async (cluster, client) => {
    for (const id of ["dn1", "dn2", "dn3", "dn4"]) await cluster.add(id);
    const chunks = await cluster.put(client, "/f", 5, ["dn1", "dn2", "dn3"]);
    cluster.paused = true;
    await client.request("DECOMMISSION", { datanodeId: "dn1" });
    const entryOf = async (id: string) =>
      (await client.request("DATANODE_REPORT", {})).datanodes.find((entry) => entry.id === id)!;
    assert.is((await entryOf("dn1")).state, "decommissioning");
    await waitFor(async () => (await entryOf("dn1")).decommissionRemaining === 5, deadlineMs, {
      what: "progress: 5 chunks to go",
    });
    // Readers are sent to DataNodes in service first.
    const { chunks: located } = await client.request("OPEN", { path: "/f" });
    for (const chunk of located) assert.is(chunk.replicas.at(-1)?.id, "dn1");
    // New chunks avoid it.
    const { fileId } = await client.request("CREATE", {
      path: "/new",
      clientName: "w",
      replication: 4,
      chunkSizeBytes: chunkBytes,
    });
    for (let index = 0; index < 5; index++) {
      const { pipeline } = await client.request("ADD_CHUNK", {
        path: "/new",
        fileId,
        clientName: "w",
      });
      assert.equal(pipeline.map((datanode) => datanode.id).sort(), ["dn2", "dn3", "dn4"]);
    }
    await client.request("ABANDON", { path: "/new", fileId, clientName: "w" });

    await cluster.resume();
    await waitFor(async () => (await entryOf("dn1")).state === "decommissioned", deadlineMs, {
      what: "decommissioned",
    });
    assert.is((await entryOf("dn1")).decommissionRemaining, 0);
    for (const id of chunks) assert.equal(cluster.replicas(id), ["dn1", "dn2", "dn3", "dn4"]);
    // Its replicas no longer count, and are kept: nothing is over-replicated or deleted.
    assert.ok(await healthy(client));
    assert.equal(cluster.deletes, []);
    assert.is(
      (await rejection(client.request("DECOMMISSION", { datanodeId: "dn9" }))).code,
      "NOT_FOUND",
    );
  });
});

test("balance moves replicas from full DataNodes to an empty one until all are within the threshold", async () => {
  await withCluster({}, async (cluster, client) => {
    const capacityBytes = 40 * chunkBytes;
    for (const id of ["dn1", "dn2", "dn3"]) await cluster.add(id, { capacityBytes });
    const chunks = await cluster.put(client, "/f", 30, ["dn1", "dn2", "dn3"]);
    await cluster.add("dn4", { capacityBytes });

    const result = await client.request("BALANCE", { thresholdPercent: 10, waitMs: 20_000 });
    assert.ok(result.balanced, JSON.stringify(result.datanodes));
    assert.is(result.running, false);
    assert.is(result.movesInFlight, 0);
    assert.ok(result.movedCount >= 18, `moved ${result.movedCount}`);
    assert.is(result.bytesMoved, result.movedCount * chunkBytes);
    assert.is(result.moved.length, result.movedCount);
    assert.ok(result.moved.every((move) => move.target === "dn4"));
    const mean =
      result.datanodes.reduce((sum, node) => sum + node.usedBytes, 0) /
      result.datanodes.reduce((sum, node) => sum + node.capacityBytes, 0);
    for (const node of result.datanodes) {
      assert.ok(Math.abs(node.usedBytes / node.capacityBytes - mean) <= 0.1, node.id);
    }
    for (const id of chunks) assert.is(cluster.replicas(id).length, 3);
    assert.ok(await healthy(client));

    const again = await client.request("BALANCE", {});
    assert.ok(again.balanced);
    assert.is(again.movedCount, 0);
    assert.is(
      (await rejection(client.request("BALANCE", { thresholdPercent: 0 }))).code,
      "INVALID_ARGUMENT",
    );
  });
});

test("a chunk with no live replica is missing, named with its file, and healthy again when a holder returns", async () => {
  await withCluster({}, async (cluster, client) => {
    await cluster.add("dn1");
    await cluster.add("dn2");
    const [chunkId] = await cluster.put(client, "/lonely", 1, ["dn1"]);
    await cluster.kill("dn1");
    const report = await fsck(client);
    assert.is(report.missing, 1);
    assert.equal(report.problems, [
      { path: "/lonely", chunkId: chunkId!, status: "missing", liveReplicas: 0 },
    ]);
    await cluster.revive("dn1");
    await waitFor(() => healthy(client), deadlineMs, { what: "healthy" });
    assert.equal(cluster.replicas(chunkId!), ["dn1"]);
  });
});

test("placement spreads 100 chunks over four DataNodes within 20% of even", async () => {
  await withCluster({}, async (cluster, client) => {
    for (const id of ["dn1", "dn2", "dn3", "dn4"]) await cluster.add(id);
    const contents = Array.from({ length: 100 }, () => ({ size: chunkBytes, xxh64: 1n }));
    const written = await writeFile(client, "/spread", contents, { replication: 3 });
    const counts = new Map<string, number>();
    for (const chunk of written.chunks) {
      assert.is(new Set(chunk.pipeline).size, 3);
      for (const id of chunk.pipeline) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const even = 300 / 4;
    for (const id of ["dn1", "dn2", "dn3", "dn4"]) {
      const count = counts.get(id) ?? 0;
      assert.ok(Math.abs(count - even) <= 0.2 * even, `${id} got ${count} of 300 replicas`);
    }
  });
});

test("the chunk map keeps each DataNode's stored bytes as replicas come, commit and go", () => {
  const map = new ChunkMap();
  map.addChunk({ id: 1n, generation: 1n, expectedReplication: 2 });
  map.addChunk({
    id: 2n,
    generation: 1n,
    expectedReplication: 2,
    size: 50,
    committed: true,
  });
  map.reportReplica("a", { id: 1n, generation: 1n, size: 0 });
  map.reportReplica("a", { id: 2n, generation: 1n, size: 50 });
  map.reportReplica("b", { id: 2n, generation: 1n, size: 50 });
  assert.is(map.storedBytesOf("a"), 50);
  map.commitChunk(1n, 30);
  assert.is(map.storedBytesOf("a"), 80);
  map.fullReport("a", [{ id: 1n, generation: 1n, size: 30 }]);
  assert.is(map.storedBytesOf("a"), 30);
  assert.equal([...map.chunksOn("a")], [1n]);
  map.removeChunk(2n);
  assert.is(map.storedBytesOf("b"), 0);
  map.datanodeDead("a");
  assert.is(map.storedBytesOf("a"), 0);
  assert.is(map.storedBytesOf("nobody"), 0);
});

test.run();
