import { test } from "uvu";
import * as assert from "uvu/assert";
import { UniqueIds } from "../../namenode/_unique_ids.js";

test("no id repeated: firstRepeated is undefined, across growth and the whole u64 range", () => {
  const ids = new UniqueIds();
  assert.is(ids.firstRepeated(), undefined, "empty");
  for (let id = 5000n; id > 0n; id--) ids.add(id * 3n);
  ids.add(0n);
  ids.add(2n ** 64n - 1n);
  ids.add(2n ** 32n);
  ids.add(2n ** 32n + 1n);
  assert.is(ids.size, 5004);
  assert.is(ids.firstRepeated(), undefined);
});

test("a repeated id is found wherever it was added, the smallest first", () => {
  const ids = new UniqueIds();
  for (let id = 1n; id <= 3000n; id++) ids.add(id << 33n);
  ids.add(2999n << 33n);
  ids.add(7n << 33n);
  assert.is(ids.firstRepeated(), 7n << 33n);
  // Equal low halves but different high halves are not a repeat.
  const halves = new UniqueIds();
  halves.add(1n);
  halves.add(1n + 2n ** 32n);
  assert.is(halves.firstRepeated(), undefined);
  halves.add(2n ** 32n + 1n);
  assert.is(halves.firstRepeated(), 2n ** 32n + 1n);
});

test.run();
