import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type ChunkRecord,
  decodeOp,
  encodeOp,
  Namespace,
  type NamespaceOp,
  type OpResult,
} from "../../namenode/namespace.js";
import { xxh64 } from "../../protocol/checksum.js";
import { BigFsError, type ErrorCodeName } from "../../protocol/errors.js";
import { cbor } from "../../protocol/frame.js";

// ----- helpers -------------------------------------------------------------------------

/** Applies `op`, expects a BigFsError with `code`, and checks that nothing changed. */
function refused(namespace: Namespace, op: NamespaceOp, code: ErrorCodeName, message?: RegExp) {
  const before = namespace.toImage();
  const counts = [namespace.fileCount, namespace.directoryCount, namespace.chunkCount];
  try {
    namespace.apply(op);
  } catch (error) {
    if (!(error instanceof BigFsError)) throw error;
    assert.is(error.code, code, `${op.op}: ${error.message}`);
    if (message) assert.match(error.message, message);
    assert.equal(namespace.toImage(), before, `${op.op} refused with ${code} changed the image`);
    assert.equal([namespace.fileCount, namespace.directoryCount, namespace.chunkCount], counts);
    return error;
  }
  assert.unreachable(`${op.op} ${JSON.stringify(op, bigintJson)} should fail with ${code}`);
}

function bigintJson(_key: string, value: unknown) {
  return typeof value === "bigint" ? `${value}n` : value;
}

function queryCode(query: () => unknown): ErrorCodeName {
  try {
    query();
  } catch (error) {
    if (error instanceof BigFsError) return error.code;
    throw error;
  }
  return assert.unreachable("query should have thrown") as never;
}

const mkdir = (path: string, parents = false, mtimeMs = 1): NamespaceOp => ({
  op: "mkdir",
  path,
  parents,
  mtimeMs,
});

/** Builds ops with fresh ids, like the NameNode does. */
class Writer {
  constructor(readonly namespace: Namespace) {}

  create(path: string, options: { overwrite?: boolean; client?: string; mtimeMs?: number } = {}) {
    const fileId = this.namespace.highestFileId + 1n;
    this.namespace.apply({
      op: "create",
      path,
      fileId,
      clientName: options.client ?? "client-1",
      replication: 3,
      chunkSizeBytes: 1000,
      overwrite: options.overwrite ?? false,
      mtimeMs: options.mtimeMs ?? 5,
    });
    return fileId;
  }

  addChunk(
    fileId: bigint,
    replaces = 0n,
  ): { chunkId: bigint; generation: bigint; result: OpResult } {
    const chunkId = this.namespace.highestChunkId + 1n;
    const generation = this.namespace.highestGeneration + 1n;
    const result = this.namespace.apply({ op: "addChunk", fileId, chunkId, generation, replaces });
    return { chunkId, generation, result };
  }

  commit(fileId: bigint, chunkId: bigint, generation: bigint, size: number) {
    return this.namespace.apply({
      op: "commitChunk",
      fileId,
      chunkId,
      generation,
      size,
      xxh64: BigInt(size) * 7n,
    });
  }

  /** Writes a whole file of `sizes` chunks and completes it. */
  write(path: string, sizes: number[], options: { overwrite?: boolean; mtimeMs?: number } = {}) {
    const fileId = this.create(path, options);
    for (const size of sizes) {
      const { chunkId, generation } = this.addChunk(fileId);
      this.commit(fileId, chunkId, generation, size);
    }
    return this.namespace.apply({ op: "complete", fileId, mtimeMs: options.mtimeMs ?? 9 });
  }
}

function setup() {
  const namespace = new Namespace();
  return { namespace, writer: new Writer(namespace) };
}

const ids = (chunks: readonly ChunkRecord[]) => chunks.map((chunk) => chunk.id);
const names = (namespace: Namespace, path: string) =>
  namespace.list(path).map((entry) => entry.name);

// ----- mkdir ---------------------------------------------------------------------------

test("mkdir makes a directory and sets its parent's mtime", () => {
  const { namespace } = setup();
  namespace.apply(mkdir("/a", false, 10));
  namespace.apply(mkdir("/a/b", false, 20));
  assert.equal(namespace.list("/"), [
    { name: "a", type: "directory", size: 0, replication: 0, chunkSizeBytes: 0, mtimeMs: 20 },
  ]);
  assert.is(namespace.stat("/a/b").entry.mtimeMs, 20);
  assert.is(namespace.directoryCount, 3);
});

test("mkdir -p makes every missing parent and is a no-op on an existing directory", () => {
  const { namespace } = setup();
  namespace.apply(mkdir("/a/b/c", true, 7));
  assert.equal(names(namespace, "/a/b"), ["c"]);
  assert.is(namespace.directoryCount, 4);
  const image = namespace.toImage();
  namespace.apply(mkdir("/a/b/c", true, 99));
  namespace.apply(mkdir("/", true, 99));
  assert.equal(namespace.toImage(), image);
});

test("mkdir errors: EXISTS, NOT_FOUND, NOT_A_DIRECTORY, INVALID_PATH, INVALID_ARGUMENT", () => {
  const { namespace, writer } = setup();
  namespace.apply(mkdir("/a"));
  writer.write("/a/f", [10]);
  refused(namespace, mkdir("/a"), "EXISTS", /Cannot create directory \/a: the directory exists/);
  refused(namespace, mkdir("/"), "EXISTS");
  refused(namespace, mkdir("/a/f"), "EXISTS", /a file exists there/);
  refused(namespace, mkdir("/a/f", true), "EXISTS");
  refused(namespace, mkdir("/x/y"), "NOT_FOUND", /\/x does not exist/);
  refused(namespace, mkdir("/a/f/g", true), "NOT_A_DIRECTORY", /\/a\/f is a file/);
  refused(namespace, mkdir("/a/../b"), "INVALID_PATH");
  refused(namespace, mkdir("relative"), "INVALID_PATH");
  refused(namespace, mkdir("/b", false, -1), "INVALID_ARGUMENT");
  refused(namespace, mkdir("/b", false, 1.5), "INVALID_ARGUMENT");
});

// ----- create, addChunk, commitChunk, complete ------------------------------------------

