import { test } from "uvu";
import * as assert from "uvu/assert";
import { type DatanodeCommand, DatanodeRegistry } from "../../namenode/datanode_registry.js";

const deadAfterMs = 10_000;
const gib = 1024 ** 3;

function registry(options: { deletesPerHeartbeatMax?: number } = {}) {
  return new DatanodeRegistry({ deadAfterMs, ...options });
}

function register(nodes: DatanodeRegistry, datanodeId: string, nowMs = 0, address = "h:1") {
  return nodes.register({ datanodeId, address, capacityBytes: 100 * gib, usedBytes: 0 }, nowMs);
}

const stats = { capacityBytes: 100 * gib, usedBytes: 10 * gib, activeTransfers: 2 };

const replicate = (id: bigint): DatanodeCommand => ({
  action: "replicate",
  chunks: [{ id, generation: 1n }],
  targets: [{ id: "dn-2", address: "h:2" }],
});

test("a new DataNode is live, and heartbeats update its figures", () => {
  const nodes = registry();
  assert.is(register(nodes, "dn-1"), "new");
  assert.is(nodes.liveCount, 1);
  assert.equal(nodes.heartbeat("dn-1", stats, 1000), []);
  const view = nodes.get("dn-1")!;
  assert.is(view.state, "live");
  assert.is(view.usedBytes, 10 * gib);
  assert.is(view.activeTransfers, 2);
  assert.is(view.lastHeartbeatMs, 1000);
});

test("heartbeats keep a DataNode live however long it runs", () => {
  const nodes = registry();
  register(nodes, "dn-1");
  for (let nowMs = 1000; nowMs <= 100_000; nowMs += 1000) {
    assert.ok(nodes.heartbeat("dn-1", stats, nowMs));
    assert.equal(nodes.checkLiveness(nowMs + 500), []);
  }
  assert.is(nodes.get("dn-1")!.state, "live");
});

test("silence for exactly deadAfterMs is still live; one millisecond more is dead", () => {
  const nodes = registry();
  register(nodes, "dn-1", 0);
  register(nodes, "dn-2", 5000);
  assert.equal(nodes.checkLiveness(deadAfterMs), []);
  assert.is(nodes.get("dn-1")!.state, "live");
  assert.equal(nodes.checkLiveness(deadAfterMs + 1), ["dn-1"]);
  assert.is(nodes.get("dn-1")!.state, "dead");
  assert.is(nodes.liveCount, 1);
  assert.not.ok(nodes.isLive("dn-1"));
  assert.not.ok(nodes.isWritable("dn-1"));
  // Newly dead only: dn-1 is not reported twice.
  assert.equal(nodes.checkLiveness(deadAfterMs + 5001), ["dn-2"]);
  assert.equal(nodes.checkLiveness(deadAfterMs * 10), []);
  assert.is(nodes.liveCount, 0);
});

test("a dead DataNode's heartbeat is refused until it registers again, and then it is back", () => {
  const nodes = registry();
  register(nodes, "dn-1", 0, "old:1");
  nodes.checkLiveness(deadAfterMs + 1);
  assert.is(nodes.heartbeat("dn-1", stats, deadAfterMs + 2), undefined);
  assert.is(register(nodes, "dn-1", deadAfterMs + 3, "new:1"), "returned");
  assert.is(nodes.get("dn-1")!.state, "live");
  assert.is(nodes.get("dn-1")!.address, "new:1");
  assert.is(nodes.liveCount, 1);
  assert.equal(nodes.heartbeat("dn-1", stats, deadAfterMs + 4), []);
  assert.is(register(nodes, "dn-1", deadAfterMs + 5), "reregistered");
  assert.is(nodes.liveCount, 1);
});

test("an unknown DataNode's heartbeat gives undefined", () => {
  const nodes = registry();
  assert.is(nodes.heartbeat("nobody", stats, 0), undefined);
  assert.not.ok(nodes.queueDelete("nobody", { id: 1n, generation: 1n }));
  assert.not.ok(nodes.queueCommand("nobody", replicate(1n)));
  assert.is(nodes.get("nobody"), undefined);
});

