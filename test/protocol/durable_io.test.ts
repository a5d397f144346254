import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { replaceFileDurably } from "../../protocol/mod.js";

const folders: string[] = [];

test.after(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

async function newFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-durable-"));
  folders.push(folder);
  return folder;
}

test("a file is replaced whole, from a string or from parts in order", async () => {
  const folder = await newFolder();
  const path = join(folder, "list.json");
  await writeFile(path, "old");
  await replaceFileDurably(path, "new text\n");
  assert.is(await readFile(path, "utf8"), "new text\n");
  const parts = [
    Buffer.from("head:"),
    Buffer.alloc(0),
    Buffer.from("a".repeat(70_000)),
    Buffer.from(":tail"),
  ];
  await replaceFileDurably(path, parts);
  assert.ok((await readFile(path)).equals(Buffer.concat(parts)));
  assert.equal(await readdir(folder), ["list.json"], "no temp file is left");
});

test("a replace that fails keeps the old file, leaves no temp file and says why", async () => {
  const folder = await newFolder();
  // A directory with something in it where the file goes: the rename over it fails.
  const path = join(folder, "taken");
  await mkdir(path);
  await writeFile(join(path, "inside"), "kept");
  let failure: Error | undefined;
  await replaceFileDurably(path, [Buffer.from("new")]).catch((error: Error) => {
    failure = error;
  });
  assert.match(failure?.message ?? "", /EISDIR|ENOTEMPTY|EEXIST/);
  assert.equal(await readdir(folder), ["taken"], "no temp file is left");
  assert.is(await readFile(join(path, "inside"), "utf8"), "kept");
});

test.run();