test("a file under construction is invisible until complete, then appears atomically", () => {
  const { namespace, writer } = setup();
  namespace.apply(mkdir("/d"));
  const fileId = writer.create("/d/f", { client: "alice" });
  const { chunkId: first, generation: g1 } = writer.addChunk(fileId);
  writer.commit(fileId, first, g1, 1000);
  const { chunkId: second, generation: g2 } = writer.addChunk(fileId);
  writer.commit(fileId, second, g2, 234);

  assert.equal(namespace.list("/d"), []);
  assert.is(
    queryCode(() => namespace.stat("/d/f")),
    "NOT_FOUND",
  );
  assert.is(
    queryCode(() => namespace.chunksOf("/d/f")),
    "NOT_FOUND",
  );
  assert.equal(namespace.contentSummary("/"), {
    files: 0,
    directories: 2,
    bytes: 0,
    spaceConsumedBytes: 0,
  });
  assert.equal([...namespace.walkFiles("/")], []);
  assert.is(namespace.fileCount, 0);
  assert.is(namespace.chunkCount, 2);
  assert.is(namespace.underConstructionCount, 1);
  const pending = namespace.file(fileId);
  assert.equal(pending && { ...pending, chunks: ids(pending.chunks) }, {
    fileId,
    path: "/d/f",
    clientName: "alice",
    replication: 3,
    chunkSizeBytes: 1000,
    overwrite: false,
    chunks: [first, second],
  });
  assert.equal(
    [...namespace.underConstruction()].map((file) => [file.fileId, file.path, file.clientName]),
    [[fileId, "/d/f", "alice"]],
  );

  const result = namespace.apply({ op: "complete", fileId, mtimeMs: 42 });
  assert.equal(result, { freedChunks: [], abandonedFiles: [] });
  assert.equal(namespace.list("/d"), [
    { name: "f", type: "file", size: 1234, replication: 3, chunkSizeBytes: 1000, mtimeMs: 42 },
  ]);
  assert.is(namespace.stat("/d").entry.mtimeMs, 42, "the parent's mtime is the complete time");
  const { entry, chunks } = namespace.stat("/d/f");
  assert.is(entry.size, 1234);
  assert.equal(chunks, [
    { id: first, generation: g1, size: 1000, xxh64: 7000n, committed: true },
    { id: second, generation: g2, size: 234, xxh64: 1638n, committed: true },
  ]);
  assert.is(namespace.file(fileId), undefined);
  assert.equal([...namespace.underConstruction()], []);
  assert.is(namespace.fileCount, 1);
  assert.is(namespace.chunkCount, 2);
});

test("an empty file completes with no chunks", () => {
  const { namespace, writer } = setup();
  writer.write("/empty", []);
  assert.equal(namespace.stat("/empty"), {
    entry: {
      name: "empty",
      type: "file",
      size: 0,
      replication: 3,
      chunkSizeBytes: 1000,
      mtimeMs: 9,
    },
    chunks: [],
  });
});

test("create makes missing parent directories, as HDFS create does", () => {
  const { namespace, writer } = setup();
  writer.create("/x/y/z", { mtimeMs: 77 });
  assert.equal(names(namespace, "/x"), ["y"]);
  assert.equal(namespace.list("/x/y"), []);
  assert.is(namespace.stat("/x/y").entry.mtimeMs, 77);
  assert.is(namespace.directoryCount, 3);
});

test("create errors: EXISTS, IS_A_DIRECTORY, LEASE_CONFLICT, NOT_A_DIRECTORY, INVALID_*", () => {
  const { namespace, writer } = setup();
  writer.write("/f", [1]);
  namespace.apply(mkdir("/d"));
  const fileId = writer.create("/pending", { client: "alice" });
  const create = (fields: Partial<Extract<NamespaceOp, { op: "create" }>>): NamespaceOp => ({
    op: "create",
    path: "/new",
    fileId: namespace.highestFileId + 1n,
    clientName: "bob",
    replication: 2,
    chunkSizeBytes: 100,
    overwrite: false,
    mtimeMs: 1,
    ...fields,
  });
  refused(namespace, create({ path: "/f" }), "EXISTS", /Cannot create \/f: a file exists there/);
  refused(namespace, create({ path: "/d" }), "IS_A_DIRECTORY");
  refused(namespace, create({ path: "/d", overwrite: true }), "IS_A_DIRECTORY");
  refused(namespace, create({ path: "/" }), "IS_A_DIRECTORY");
  refused(
    namespace,
    create({ path: "/pending" }),
    "LEASE_CONFLICT",
    new RegExp(`file ${fileId} is being written there by client alice`),
  );
  refused(namespace, create({ path: "/pending", clientName: "alice" }), "LEASE_CONFLICT");
  refused(namespace, create({ path: "/pending", overwrite: true }), "LEASE_CONFLICT");
  refused(namespace, create({ path: "/f/g" }), "NOT_A_DIRECTORY");
  refused(namespace, create({ path: "/f/g/h" }), "NOT_A_DIRECTORY");
  refused(namespace, create({ path: "/a\u0000" }), "INVALID_PATH");
  refused(namespace, create({ fileId }), "INVALID_ARGUMENT", /not above the highest file id/);
  refused(namespace, create({ fileId: 0n }), "INVALID_ARGUMENT");
  refused(namespace, create({ replication: 0 }), "INVALID_ARGUMENT");
  refused(namespace, create({ replication: 65 }), "INVALID_ARGUMENT");
  refused(namespace, create({ chunkSizeBytes: 0 }), "INVALID_ARGUMENT");
  refused(namespace, create({ clientName: "" }), "INVALID_ARGUMENT");
  refused(namespace, create({ path: "/x/y", chunkSizeBytes: -5 }), "INVALID_ARGUMENT");
  assert.equal(names(namespace, "/"), ["d", "f"], "no parent made by a refused create");
});

