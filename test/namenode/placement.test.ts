import { test } from "uvu";
import * as assert from "uvu/assert";
import { DatanodeRegistry } from "../../namenode/datanode_registry.js";
import { choosePipeline, type PlacementCandidate } from "../../namenode/placement.js";

const gib = 1024 ** 3;
const chunkSizeBytes = 64 * 1024 ** 2;

function node(id: string, fields: Partial<PlacementCandidate> = {}): PlacementCandidate {
  return {
    id,
    rack: undefined,
    state: "live",
    capacityBytes: 100 * gib,
    effectiveUsedBytes: 10 * gib,
    effectiveRemainingBytes: 90 * gib,
    activeTransfers: 0,
    ...fields,
  };
}

/** A small deterministic generator (mulberry32), so failures reproduce. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ids = (chosen: readonly PlacementCandidate[]) => chosen.map((candidate) => candidate.id);

test("a pipeline has distinct DataNodes", () => {
  const candidates = ["a", "b", "c", "d", "e"].map((id) => node(id));
  for (let seed = 1; seed <= 50; seed++) {
    const chosen = choosePipeline(candidates, {
      replication: 3,
      chunkSizeBytes,
      random: seeded(seed),
    });
    assert.is(chosen.length, 3);
    assert.is(new Set(ids(chosen)).size, 3);
  }
  // A DataNode listed twice is still used once.
  const twice = choosePipeline([node("a"), node("a")], { replication: 2, chunkSizeBytes });
  assert.equal(ids(twice), ["a"]);
});

test("never a dead, decommissioning, full, nearly full, full-disk or excluded DataNode", () => {
  const candidates = [
    node("dead", { state: "dead" }),
    node("leaving", { state: "decommissioning" }),
    node("gone", { state: "decommissioned" }),
    node("full", { effectiveUsedBytes: 100 * gib - chunkSizeBytes + 1 }),
    node("nearly-full", { effectiveUsedBytes: 96 * gib }),
    node("no-capacity", { capacityBytes: 0, effectiveUsedBytes: 0 }),
    // Its capacity has room, but its disk (shared with other data) has not.
    node("disk-full", { effectiveRemainingBytes: chunkSizeBytes - 1 }),
    node("excluded"),
    node("good-1"),
    node("good-2", { effectiveUsedBytes: 90 * gib, effectiveRemainingBytes: chunkSizeBytes }),
  ];
  for (let seed = 1; seed <= 50; seed++) {
    const chosen = choosePipeline(candidates, {
      replication: 3,
      chunkSizeBytes,
      exclude: new Set(["excluded"]),
      random: seeded(seed),
    });
    assert.equal(ids(chosen).sort(), ["good-1", "good-2"]);
  }
});

test("fewer DataNodes come back when not enough qualify, none when none does", () => {
  assert.is(choosePipeline([node("a"), node("b")], { replication: 3, chunkSizeBytes }).length, 2);
  assert.equal(choosePipeline([], { replication: 3, chunkSizeBytes }), []);
  assert.equal(
    choosePipeline([node("a", { state: "dead" })], { replication: 1, chunkSizeBytes }),
    [],
  );
  assert.equal(choosePipeline([node("a")], { replication: 0, chunkSizeBytes }), []);
  assert.throws(() => choosePipeline([node("a")], { replication: -1, chunkSizeBytes }), /-1/);
});

test("lower use and fewer transfers are favoured", () => {
  const random = seeded(7);
  let light = 0;
  for (let round = 0; round < 200; round++) {
    const chosen = choosePipeline(
      [
        node("busy", { activeTransfers: 10 }),
        node("used", { effectiveUsedBytes: 80 * gib }),
        node("light"),
      ],
      { replication: 1, chunkSizeBytes, random },
    );
    if (chosen[0]!.id === "light") light++;
  }
  // Power of two choices: the best wins every draw it is in, two draws of three.
  assert.ok(light > 110, `light chosen ${light} times of 200`);
});

for (const replication of [1, 3]) {
  test(`with 4 equal DataNodes and scheduling noted, 100 chunks of ${replication} spread evenly`, () => {
    const registry = new DatanodeRegistry({ deadAfterMs: 10_000 });
    for (const id of ["a", "b", "c", "d"]) {
      registry.register({ datanodeId: id, address: id, capacityBytes: 100 * gib, usedBytes: 0 }, 0);
    }
    const random = seeded(42);
    const count = new Map<string, number>();
    for (let chunk = 0; chunk < 100; chunk++) {
      const chosen = choosePipeline(registry.views(), { replication, chunkSizeBytes, random });
      assert.is(chosen.length, replication);
      for (const datanode of chosen) {
        registry.noteChunkScheduled(datanode.id, chunkSizeBytes);
        count.set(datanode.id, (count.get(datanode.id) ?? 0) + 1);
      }
    }
    const even = (100 * replication) / 4;
    for (const id of ["a", "b", "c", "d"]) {
      const placed = count.get(id) ?? 0;
      assert.ok(Math.abs(placed - even) <= 0.2 * even, `${id} got ${placed}, even is ${even}`);
    }
  });
}

test("with racks, replicas span at least two racks, the third beside the second", () => {
  const candidates = [
    node("r1-a", { rack: "/r1" }),
    node("r1-b", { rack: "/r1" }),
    node("r1-c", { rack: "/r1" }),
    node("r2-a", { rack: "/r2" }),
    node("r2-b", { rack: "/r2" }),
    node("r3-a", { rack: "/r3" }),
  ];
  const rackOf = new Map(candidates.map((candidate) => [candidate.id, candidate.rack]));
  for (let seed = 1; seed <= 100; seed++) {
    const chosen = choosePipeline(candidates, {
      replication: 3,
      chunkSizeBytes,
      random: seeded(seed),
    });
    const racks = ids(chosen).map((id) => rackOf.get(id));
    assert.ok(new Set(racks).size >= 2, `racks ${racks.join(", ")}`);
    assert.is.not(racks[1], racks[0]);
    // r3 has one DataNode, so a second replica there has no rack-mate for the third.
    if (racks[1] !== "/r3") assert.is(racks[2], racks[1]);
  }
});

test("racks fall back when a rule cannot be met: one rack only still gives a pipeline", () => {
  const candidates = ["a", "b", "c"].map((id) => node(id, { rack: "/only" }));
  assert.is(choosePipeline(candidates, { replication: 3, chunkSizeBytes }).length, 3);
});

test("the first replicas of 12 consecutive chunks are not all on one DataNode", () => {
  const candidates = ["a", "b", "c", "d"].map((id) => node(id));
  const firsts = new Set<string>();
  for (let chunk = 0; chunk < 12; chunk++) {
    firsts.add(choosePipeline(candidates, { replication: 3, chunkSizeBytes })[0]!.id);
  }
  assert.ok(firsts.size > 1, `every first replica on ${[...firsts].join(", ")}`);
});

test.run();