test("commands are delivered once, in order, on the next heartbeat", () => {
  const nodes = registry();
  register(nodes, "dn-1");
  register(nodes, "dn-2");
  assert.ok(nodes.queueCommand("dn-1", replicate(1n)));
  assert.ok(nodes.queueCommand("dn-1", replicate(2n)));
  assert.equal(nodes.heartbeat("dn-2", stats, 1), []);
  assert.equal(nodes.heartbeat("dn-1", stats, 1), [replicate(1n), replicate(2n)]);
  assert.equal(nodes.heartbeat("dn-1", stats, 2), []);
});

test("deletes are merged into one command of at most the bound; the rest wait", () => {
  const nodes = registry({ deletesPerHeartbeatMax: 1000 });
  register(nodes, "dn-1");
  for (let id = 1n; id <= 2500n; id++) nodes.queueDelete("dn-1", { id, generation: 7n });
  nodes.queueDelete("dn-1", { id: 1n, generation: 7n }); // twice: sent once
  nodes.queueCommand("dn-1", { action: "delete", chunks: [{ id: 2501n, generation: 7n }] });
  nodes.queueCommand("dn-1", replicate(9n));
  const sent: bigint[] = [];
  for (let beat = 1; beat <= 3; beat++) {
    const commands = nodes.heartbeat("dn-1", stats, beat)!;
    const deletes = commands.filter((command) => command.action === "delete");
    assert.is(deletes.length, 1);
    assert.ok(deletes[0]!.chunks.length <= 1000);
    assert.is(commands.length, beat === 1 ? 2 : 1);
    for (const chunk of deletes[0]!.chunks) {
      assert.is(chunk.generation, 7n);
      sent.push(chunk.id);
    }
  }
  assert.is(sent.length, 2501);
  assert.is(new Set(sent).size, 2501);
  assert.equal(nodes.heartbeat("dn-1", stats, 4), []);
});

test("a dead DataNode's queued commands are dropped, and it takes no new ones", () => {
  const nodes = registry();
  register(nodes, "dn-1");
  nodes.queueCommand("dn-1", replicate(1n));
  nodes.queueDelete("dn-1", { id: 5n, generation: 1n });
  nodes.checkLiveness(deadAfterMs + 1);
  assert.equal(nodes.pendingCount("dn-1"), { commands: 0, deletes: 0 });
  assert.not.ok(nodes.queueDelete("dn-1", { id: 6n, generation: 1n }));
  register(nodes, "dn-1", deadAfterMs + 2);
  assert.equal(nodes.heartbeat("dn-1", stats, deadAfterMs + 3), []);
});

test("the command queue is bounded", () => {
  const nodes = new DatanodeRegistry({ deadAfterMs, commandsQueuedMax: 2 });
  register(nodes, "dn-1");
  assert.ok(nodes.queueCommand("dn-1", replicate(1n)));
  assert.ok(nodes.queueCommand("dn-1", replicate(2n)));
  assert.not.ok(nodes.queueCommand("dn-1", replicate(3n)));
});

test("scheduled chunks raise effective use and transfers until the next heartbeat", () => {
  const nodes = registry();
  register(nodes, "dn-1");
  nodes.heartbeat("dn-1", stats, 1);
  nodes.noteChunkScheduled("dn-1", gib);
  nodes.noteChunkScheduled("dn-1", gib);
  const view = nodes.get("dn-1")!;
  assert.is(view.effectiveUsedBytes, 12 * gib);
  assert.is(view.usedBytes, 10 * gib);
  assert.is(view.activeTransfers, 4);
  nodes.heartbeat("dn-1", { ...stats, usedBytes: 12 * gib, activeTransfers: 1 }, 2);
  assert.is(nodes.get("dn-1")!.effectiveUsedBytes, 12 * gib);
  assert.is(nodes.get("dn-1")!.activeTransfers, 1);
});