test("addChunk and commitChunk errors: NOT_FOUND, INVALID_ARGUMENT, STALE_GENERATION", () => {
  const { namespace, writer } = setup();
  const fileId = writer.create("/f");
  const { chunkId, generation } = writer.addChunk(fileId);
  const next = namespace.highestChunkId + 1n;
  refused(
    namespace,
    { op: "addChunk", fileId: 99n, chunkId: next, generation: 1n, replaces: 0n },
    "NOT_FOUND",
  );
  refused(
    namespace,
    { op: "addChunk", fileId, chunkId, generation: 1n, replaces: 0n },
    "INVALID_ARGUMENT",
  );
  refused(
    namespace,
    { op: "addChunk", fileId, chunkId: next, generation: 0n, replaces: 0n },
    "INVALID_ARGUMENT",
  );
  const commit = (fields: Partial<Extract<NamespaceOp, { op: "commitChunk" }>>): NamespaceOp => ({
    op: "commitChunk",
    fileId,
    chunkId,
    generation,
    size: 10,
    xxh64: 5n,
    ...fields,
  });
  refused(namespace, commit({ fileId: 99n }), "NOT_FOUND", /no file 99 is under construction/);
  refused(namespace, commit({ chunkId: 12345n }), "NOT_FOUND", /no such chunk/);
  refused(namespace, commit({ generation: generation + 1n }), "STALE_GENERATION");
  refused(namespace, commit({ size: 1001 }), "INVALID_ARGUMENT", /over the file's chunk size/);
  refused(namespace, commit({ xxh64: 1n << 64n }), "INVALID_ARGUMENT");
  namespace.apply(commit({}));
  namespace.apply(commit({}));
  refused(namespace, commit({ size: 11 }), "INVALID_ARGUMENT", /already committed/);
});

test("several chunks may be uncommitted at once, and a failed one is replaced in place", () => {
  const { namespace, writer } = setup();
  const fileId = writer.create("/f");
  const first = writer.addChunk(fileId);
  const failed = writer.addChunk(fileId);
  const third = writer.addChunk(fileId);
  assert.equal(failed.result, { freedChunks: [], abandonedFiles: [] });
  writer.commit(fileId, third.chunkId, third.generation, 10);
  const retry = writer.addChunk(fileId, failed.chunkId);
  assert.equal(ids(retry.result.freedChunks), [failed.chunkId]);
  assert.equal(ids(namespace.file(fileId)?.chunks ?? []), [
    first.chunkId,
    retry.chunkId,
    third.chunkId,
  ]);
  assert.is(namespace.chunkCount, 3);
  refused(
    namespace,
    {
      op: "commitChunk",
      fileId,
      chunkId: failed.chunkId,
      generation: failed.generation,
      size: 1,
      xxh64: 1n,
    },
    "NOT_FOUND",
  );
  const next = namespace.highestChunkId + 1n;
  refused(
    namespace,
    { op: "addChunk", fileId, chunkId: next, generation: 9n, replaces: third.chunkId },
    "INVALID_ARGUMENT",
  );
  refused(
    namespace,
    { op: "addChunk", fileId, chunkId: next, generation: 9n, replaces: 12345n },
    "NOT_FOUND",
  );
});

test("complete errors: NOT_FOUND, INVALID_ARGUMENT for an uncommitted chunk", () => {
  const { namespace, writer } = setup();
  const fileId = writer.create("/f");
  const { chunkId } = writer.addChunk(fileId);
  refused(
    namespace,
    { op: "complete", fileId, mtimeMs: 1 },
    "INVALID_ARGUMENT",
    new RegExp(`Cannot complete /f \\(file ${fileId}\\): chunk ${chunkId} is not committed`),
  );
  refused(namespace, { op: "complete", fileId: 77n, mtimeMs: 1 }, "NOT_FOUND");
});

test("complete with overwrite replaces the old file atomically and returns its chunks", () => {
  const { namespace, writer } = setup();
  writer.write("/f", [1000, 5]);
  const oldChunks = namespace.chunksOf("/f");
  const fileId = writer.create("/f", { overwrite: true });
  const { chunkId, generation } = writer.addChunk(fileId);
  writer.commit(fileId, chunkId, generation, 77);
  assert.is(namespace.stat("/f").entry.size, 1005, "the old file stays readable meanwhile");
  const result = namespace.apply({ op: "complete", fileId, mtimeMs: 50 });
  assert.equal(result.freedChunks, oldChunks);
  assert.equal(ids(namespace.chunksOf("/f")), [chunkId]);
  assert.is(namespace.stat("/f").entry.size, 77);
  assert.is(namespace.fileCount, 1);
  assert.is(namespace.chunkCount, 1);
});

test("complete re-checks its path: IS_A_DIRECTORY, EXISTS, NOT_FOUND after a delete", () => {
  const { namespace, writer } = setup();
  const toDirectory = writer.create("/d");
  namespace.apply(mkdir("/d"));
  refused(namespace, { op: "complete", fileId: toDirectory, mtimeMs: 1 }, "IS_A_DIRECTORY");

  const noOverwrite = writer.create("/g");
  writer.write("/other", [3]);
  namespace.apply({ op: "rename", source: "/other", destination: "/g", mtimeMs: 2 });
  refused(namespace, { op: "complete", fileId: noOverwrite, mtimeMs: 3 }, "EXISTS");

  const overwrite = writer.create("/h", { overwrite: true });
  writer.write("/other", [4]);
  namespace.apply({ op: "rename", source: "/other", destination: "/h", mtimeMs: 2 });
  const result = namespace.apply({ op: "complete", fileId: overwrite, mtimeMs: 3 });
  assert.is(result.freedChunks.length, 1);

  const orphan = writer.create("/p/q/r");
  namespace.apply({ op: "delete", path: "/p", recursive: true, mtimeMs: 4 });
  refused(namespace, { op: "complete", fileId: orphan, mtimeMs: 5 }, "NOT_FOUND");
});

test("abandon drops a file under construction and returns its chunks", () => {
  const { namespace, writer } = setup();
  const fileId = writer.create("/a/f", { client: "carol" });
  const one = writer.addChunk(fileId);
  writer.commit(fileId, one.chunkId, one.generation, 10);
  const two = writer.addChunk(fileId);
  const result = namespace.apply({ op: "abandon", fileId });
  assert.equal(ids(result.freedChunks), [one.chunkId, two.chunkId]);
  assert.equal(result.abandonedFiles, [{ fileId, path: "/a/f", clientName: "carol" }]);
  assert.is(namespace.underConstructionCount, 0);
  assert.is(namespace.chunkCount, 0);
  refused(namespace, { op: "abandon", fileId }, "NOT_FOUND");
  writer.create("/a/f", { client: "dave" });
});

// ----- delete --------------------------------------------------------------------------

test("delete removes a file and returns its chunks", () => {
  const { namespace, writer } = setup();
  writer.write("/f", [1000, 1]);
  const chunks = namespace.chunksOf("/f");
  const result = namespace.apply({ op: "delete", path: "/f", recursive: false, mtimeMs: 30 });
  assert.equal(result, { freedChunks: chunks, abandonedFiles: [] });
  assert.equal(namespace.list("/"), []);
  assert.is(namespace.stat("/").entry.mtimeMs, 30);
  assert.equal([namespace.fileCount, namespace.chunkCount], [0, 0]);
});

test("delete errors: NOT_EMPTY, NOT_FOUND, NOT_A_DIRECTORY, INVALID_ARGUMENT for /", () => {
  const { namespace, writer } = setup();
  namespace.apply(mkdir("/d/e", true));
  writer.write("/f", [1]);
  namespace.apply(mkdir("/only-pending"));
  writer.create("/only-pending/p");
  const del = (path: string, recursive = false): NamespaceOp => ({
    op: "delete",
    path,
    recursive,
    mtimeMs: 1,
  });
  refused(namespace, del("/d"), "NOT_EMPTY", /Cannot delete \/d: the directory is not empty/);
  refused(namespace, del("/only-pending"), "NOT_EMPTY", /being written/);
  refused(namespace, del("/nope"), "NOT_FOUND");
  refused(namespace, del("/nope/deeper", true), "NOT_FOUND");
  refused(namespace, del("/only-pending/p"), "NOT_FOUND", /no such file/);
  refused(namespace, del("/f/x"), "NOT_A_DIRECTORY");
  refused(namespace, del("/", true), "INVALID_ARGUMENT", /root directory cannot be deleted/);
  refused(namespace, del("/.."), "INVALID_PATH");
  namespace.apply(del("/d/e"));
  assert.equal(names(namespace, "/d"), []);
});

test("a recursive delete returns every chunk below and abandons files under construction", () => {
  const { namespace, writer } = setup();
  writer.write("/top/a", [1000, 2]);
  writer.write("/top/sub/b", [3]);
  writer.write("/keep", [4]);
  const pendingId = writer.create("/top/sub/deeper/p", { client: "eve" });
  const pendingChunk = writer.addChunk(pendingId).chunkId;
  const expected = [...namespace.chunksOf("/top/a"), ...namespace.chunksOf("/top/sub/b")].map(
    (chunk) => chunk.id,
  );
  const result = namespace.apply({ op: "delete", path: "/top", recursive: true, mtimeMs: 8 });
  assert.equal(ids(result.freedChunks).sort(), [...expected, pendingChunk].sort());
  assert.equal(result.abandonedFiles, [
    { fileId: pendingId, path: "/top/sub/deeper/p", clientName: "eve" },
  ]);
  assert.equal(names(namespace, "/"), ["keep"]);
  assert.equal(
    [
      namespace.fileCount,
      namespace.directoryCount,
      namespace.chunkCount,
      namespace.underConstructionCount,
    ],
    [1, 1, 1, 0],
  );
  assert.is(namespace.file(pendingId), undefined);
});

// ----- rename --------------------------------------------------------------------------

test("rename moves a file and sets both parents' mtimes", () => {
  const { namespace, writer } = setup();
  namespace.apply(mkdir("/a"));
  namespace.apply(mkdir("/b"));
  writer.write("/a/f", [5], { mtimeMs: 3 });
  namespace.apply({ op: "rename", source: "/a/f", destination: "/b/g", mtimeMs: 60 });
  assert.equal(names(namespace, "/a"), []);
  assert.equal(namespace.stat("/b/g").entry, {
    name: "g",
    type: "file",
    size: 5,
    replication: 3,
    chunkSizeBytes: 1000,
    mtimeMs: 3,
  });
  assert.is(namespace.stat("/a").entry.mtimeMs, 60);
  assert.is(namespace.stat("/b").entry.mtimeMs, 60);
});

test("renaming a directory carries its files under construction along", () => {
  const { namespace, writer } = setup();
  writer.write("/src/done", [1]);
  const fileId = writer.create("/src/inner/writing");
  namespace.apply({ op: "rename", source: "/src", destination: "/dst", mtimeMs: 2 });
  assert.is(namespace.file(fileId)?.path, "/dst/inner/writing");
  assert.is(namespace.stat("/dst/done").entry.size, 1);
  namespace.apply({ op: "complete", fileId, mtimeMs: 3 });
  assert.equal(names(namespace, "/dst/inner"), ["writing"]);
  assert.is(
    queryCode(() => namespace.list("/src")),
    "NOT_FOUND",
  );
});

test("renaming a complete file leaves a file under construction at the old path", () => {
  const { namespace, writer } = setup();
  writer.write("/f", [1]);
  const fileId = writer.create("/f", { overwrite: true });
  namespace.apply({ op: "rename", source: "/f", destination: "/g", mtimeMs: 2 });
  assert.is(namespace.file(fileId)?.path, "/f");
  const result = namespace.apply({ op: "complete", fileId, mtimeMs: 3 });
  assert.equal(result.freedChunks, [], "nothing was at /f to replace");
  assert.equal(names(namespace, "/"), ["f", "g"]);
});

test("rename onto itself succeeds and changes nothing", () => {
  const { namespace, writer } = setup();
  writer.write("/f", [1]);
  namespace.apply(mkdir("/d"));
  const image = namespace.toImage();
  namespace.apply({ op: "rename", source: "/f", destination: "/f", mtimeMs: 99 });
  namespace.apply({ op: "rename", source: "/d", destination: "/d/", mtimeMs: 99 });
  assert.equal(namespace.toImage(), image);
});

test("rename errors: NOT_FOUND, EXISTS, NOT_A_DIRECTORY, INVALID_ARGUMENT, INVALID_PATH", () => {
  const { namespace, writer } = setup();
  namespace.apply(mkdir("/a/b/c", true));
  writer.write("/f", [1]);
  writer.write("/g", [1]);
  writer.create("/pending");
  const rename = (source: string, destination: string): NamespaceOp => ({
    op: "rename",
    source,
    destination,
    mtimeMs: 1,
  });
  refused(namespace, rename("/nope", "/x"), "NOT_FOUND", /\/nope does not exist/);
  refused(namespace, rename("/pending", "/x"), "NOT_FOUND");
  refused(namespace, rename("/nope/deeper", "/x"), "NOT_FOUND");
  refused(namespace, rename("/f", "/missing/x"), "NOT_FOUND");
  refused(namespace, rename("/f", "/g"), "EXISTS", /Cannot rename \/f to \/g: \/g exists/);
  refused(namespace, rename("/f", "/a"), "EXISTS");
  refused(namespace, rename("/a/b", "/"), "EXISTS");
  refused(namespace, rename("/f", "/g/x"), "NOT_A_DIRECTORY");
  refused(namespace, rename("/f/x", "/y"), "NOT_A_DIRECTORY");
  refused(namespace, rename("/a", "/a/b/c/d"), "INVALID_ARGUMENT", /into itself or below itself/);
  refused(namespace, rename("/a", "/a/x"), "INVALID_ARGUMENT");
  refused(namespace, rename("/", "/x"), "INVALID_ARGUMENT", /root directory cannot be moved/);
  refused(namespace, rename("/f", "/x/../y"), "INVALID_PATH");
  refused(
    namespace,
    { op: "rename", source: "/f", destination: "/h", mtimeMs: -1 },
    "INVALID_ARGUMENT",
  );
  // A sibling whose name starts with the source's name is not inside it.
  namespace.apply(rename("/a", "/ab"));
  assert.equal(names(namespace, "/"), ["ab", "f", "g"]);
});

// ----- setReplication and queries -------------------------------------------------------

test("setReplication changes a file's replication; errors IS_A_DIRECTORY, NOT_FOUND", () => {
  const { namespace, writer } = setup();
  writer.write("/f", [1]);
  namespace.apply(mkdir("/d"));
  namespace.apply({ op: "setReplication", path: "/f", replication: 5 });
  assert.is(namespace.stat("/f").entry.replication, 5);
  const set = (path: string, replication: number): NamespaceOp => ({
    op: "setReplication",
    path,
    replication,
  });
  refused(namespace, set("/d", 2), "IS_A_DIRECTORY");
  refused(namespace, set("/", 2), "IS_A_DIRECTORY");
  refused(namespace, set("/nope", 2), "NOT_FOUND");
  refused(namespace, set("/f", 0), "INVALID_ARGUMENT");
  refused(namespace, set("/f", 1000), "INVALID_ARGUMENT");
  refused(namespace, set("", 2), "INVALID_PATH");
});

test("queries: list sorts by name, a file lists itself, summaries and walks", () => {
  const { namespace, writer } = setup();
  for (const name of ["b", "a", "C", "é"]) writer.write(`/d/${name}`, [10]);
  namespace.apply(mkdir("/d/sub/deep", true));
  writer.write("/d/sub/deep/x", [1000, 500]);
  writer.create("/d/sub/invisible");
  assert.equal(names(namespace, "/d"), ["C", "a", "b", "sub", "é"]);
  assert.equal(namespace.list("/d/a"), [
    { name: "a", type: "file", size: 10, replication: 3, chunkSizeBytes: 1000, mtimeMs: 9 },
  ]);
  assert.is(namespace.stat("/").entry.name, "");
  assert.is(namespace.stat("/").entry.type, "directory");
  assert.equal(namespace.stat("/d").chunks, []);
  // Space consumed counts each file at its own replication (3 unless set).
  namespace.apply({ op: "setReplication", path: "/d/b", replication: 1 });
  assert.equal(namespace.contentSummary("/"), {
    files: 5,
    directories: 4,
    bytes: 1540,
    spaceConsumedBytes: 1540 * 3 - 10 * 2,
  });
  assert.equal(namespace.contentSummary("/d/sub"), {
    files: 1,
    directories: 2,
    bytes: 1500,
    spaceConsumedBytes: 4500,
  });
  assert.equal(namespace.contentSummary("/d/a"), {
    files: 1,
    directories: 0,
    bytes: 10,
    spaceConsumedBytes: 30,
  });
  assert.equal(namespace.contentSummary("/d/b"), {
    files: 1,
    directories: 0,
    bytes: 10,
    spaceConsumedBytes: 10,
  });
  assert.equal(
    [...namespace.walkFiles("/")].map((file) => [file.path, file.entry.size, file.chunks.length]),
    [
      ["/d/C", 10, 1],
      ["/d/a", 10, 1],
      ["/d/b", 10, 1],
      ["/d/é", 10, 1],
      ["/d/sub/deep/x", 1500, 2],
    ],
  );
  assert.equal(
    [...namespace.walkFiles("/d/sub/deep/x")].map((file) => file.path),
    ["/d/sub/deep/x"],
  );
  assert.is(namespace.chunksOf("/d/sub/deep/x").length, 2);
  assert.is(
    queryCode(() => namespace.chunksOf("/d")),
    "IS_A_DIRECTORY",
  );
  assert.is(
    queryCode(() => namespace.list("/nope")),
    "NOT_FOUND",
  );
  assert.is(
    queryCode(() => namespace.list("/d/a/b")),
    "NOT_A_DIRECTORY",
  );
  assert.is(
    queryCode(() => namespace.stat("no-slash")),
    "INVALID_PATH",
  );
  assert.is(
    queryCode(() => namespace.contentSummary("/nope")),
    "NOT_FOUND",
  );
  assert.equal([namespace.fileCount, namespace.directoryCount, namespace.chunkCount], [5, 4, 6]);
});

test("stat returns copies: changing them changes nothing", () => {
  const { namespace, writer } = setup();
  writer.write("/f", [10]);
  const image = namespace.toImage();
  const { entry, chunks } = namespace.stat("/f");
  entry.size = 99;
  (chunks[0] as { size: number }).size = 99;
  assert.equal(namespace.toImage(), image);
});

// ----- encoding ------------------------------------------------------------------------

const sampleOps: NamespaceOp[] = [
  { op: "mkdir", path: "/a/b", parents: true, mtimeMs: 1_700_000_000_000 },
  {
    op: "create",
    path: "/a/b/f",
    fileId: 1n,
    clientName: "c",
    replication: 3,
    chunkSizeBytes: 64 * 1024 * 1024,
    overwrite: false,
    mtimeMs: 2,
  },
  { op: "addChunk", fileId: 1n, chunkId: 2n ** 63n, generation: 7n, replaces: 0n },
  {
    op: "commitChunk",
    fileId: 1n,
    chunkId: 2n ** 63n,
    generation: 7n,
    size: 10,
    xxh64: 2n ** 64n - 1n,
  },
  { op: "complete", fileId: 1n, mtimeMs: 3 },
  { op: "abandon", fileId: 5n },
  { op: "delete", path: "/a", recursive: true, mtimeMs: 4 },
  { op: "rename", source: "/x", destination: "/y", mtimeMs: 5 },
  { op: "setReplication", path: "/y", replication: 2 },
];

test("encodeOp and decodeOp round-trip every op", () => {
  for (const op of sampleOps) assert.equal(decodeOp(encodeOp(op)), op);
  const bytes = encodeOp(sampleOps[0]!);
  encodeOp(sampleOps[1]!);
  assert.equal(decodeOp(bytes), sampleOps[0], "an encoded op does not share a buffer");
});

test("encodeOp refuses unknown fields and wrong types", () => {
  const op = { ...sampleOps[0]!, extra: 1 } as unknown as NamespaceOp;
  assert.throws(() => encodeOp(op), /mkdir has an unknown field extra/);
  assert.throws(
    () => encodeOp({ op: "abandon", fileId: "5" } as unknown as NamespaceOp),
    /abandon\.fileId must be a 64-bit unsigned integer/,
  );
});

test("decodeOp refuses bytes that are not an op, naming what is wrong", () => {
  const cases: [unknown, RegExp][] = [
    [[1, 2], /expected a map, got an array/],
    ["mkdir", /expected a map, got string/],
    [{ op: "format" }, /unknown op "format"/],
    [{ path: "/a" }, /unknown op undefined/],
    [{ op: "mkdir", path: "/a", parents: true }, /mkdir has no field mtimeMs/],
    [
      { op: "mkdir", path: "/a", parents: 1, mtimeMs: 1 },
      /mkdir\.parents must be a boolean, not 1/,
    ],
    [{ op: "mkdir", path: 5, parents: true, mtimeMs: 1 }, /mkdir\.path must be a string/],
    [{ op: "mkdir", path: "/a", parents: true, mtimeMs: -1 }, /mkdir\.mtimeMs must be a uint/],
    [{ op: "mkdir", path: "/a", parents: true, mtimeMs: 1.5 }, /mtimeMs must be a uint/],
    [{ op: "abandon", fileId: -1n }, /abandon\.fileId must be a 64-bit unsigned integer, not -1n/],
    [{ op: "abandon", fileId: "5" }, /abandon\.fileId must be a 64-bit unsigned integer, not "5"/],
    [{ op: "abandon", fileId: 2n ** 64n }, /abandon\.fileId must be a 64-bit/],
    [{ op: "abandon", fileId: 1n, path: "/x" }, /abandon has an unknown field path/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => decodeOp(new Uint8Array(cbor.encode(value))), message);
  }
  assert.throws(() => decodeOp(new Uint8Array([0xa1])), /not valid CBOR/);
  assert.throws(() => decodeOp(new Uint8Array(0)), /not valid CBOR/);
  const trailing = new Uint8Array([...encodeOp(sampleOps[5]!), 0x00]);
  assert.throws(() => decodeOp(trailing), /not valid CBOR/);
  // A small u64 written by another encoder as a plain integer is read as a bigint.
  assert.equal(decodeOp(new Uint8Array(cbor.encode({ op: "abandon", fileId: 5 }))), {
    op: "abandon",
    fileId: 5n,
  });
});

test("decodeOp reads every record the same whether the fast reader takes it or cbor-x does", () => {
  const general = (op: NamespaceOp) => {
    // The same map, with a byte after it: the fast reader passes it on, cbor-x refuses it.
    const bytes = encodeOp(op);
    assert.throws(() => decodeOp(new Uint8Array([...bytes, 0])), /not valid CBOR/);
    return cbor.decode(bytes) as unknown;
  };
  const ops: NamespaceOp[] = [
    ...sampleOps,
    // Lengths and integers at each CBOR width boundary, and a long ASCII path.
    { op: "mkdir", path: `/${"d".repeat(23)}`, parents: false, mtimeMs: 23 },
    { op: "mkdir", path: `/${"d".repeat(300)}`, parents: false, mtimeMs: 24 },
    { op: "setReplication", path: "/y", replication: 255 },
    { op: "setReplication", path: "/y", replication: 65_536 },
    { op: "abandon", fileId: 2n ** 32n },
    { op: "complete", fileId: 1n, mtimeMs: 2 ** 32 },
    { op: "complete", fileId: 1n, mtimeMs: 1_795_782_382_772 },
    // Not ASCII, and a whole float32 number: the general path reads these.
    { op: "rename", source: "/ä", destination: "/日本", mtimeMs: 5 },
    { op: "complete", fileId: 1n, mtimeMs: 2 ** 40 },
  ];
  for (const op of ops) {
    assert.equal(decodeOp(encodeOp(op)), op);
    assert.equal(general(op), op);
  }
  // Keys in another order, or a value of the wrong type, still read (or fail) as before.
  const reordered = new Uint8Array(cbor.encode({ fileId: 5n, op: "abandon" }));
  assert.equal(decodeOp(reordered), { op: "abandon", fileId: 5n });
  const float = new Uint8Array(cbor.encode({ op: "complete", fileId: 1n, mtimeMs: 1.5 }));
  assert.throws(() => decodeOp(float), /complete\.mtimeMs must be a uint/);
});

// ----- image ---------------------------------------------------------------------------

function richNamespace(): Namespace {
  const { namespace, writer } = setup();
  namespace.apply(mkdir("/a/b/c", true, 4));
  writer.write("/a/f", [1000, 1000, 3]);
  writer.write("/a/b/g", []);
  writer.write("/z", [7]);
  const pending = writer.create("/a/b/c/p", { client: "w", overwrite: true });
  const chunk = writer.addChunk(pending);
  writer.commit(pending, chunk.chunkId, chunk.generation, 9);
  writer.addChunk(pending);
  writer.create("/a/f", { overwrite: true, client: "v" });
  return namespace;
}

test("fromImage(toImage()) gives the same namespace, ids and counters", () => {
  const namespace = richNamespace();
  const image = namespace.toImage();
  const copy = Namespace.fromImage(image);
  assert.equal(copy.toImage(), image);
  for (const key of [
    "highestFileId",
    "highestChunkId",
    "highestGeneration",
    "fileCount",
    "directoryCount",
    "chunkCount",
    "underConstructionCount",
  ] as const) {
    assert.is(copy[key], namespace[key], key);
  }
  assert.equal([...copy.underConstruction()], [...namespace.underConstruction()]);
  assert.equal([...copy.walkFiles("/")], [...namespace.walkFiles("/")]);
  assert.equal(copy.list("/a"), namespace.list("/a"));
  assert.equal(Namespace.fromImage(new Namespace().toImage()).toImage(), new Namespace().toImage());
});

test("fromImage refuses truncated, corrupt or foreign bytes with a clear error", () => {
  const image = richNamespace().toImage();
  assert.throws(
    () => Namespace.fromImage(image.subarray(0, image.length - 3)),
    /Cannot load namespace image/,
  );
  assert.throws(() => Namespace.fromImage(new Uint8Array(0)), /Cannot load namespace image/);
  assert.throws(
    () => Namespace.fromImage(new Uint8Array(cbor.encode({ format: "other" }))),
    /does not start with a bigfs-namespace-image header/,
  );
  const items = cbor.decodeMultiple(image) as unknown[];
  const rewrite = (edit: (items: unknown[]) => void) => {
    const copy = structuredClone(items);
    edit(copy);
    return Buffer.concat(copy.map((item) => Buffer.from(cbor.encode(item))));
  };
  assert.equal(Namespace.fromImage(rewrite(() => {})).toImage(), image);
  assert.throws(
    () => Namespace.fromImage(rewrite((copy) => ((copy[0] as { version: number }).version = 2))),
    /version 2 is not 1/,
  );
  assert.throws(
    () => Namespace.fromImage(rewrite((copy) => copy.pop())),
    /the header counts \d+ records, the image has/,
  );
  // The first directory record after the root.
  const at = items.findIndex((item, index) => index > 1 && Array.isArray(item) && item[0] === 0);
  assert.throws(
    () => Namespace.fromImage(rewrite((copy) => ((copy[at] as unknown[])[1] = 5))),
    new RegExp(`record ${at} .*parentIndex 5 is not an earlier directory`),
  );
  assert.throws(
    () => Namespace.fromImage(rewrite((copy) => ((copy[at] as unknown[])[2] = ".."))),
    new RegExp(`record ${at} .*name "\\.\\." is not allowed`),
  );
  const fileRecord = items.findIndex((item) => Array.isArray(item) && item[0] === 1);
  assert.throws(
    () => Namespace.fromImage(rewrite((copy) => ((copy[fileRecord] as unknown[])[3] = 0))),
    /replication out of range/,
  );
  assert.throws(
    () =>
      Namespace.fromImage(
        rewrite((copy) => {
          const chunks = (copy[fileRecord] as unknown[])[6] as unknown[];
          chunks[0] = 10n ** 9n;
        }),
      ),
    /id is not a 64-bit integer/,
  );
  // Two files naming one chunk.
  const otherFile = items.findIndex(
    (item, index) => index > fileRecord && Array.isArray(item) && item[0] === 1,
  );
  assert.throws(
    () =>
      Namespace.fromImage(
        rewrite((copy) => {
          const first = (copy[fileRecord] as unknown[])[6] as unknown[];
          const other = (copy[otherFile] as unknown[])[6] as unknown[];
          other[0] = first[0];
        }),
      ),
    /chunk id \d+ appears twice/,
  );
});

// ----- replay --------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failure is reproducible. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T | undefined => items[int(items.length)];
  return { next, int, pick };
}

