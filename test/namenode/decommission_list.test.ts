import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DecommissionList, decommissionListName } from "../../namenode/decommission_list.js";
import { Harness, rejection } from "../helpers/namenode_harness.js";

const harness = new Harness();

test.after(async () => {
  await harness.cleanup();
});

test("an empty folder has an empty list; added DataNodes are on disk and load again", async () => {
  const folder = await harness.folder();
  const list = await DecommissionList.load(folder);
  assert.equal(list.ids, []);
  assert.not.ok(list.has("dn-a"));
  await list.add("dn-a");
  await list.add("dn-a");
  // Added at once: each write waits for the one before, and the file ends with both.
  await Promise.all([list.add("dn-b"), list.add("dn-c")]);
  assert.equal(list.ids, ["dn-a", "dn-b", "dn-c"]);
  assert.ok(list.has("dn-b"));
  const onDisk = JSON.parse(await readFile(join(folder, decommissionListName), "utf8"));
  assert.equal(onDisk, { version: 1, datanodes: ["dn-a", "dn-b", "dn-c"] });
  const again = await DecommissionList.load(folder);
  assert.equal(again.ids, ["dn-a", "dn-b", "dn-c"]);
});

test("a list that does not read as one is refused, naming the file and the problem", async () => {
  const folder = await harness.folder();
  const path = join(folder, decommissionListName);
  const cases: [string, RegExp][] = [
    ['{"version": 1, "datanodes": ["dn-a"', /JSON|Unexpected|Expected/],
    ['{"version": 2, "datanodes": []}', /version 2, not 1/],
    ['{"version": 1, "datanodes": [1]}', /"datanodes" is not a list of ids/],
    ["null", /version undefined, not 1/],
  ];
  for (const [text, problem] of cases) {
    await writeFile(path, text);
    const error = await rejection(DecommissionList.load(folder));
    assert.match(error.message, path, text);
    assert.match(error.message, problem, text);
  }
});

test("a write that fails leaves the DataNode off the list, and the next add still works", async () => {
  const folder = await harness.folder();
  const list = await DecommissionList.load(folder);
  // A folder where the temp file goes: the write cannot open it.
  const blocker = join(folder, `${decommissionListName}.tmp`);
  await mkdir(blocker);
  const error = await rejection(list.add("dn-a"));
  assert.match(error.message, /EISDIR/);
  assert.not.ok(list.has("dn-a"));
  await rm(blocker, { recursive: true });
  await list.add("dn-b");
  assert.equal((await DecommissionList.load(folder)).ids, ["dn-b"]);
});

test("a NameNode does not start on a damaged list, and leaves its folder free for the next try", async () => {
  const folder = await harness.folder();
  const path = join(folder, decommissionListName);
  await writeFile(path, "not json");
  const error = await rejection(harness.start(folder));
  assert.match(error.message, path);
  await writeFile(path, '{"version": 1, "datanodes": ["dn-a"]}\n');
  const namenode = await harness.start(folder);
  assert.ok(namenode, "started once the list reads");
});

test.run();
