import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadNewestImage } from "../../namenode/checkpoint.js";
import { Namespace, type NamespaceOp } from "../../namenode/namespace.js";
import { NamespaceStore } from "../../namenode/namespace_store.js";
import { createLogger } from "../../protocol/mod.js";

const folders: string[] = [];

test.after(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

// Long names: the image spans several of the writer's 1 MiB blocks, each hashed as it fills.
const mkdir = (index: number): NamespaceOp => ({
  op: "mkdir",
  path: `/d${index % 50}/e${index}-${"n".repeat(100)}`,
  parents: true,
  mtimeMs: 1_000 + index,
});

test("a checkpoint holds the namespace as of its start while changes go on during it", async () => {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-store-"));
  folders.push(folder);
  const store = await NamespaceStore.open(folder, {
    logger: createLogger({ name: "namenode", level: "silent" }),
    checkpointEveryRecords: 1_000_000,
  });
  // Which changes land while the checkpoint's image is being encoded (the point of this test).
  let imaging = false;
  let duringImage = 0;
  const namespace = store.namespace;
  const imageInSlices = namespace.imageInSlices.bind(namespace);
  namespace.imageInSlices = async (...args) => {
    imaging = true;
    try {
      return await imageInSlices(...args);
    } finally {
      imaging = false;
    }
  };
  const ops: NamespaceOp[] = [];
  const commit = (op: NamespaceOp): Promise<void> => {
    ops.push(op);
    if (imaging) duringImage++;
    return store.commit(op).durable;
  };
  // Enough records for the image to take many slices.
  await Promise.all(Array.from({ length: 20_000 }, (_, index) => commit(mkdir(index))));
  const before = ops.length;
  let done = false;
  const checkpoint = store.checkpoint().finally(() => {
    done = true;
  });
  // Changes between the image's slices, each in a turn of its own, until it is written.
  const during: Promise<void>[] = [];
  while (!done) {
    during.push(commit(mkdir(ops.length)));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await checkpoint;
  await Promise.all(during);
  assert.ok(duringImage > 0, `${duringImage} changes while the image was encoded`);

  // Loading checks the image's length and hash, written from the parts it came in.
  const loaded = await loadNewestImage(join(folder, "current"));
  assert.is(loaded?.txid, BigInt(before), "the image's txid is that of its start");
  assert.ok(loaded!.image.byteLength > 2 * 1024 * 1024, `${loaded!.image.byteLength} bytes`);
  const expected = new Namespace();
  for (const op of ops.slice(0, before)) expected.apply(op);
  assert.ok(
    Buffer.from(loaded!.image).equals(Buffer.from(expected.toImage())),
    "the image holds exactly the changes made before the checkpoint began",
  );
  await store.close();

  // After a restart (close wrote one more image), every change is there.
  const again = await NamespaceStore.open(folder, {
    logger: createLogger({ name: "namenode", level: "silent" }),
  });
  const all = new Namespace();
  for (const op of ops) all.apply(op);
  assert.ok(Buffer.from(again.namespace.toImage()).equals(Buffer.from(all.toImage())));
  await again.close();
});

test.run();