/** A random op against `namespace`: mostly plausible, sometimes wrong, often colliding. */
function randomOp(
  namespace: Namespace,
  random: ReturnType<typeof prng>,
  clock: number,
): NamespaceOp {
  // Directories are mostly named a, b, c and files f, g: collisions are frequent, not constant.
  const directory = () => {
    const depth = random.int(3);
    return Array.from({ length: depth }, () => `/${random.pick(["a", "b", "c"])}`).join("");
  };
  const filePath = () => `${directory()}/${random.pick(["f", "g"])}`;
  const path = () =>
    random.next() < 0.5 ? filePath() : `${directory()}/${random.pick(["a", "b", "c"])}`;
  const pending = [...namespace.underConstruction()];
  const someFile = () => random.pick(pending)?.fileId ?? BigInt(random.int(5) + 1);
  const freshFileId = () =>
    random.next() < 0.05 ? namespace.highestFileId : namespace.highestFileId + 1n;
  const freshChunkId = () =>
    random.next() < 0.05 ? namespace.highestChunkId : namespace.highestChunkId + 1n;
  const roll = random.int(16);
  if (roll < 2) return { op: "mkdir", path: path(), parents: random.next() < 0.7, mtimeMs: clock };
  if (roll < 5) {
    return {
      op: "create",
      // Sometimes a path being written, to meet LEASE_CONFLICT.
      path: (random.next() < 0.1 && random.pick(pending)?.path) || filePath(),
      fileId: freshFileId(),
      clientName: random.pick(["alice", "bob"])!,
      replication: random.next() < 0.05 ? 0 : 1 + random.int(3),
      chunkSizeBytes: 100,
      overwrite: random.next() < 0.5,
      mtimeMs: clock,
    };
  }
  if (roll < 7) {
    return {
      op: "addChunk",
      fileId: someFile(),
      chunkId: freshChunkId(),
      generation: BigInt(1 + random.int(3)) + namespace.highestGeneration,
      replaces: 0n,
    };
  }
  if (roll < 10) {
    const file = random.pick(pending);
    const uncommitted = file?.chunks.filter((chunk) => !chunk.committed) ?? [];
    const chunk = random.pick(uncommitted.length > 0 ? uncommitted : (file?.chunks ?? []));
    return {
      op: "commitChunk",
      fileId: file?.fileId ?? 1n,
      chunkId: chunk?.id ?? 1n,
      generation: (chunk?.generation ?? 1n) + (random.next() < 0.03 ? 1n : 0n),
      size: random.int(105),
      xxh64: BigInt(random.int(1000)),
    };
  }
  if (roll < 12) return { op: "complete", fileId: someFile(), mtimeMs: clock };
  if (roll < 13) {
    return random.next() < 0.3
      ? { op: "abandon", fileId: someFile() }
      : { op: "setReplication", path: path(), replication: random.int(5) };
  }
  if (roll < 14) {
    return { op: "delete", path: path(), recursive: random.next() < 0.3, mtimeMs: clock };
  }
  return { op: "rename", source: path(), destination: path(), mtimeMs: clock };
}