test("remaining bytes: as reported, never above capacity less use, less what was scheduled", () => {
  const nodes = registry();
  register(nodes, "dn-1");
  assert.is(nodes.get("dn-1")!.remainingBytes, 100 * gib, "none reported: capacity less use");
  // The disk holds other data: it has 3 GiB free though the capacity leaves 90 GiB.
  nodes.heartbeat("dn-1", { ...stats, remainingBytes: 3 * gib }, 1);
  assert.is(nodes.get("dn-1")!.remainingBytes, 3 * gib);
  nodes.noteChunkScheduled("dn-1", gib);
  nodes.noteChunkScheduled("dn-1", gib);
  assert.is(nodes.get("dn-1")!.effectiveRemainingBytes, gib);
  nodes.noteChunkScheduled("dn-1", 2 * gib);
  assert.is(nodes.get("dn-1")!.effectiveRemainingBytes, 0, "never below zero");
  nodes.heartbeat("dn-1", { ...stats, remainingBytes: 0 }, 2);
  assert.is(nodes.get("dn-1")!.effectiveRemainingBytes, 0, "a full disk");
  nodes.heartbeat("dn-1", { ...stats, remainingBytes: 500 * gib }, 3);
  assert.is(nodes.get("dn-1")!.remainingBytes, 90 * gib, "capacity less use bounds it");
  nodes.register(
    { datanodeId: "dn-1", address: "h:1", capacityBytes: 10, usedBytes: 2, remainingBytes: 4 },
    4,
  );
  assert.is(nodes.get("dn-1")!.remainingBytes, 4, "registration reports it too");
});

test("decommissioning keeps a DataNode live but not writable, across death and return", () => {
  const nodes = registry();
  register(nodes, "dn-1");
  assert.ok(nodes.isWritable("dn-1"));
  assert.ok(nodes.setAdminState("dn-1", "decommissioning"));
  assert.is(nodes.get("dn-1")!.state, "decommissioning");
  assert.ok(nodes.isLive("dn-1"));
  assert.not.ok(nodes.isWritable("dn-1"));
  nodes.checkLiveness(deadAfterMs + 1);
  assert.is(nodes.get("dn-1")!.state, "dead");
  register(nodes, "dn-1", deadAfterMs + 2);
  assert.is(nodes.get("dn-1")!.state, "decommissioning");
  nodes.setAdminState("dn-1", "decommissioned");
  assert.is(nodes.get("dn-1")!.state, "decommissioned");
  assert.not.ok(nodes.setAdminState("nobody", "decommissioning"));
});

test("list gives DATANODE_REPORT entries with the time since the last heartbeat", () => {
  const nodes = registry();
  nodes.register(
    { datanodeId: "dn-1", address: "h:1", rack: "/r1", capacityBytes: 100, usedBytes: 5 },
    1000,
  );
  register(nodes, "dn-2", 1000);
  nodes.checkLiveness(1000 + deadAfterMs + 1);
  const listed = nodes.list(1000 + deadAfterMs + 1, (id) => (id === "dn-1" ? 3 : 0));
  assert.equal(listed[0], {
    id: "dn-1",
    address: "h:1",
    rack: "/r1",
    state: "dead",
    capacityBytes: 100,
    usedBytes: 5,
    remainingBytes: 95,
    chunks: 3,
    lastHeartbeatMsAgo: deadAfterMs + 1,
    pendingDeletes: 0,
  });
  assert.not.ok("rack" in listed[1]!);
  assert.is(nodes.views().length, 2);
  // Deletions queued and not yet sent are counted.
  register(nodes, "dn-3", 2000);
  assert.ok(nodes.queueDelete("dn-3", { id: 7n, generation: 1n }));
  assert.ok(nodes.queueDelete("dn-3", { id: 8n, generation: 1n }));
  const third = nodes.list(2000, () => 0).find((entry) => entry.id === "dn-3");
  assert.is(third?.pendingDeletes, 2);
});

test("options out of range are refused", () => {
  assert.throws(() => new DatanodeRegistry({ deadAfterMs: 0 }), /deadAfterMs 0/);
  assert.throws(
    () => new DatanodeRegistry({ deadAfterMs, deletesPerHeartbeatMax: 20_000 }),
    /deletesPerHeartbeatMax/,
  );
});

test.run();