/** Sometimes a chunk replaced (which `randomOp` never asks), else `randomOp`. */
function randomOpWithReplace(
  namespace: Namespace,
  random: ReturnType<typeof prng>,
  clock: number,
): NamespaceOp {
  const pending = [...namespace.underConstruction()];
  const file = random.pick(pending);
  const replaceable = random.pick(file?.chunks.filter((chunk) => !chunk.committed) ?? []);
  if (file && replaceable && random.next() < 0.15) {
    return {
      op: "addChunk",
      fileId: file.fileId,
      chunkId: namespace.highestChunkId + 1n,
      generation: namespace.highestGeneration + 1n,
      replaces: replaceable.id,
    };
  }
  return randomOp(namespace, random, clock);
}

test("an image written in slices while random ops go on is the image of when it began", async () => {
  const appliedDuring = new Map<string, number>();
  for (let seed = 1; seed <= 60; seed++) {
    const random = prng(seed * 7919);
    const namespace = new Namespace();
    let clock = 1_000;
    const tryApply = (op: NamespaceOp): boolean => {
      try {
        namespace.apply(op);
        return true;
      } catch (error) {
        if (!(error instanceof BigFsError)) throw error;
        return false;
      }
    };
    for (let step = 0; step < 200; step++) {
      tryApply(randomOpWithReplace(namespace, random, clock++));
    }
    const expected = namespace.toImage();
    // One record per slice, and a few ops after each.
    const image = await namespace.imageInSlices(1, async () => {
      for (let count = 0; count < 3; count++) {
        const op = randomOpWithReplace(namespace, random, clock++);
        if (tryApply(op)) {
          const kind = op.op === "addChunk" && op.replaces !== 0n ? "replace chunk" : op.op;
          appliedDuring.set(kind, (appliedDuring.get(kind) ?? 0) + 1);
        }
      }
    });
    const joined = Buffer.concat(image.parts);
    assert.ok(joined.equals(Buffer.from(expected)), `seed ${seed}`);
    // The length and hash a checkpoint writes in the image's header come with the parts.
    assert.is(image.byteLength, joined.byteLength, `seed ${seed}`);
    assert.is(image.xxh64, xxh64(joined), `seed ${seed}`);
  }
  // Every kind of change happened while an image was being written.
  const kinds = [
    "mkdir",
    "create",
    "addChunk",
    "replace chunk",
    "commitChunk",
    "complete",
    "abandon",
    "delete",
    "rename",
    "setReplication",
  ];
  for (const kind of kinds) {
    assert.ok((appliedDuring.get(kind) ?? 0) > 0, `${kind} applied during an image`);
  }
});

test("only one image in slices at a time; toImage meanwhile sees the namespace as it is", async () => {
  const namespace = new Namespace();
  namespace.apply(mkdir("/a", false));
  let second: Error | undefined;
  let during: Uint8Array | undefined;
  await namespace.imageInSlices(1, async () => {
    if (during !== undefined) return;
    namespace.apply(mkdir("/b", false));
    during = namespace.toImage();
    await namespace.imageInSlices().catch((error: Error) => {
      second = error;
    });
  });
  assert.match(second?.message ?? "", "already being written");
  assert.ok(Namespace.fromImage(during!).contentSummary("/").directories >= 3, "/b in it");
  // Over: a new one may start.
  assert.ok((await namespace.imageInSlices()).byteLength > 0);
});

test("2000 random ops: failures change nothing; replay and checkpoint + replay match", () => {
  const random = prng(20240611);
  const namespace = new Namespace();
  const log: Uint8Array[] = [];
  const outcomes = new Map<string, number>();
  let pendingMax = 0;
  for (let step = 0; step < 2000; step++) {
    pendingMax = Math.max(pendingMax, namespace.underConstructionCount);
    const op = randomOp(namespace, random, 1_000 + step);
    const before = namespace.toImage();
    try {
      namespace.apply(op);
      log.push(encodeOp(op));
      outcomes.set(`${op.op} ok`, (outcomes.get(`${op.op} ok`) ?? 0) + 1);
    } catch (error) {
      if (!(error instanceof BigFsError)) throw error;
      assert.equal(
        namespace.toImage(),
        before,
        `failed ${op.op} (${error.code}) changed the image`,
      );
      outcomes.set(error.code, (outcomes.get(error.code) ?? 0) + 1);
    }
  }
  for (const outcome of [
    "mkdir ok",
    "create ok",
    "addChunk ok",
    "commitChunk ok",
    "complete ok",
    "abandon ok",
    "delete ok",
    "rename ok",
    "setReplication ok",
    "NOT_FOUND",
    "EXISTS",
    "NOT_EMPTY",
    "NOT_A_DIRECTORY",
    "IS_A_DIRECTORY",
    "LEASE_CONFLICT",
    "INVALID_ARGUMENT",
    "STALE_GENERATION",
  ]) {
    assert.ok((outcomes.get(outcome) ?? 0) > 0, `the random ops never gave ${outcome}`);
  }
  assert.ok(namespace.fileCount > 10, `only ${namespace.fileCount} files at the end`);
  assert.ok(pendingMax > 2, `at most ${pendingMax} files were ever under construction`);

  const final = namespace.toImage();
  const replayed = new Namespace();
  const half = Math.floor(log.length / 2);
  let checkpoint: Uint8Array | undefined;
  for (const [index, bytes] of log.entries()) {
    if (index === half) checkpoint = replayed.toImage();
    replayed.apply(decodeOp(bytes));
  }
  assert.equal(replayed.toImage(), final, "replaying the log gives the same image");
  assert.is(replayed.chunkCount, namespace.chunkCount);

  const restored = Namespace.fromImage(checkpoint!);
  for (const bytes of log.slice(half)) restored.apply(decodeOp(bytes));
  assert.equal(restored.toImage(), final, "checkpoint + replay = no checkpoint");
  for (const key of [
    "highestFileId",
    "highestChunkId",
    "highestGeneration",
    "fileCount",
    "directoryCount",
    "chunkCount",
    "underConstructionCount",
  ] as const) {
    assert.is(restored[key], namespace[key], key);
  }
  assert.equal([...restored.underConstruction()], [...namespace.underConstruction()]);
});

test.run();
