import { cp, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Connection, verifyChunkToken } from "#protocol";
import {
  type FakeDatanode,
  Harness,
  type LogLine,
  rejection,
  testSecret,
  type WrittenFile,
  writeFile,
} from "../helpers/namenode_harness.js";
import { waitFor } from "../helpers/wait.js";

const deadlineMs = 5_000;

type WrittenChunk = WrittenFile["chunks"][number];

/** LIST and STAT of everything below `/`, chunk replicas left out, as comparable JSON. */
async function snapshot(client: Connection): Promise<string> {
  const lines: string[] = [];
  const visit = async (path: string): Promise<void> => {
    const { entries } = await client.request("LIST", { path });
    for (const entry of entries) {
      const child = path === "/" ? `/${entry.name}` : `${path}/${entry.name}`;
      const { entry: stat, chunks } = await client.request("STAT", { path: child });
      const chunkFields = chunks.map(({ id, generation, size, xxh64 }) => [
        id,
        generation,
        size,
        xxh64,
      ]);
      lines.push(
        `${child} ${JSON.stringify({ entry, stat, chunks: chunkFields }, (_key, value) => (typeof value === "bigint" ? `${value}n` : value))}`,
      );
      if (entry.type === "directory") await visit(child);
    }
  };
  await visit("/");
  return lines.join("\n");
}

function names(entries: { name: string }[]): string[] {
  return entries.map((entry) => entry.name);
}

// ---------------------------------------------------------------------------------------
// Namespace over the wire

test("a fresh NameNode on an empty folder is out of safe mode and takes changes at once", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    assert.is(namenode.safeMode.active, false);
    const client = await harness.client(namenode);
    await client.request("MKDIR", { path: "/a" });
    assert.equal(names((await client.request("LIST", { path: "/" })).entries), ["a"]);
  } finally {
    await harness.cleanup();
  }
});

test("mkdir makes a directory, with parents the missing ones too, and list and stat show them", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    await client.request("MKDIR", { path: "/top" });
    await client.request("MKDIR", { path: "/deep/er/est", parents: true });
    await client.request("MKDIR", { path: "/deep/er", parents: true }); // -p on an existing one is fine
    assert.equal(names((await client.request("LIST", { path: "/" })).entries), ["deep", "top"]);
    assert.equal(names((await client.request("LIST", { path: "/deep/er" })).entries), ["est"]);
    const { entry, chunks } = await client.request("STAT", { path: "/deep/er/est" });
    assert.is(entry.name, "est");
    assert.is(entry.type, "directory");
    assert.is(entry.size, 0);
    assert.equal(chunks, []);
  } finally {
    await harness.cleanup();
  }
});

test("namespace refusals travel with their codes: NOT_FOUND, EXISTS, NOT_A_DIRECTORY, IS_A_DIRECTORY", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    await harness.datanode(namenode, "dn1");
    await client.request("MKDIR", { path: "/dir" });
    await writeFile(client, "/dir/file", [{ size: 10, xxh64: 1n }], { replication: 1 });

    const cases: [string, Promise<unknown>, string][] = [
      ["stat of a missing path", client.request("STAT", { path: "/missing" }), "NOT_FOUND"],
      ["list of a missing path", client.request("LIST", { path: "/missing/x" }), "NOT_FOUND"],
      ["open of a missing path", client.request("OPEN", { path: "/missing" }), "NOT_FOUND"],
      ["mkdir without parents", client.request("MKDIR", { path: "/no/such/parent" }), "NOT_FOUND"],
      ["delete of a missing path", client.request("DELETE", { path: "/missing" }), "NOT_FOUND"],
      [
        "rename of a missing path",
        client.request("RENAME", { source: "/missing", destination: "/x" }),
        "NOT_FOUND",
      ],
      [
        "rename into a missing folder",
        client.request("RENAME", { source: "/dir", destination: "/no/x" }),
        "NOT_FOUND",
      ],
      ["mkdir of an existing directory", client.request("MKDIR", { path: "/dir" }), "EXISTS"],
      [
        "mkdir -p over a file",
        client.request("MKDIR", { path: "/dir/file", parents: true }),
        "EXISTS",
      ],
      [
        "create over a file",
        client.request("CREATE", { path: "/dir/file", clientName: "c" }),
        "EXISTS",
      ],
      [
        "rename onto an existing path",
        client.request("RENAME", { source: "/dir/file", destination: "/dir" }),
        "EXISTS",
      ],
      [
        "mkdir below a file",
        client.request("MKDIR", { path: "/dir/file/sub", parents: true }),
        "NOT_A_DIRECTORY",
      ],
      ["list below a file", client.request("LIST", { path: "/dir/file/sub" }), "NOT_A_DIRECTORY"],
      [
        "create below a file",
        client.request("CREATE", { path: "/dir/file/x", clientName: "c" }),
        "NOT_A_DIRECTORY",
      ],
      [
        "create at a directory",
        client.request("CREATE", { path: "/dir", clientName: "c" }),
        "IS_A_DIRECTORY",
      ],
      ["open of a directory", client.request("OPEN", { path: "/dir" }), "IS_A_DIRECTORY"],
    ];
    for (const [what, promise, code] of cases) {
      const error = await rejection(promise);
      assert.is(error.code, code, `${what}: ${error.message}`);
      assert.ok(error.message.length > 0, what);
    }
    // Nothing refused changed anything.
    assert.equal(names((await client.request("LIST", { path: "/" })).entries), ["dir"]);
    assert.equal(names((await client.request("LIST", { path: "/dir" })).entries), ["file"]);
  } finally {
    await harness.cleanup();
  }
});

test("invalid paths are INVALID_PATH: '..', '.', NUL, empty, relative, over-long name and path", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    // 25 names of 100 two-byte characters: 5,025 bytes of UTF-8 in 2,525 characters, so it
    // passes the wire's character bound and meets the NameNode's byte bound.
    const longPath = `/${Array.from({ length: 25 }, () => "é".repeat(100)).join("/")}`;
    const bad = [
      "/a/../b",
      "/a/./b",
      "/a\0b",
      "/a\u0001b",
      "/tab\tname",
      "/line\nbreak",
      "/del\u007f",
      "",
      "relative/path",
      `/${"n".repeat(256)}`,
      `/${"x".repeat(10_000)}`,
      longPath,
    ];
    for (const path of bad) {
      for (const promise of [
        client.request("MKDIR", { path, parents: true }),
        client.request("CREATE", { path, clientName: "c" }),
        client.request("STAT", { path }),
        client.request("LIST", { path }),
        client.request("DELETE", { path }),
        client.request("RENAME", { source: "/", destination: path }),
      ]) {
        const error = await rejection(promise);
        assert.is(
          error.code,
          "INVALID_PATH",
          `${JSON.stringify(path.slice(0, 40))}: ${error.message}`,
        );
      }
    }
    // Nothing was created, and the connection still serves.
    assert.equal((await client.request("LIST", { path: "/" })).entries, []);
    // A name of exactly 255 bytes is fine; `//` and a trailing slash collapse.
    await client.request("MKDIR", { path: `//${"n".repeat(255)}/` });
    assert.equal(names((await client.request("LIST", { path: "/" })).entries), ["n".repeat(255)]);
  } finally {
    await harness.cleanup();
  }
});

test("delete removes a file, a directory tree with recursive, and refuses a non-empty directory without it", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    await harness.datanode(namenode, "dn1");
    await client.request("MKDIR", { path: "/tree/a/b", parents: true });
    await client.request("MKDIR", { path: "/empty" });
    await writeFile(client, "/tree/a/b/f1", [{ size: 1, xxh64: 1n }], { replication: 1 });
    await writeFile(client, "/tree/f2", [{ size: 2, xxh64: 2n }], { replication: 1 });
    await writeFile(client, "/lone", [{ size: 3, xxh64: 3n }], { replication: 1 });

    const notEmpty = await rejection(client.request("DELETE", { path: "/tree" }));
    assert.is(notEmpty.code, "NOT_EMPTY");
    assert.match(notEmpty.message, /\/tree/);
    await client.request("DELETE", { path: "/lone" });
    await client.request("DELETE", { path: "/empty" });
    await client.request("DELETE", { path: "/tree", recursive: true });
    assert.equal((await client.request("LIST", { path: "/" })).entries, []);
    assert.is(
      (await rejection(client.request("STAT", { path: "/tree/a/b/f1" }))).code,
      "NOT_FOUND",
    );
    assert.is((await client.request("FSCK", { path: "/" })).files, 0);
  } finally {
    await harness.cleanup();
  }
});

test("a directory holding only a file being written is NOT_EMPTY; a recursive delete cuts the writer off", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    await client.request("MKDIR", { path: "/d" });
    const { fileId } = await client.request("CREATE", { path: "/d/partial", clientName: "w" });
    assert.is((await rejection(client.request("DELETE", { path: "/d" }))).code, "NOT_EMPTY");
    await client.request("DELETE", { path: "/d", recursive: true });
    const error = await rejection(
      client.request("COMPLETE", { path: "/d/partial", fileId, clientName: "w" }),
    );
    assert.is(error.code, "NOT_FOUND");
    assert.is(namenode.leases.fileCount, 0);
  } finally {
    await harness.cleanup();
  }
});

test("rename moves a file or a directory tree and refuses to move a directory into itself", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    await harness.datanode(namenode, "dn1");
    await client.request("MKDIR", { path: "/src/inner", parents: true });
    await client.request("MKDIR", { path: "/dst" });
    const written = await writeFile(client, "/src/inner/f", [{ size: 7, xxh64: 77n }], {
      replication: 1,
    });

    await client.request("RENAME", { source: "/src/inner/f", destination: "/dst/g" });
    assert.equal(names((await client.request("LIST", { path: "/src/inner" })).entries), []);
    const moved = await client.request("STAT", { path: "/dst/g" });
    assert.is(moved.entry.size, 7);
    assert.is(moved.chunks[0]?.id, written.chunks[0]?.id);

    await client.request("RENAME", { source: "/dst", destination: "/src/inner/dst2" });
    assert.is((await client.request("STAT", { path: "/src/inner/dst2/g" })).entry.size, 7);
    assert.is((await rejection(client.request("STAT", { path: "/dst" }))).code, "NOT_FOUND");

    for (const destination of ["/src/inner/x", "/src/inner/dst2/deeper"]) {
      const error = await rejection(client.request("RENAME", { source: "/src", destination }));
      assert.is(error.code, "INVALID_ARGUMENT", error.message);
      assert.match(error.message, /into itself/);
    }
    // Onto itself: nothing changes, as in HDFS.
    await client.request("RENAME", { source: "/src", destination: "/src" });
    assert.equal(names((await client.request("LIST", { path: "/" })).entries), ["src"]);
    assert.equal(names((await client.request("LIST", { path: "/src/inner" })).entries), ["dst2"]);
  } finally {
    await harness.cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// Write path

test("create takes a lease: a second writer on the path, or a caller not holding it, gets LEASE_CONFLICT", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    await harness.datanode(namenode, "dn1");
    const { fileId, replication, chunkSizeBytes } = await client.request("CREATE", {
      path: "/f",
      clientName: "alice",
      chunkSizeBytes: 64 * 1024,
    });
    assert.is(replication, 3);
    assert.is(chunkSizeBytes, 64 * 1024);
    assert.is(namenode.leases.holder(fileId), "alice");

    const second = await rejection(client.request("CREATE", { path: "/f", clientName: "bob" }));
    assert.is(second.code, "LEASE_CONFLICT");
    assert.match(second.message, /alice/);
    const again = await rejection(
      client.request("CREATE", { path: "/f", clientName: "alice", overwrite: true }),
    );
    assert.is(again.code, "LEASE_CONFLICT");
    for (const promise of [
      client.request("ADD_CHUNK", { path: "/f", fileId, clientName: "bob" }),
      client.request("COMPLETE", { path: "/f", fileId, clientName: "bob" }),
      client.request("ABANDON", { path: "/f", fileId, clientName: "bob" }),
      client.request("COMMIT_CHUNK", {
        path: "/f",
        fileId,
        clientName: "bob",
        chunkId: 1n,
        generation: 1n,
        size: 0,
        xxh64: 0n,
      }),
    ]) {
      assert.is((await rejection(promise)).code, "LEASE_CONFLICT");
    }
    // Alice still holds it and can finish.
    await client.request("COMPLETE", { path: "/f", fileId, clientName: "alice" });
    assert.is(namenode.leases.holder(fileId), undefined);
    const late = await rejection(
      client.request("COMPLETE", { path: "/f", fileId, clientName: "alice" }),
    );
    assert.is(late.code, "NOT_FOUND");
  } finally {
    await harness.cleanup();
  }
});

test("addChunk returns a new chunk id and generation, distinct live DataNodes, and a write token for that chunk", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(
      ["dn1", "dn2", "dn3", "dn4"].map((id) => harness.datanode(namenode, id)),
    );
    const ids = new Set(datanodes.map((datanode) => datanode.id));
    const { fileId } = await client.request("CREATE", {
      path: "/f",
      clientName: "w",
      chunkSizeBytes: 64 * 1024,
    });

    const seenChunks = new Set<bigint>();
    let previousGeneration = 0n;
    for (let round = 0; round < 8; round++) {
      const excluded = round % 2 === 1 ? ["dn1"] : [];
      const added = await client.request("ADD_CHUNK", {
        path: "/f",
        fileId,
        clientName: "w",
        excludeDatanodes: excluded,
      });
      assert.not.ok(seenChunks.has(added.chunkId), "chunk ids are new");
      seenChunks.add(added.chunkId);
      assert.ok(added.generation > previousGeneration, "generations grow");
      previousGeneration = added.generation;
      const pipeline = added.pipeline.map((datanode) => datanode.id);
      assert.is(pipeline.length, 3);
      assert.is(new Set(pipeline).size, 3, "distinct DataNodes");
      for (const datanode of added.pipeline) {
        assert.ok(ids.has(datanode.id));
        assert.is(datanode.address, `${datanode.id}.invalid:9866`);
      }
      for (const id of excluded) assert.not.ok(pipeline.includes(id), `${id} is excluded`);
      const grant = verifyChunkToken(testSecret, added.token, {
        chunkId: added.chunkId,
        operation: "write",
        generation: added.generation,
      });
      assert.is(grant.chunkId, added.chunkId);
      assert.throws(() =>
        verifyChunkToken(testSecret, added.token, { chunkId: added.chunkId, operation: "read" }),
      );
      assert.throws(() =>
        verifyChunkToken(testSecret, added.token, {
          chunkId: added.chunkId + 1n,
          operation: "write",
        }),
      );
      await client.request("COMMIT_CHUNK", {
        path: "/f",
        fileId,
        clientName: "w",
        chunkId: added.chunkId,
        generation: added.generation,
        size: 100,
        xxh64: BigInt(round),
      });
    }
    // Excluding all but two leaves a short pipeline, not a refusal.
    const short = await client.request("ADD_CHUNK", {
      path: "/f",
      fileId,
      clientName: "w",
      excludeDatanodes: ["dn1", "dn2"],
    });
    assert.equal(short.pipeline.map((datanode) => datanode.id).sort(), ["dn3", "dn4"]);
    const none = await rejection(
      client.request("ADD_CHUNK", {
        path: "/f",
        fileId,
        clientName: "w",
        excludeDatanodes: ["dn1", "dn2", "dn3", "dn4"],
      }),
    );
    assert.is(none.code, "NO_SPACE");
    // Not a full disk: the message says the client left them out.
    assert.match(none.message, "no live DataNode other than the 4 left out has room");
  } finally {
    await harness.cleanup();
  }
});

test("addChunk with no live DataNode is NO_SPACE", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const { fileId } = await client.request("CREATE", { path: "/f", clientName: "w" });
    const error = await rejection(
      client.request("ADD_CHUNK", { path: "/f", fileId, clientName: "w" }),
    );
    assert.is(error.code, "NO_SPACE");
    assert.match(error.message, /\/f/);
  } finally {
    await harness.cleanup();
  }
});

test("commitChunk records size and xxh64, and complete makes the file visible atomically", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(
      ["dn1", "dn2", "dn3"].map((id) => harness.datanode(namenode, id)),
    );
    await client.request("MKDIR", { path: "/d" });
    const written = await writeFile(
      client,
      "/d/f",
      [
        { size: 65_536, xxh64: 0xdead_beef_0000_0001n },
        { size: 1234, xxh64: 0xffff_ffff_ffff_fffen },
      ],
      { complete: false, reportFrom: datanodes },
    );
    // Before complete: invisible to list, stat and open.
    assert.equal((await client.request("LIST", { path: "/d" })).entries, []);
    assert.is((await rejection(client.request("STAT", { path: "/d/f" }))).code, "NOT_FOUND");
    assert.is((await rejection(client.request("OPEN", { path: "/d/f" }))).code, "NOT_FOUND");

    await client.request("COMPLETE", {
      path: "/d/f",
      fileId: written.fileId,
      clientName: "writer",
    });

    const [listed] = (await client.request("LIST", { path: "/d" })).entries;
    assert.is(listed?.name, "f");
    assert.is(listed?.type, "file");
    assert.is(listed?.size, 65_536 + 1234);
    assert.is(listed?.replication, 3);
    const { entry, chunks } = await client.request("STAT", { path: "/d/f" });
    assert.is(entry.size, 65_536 + 1234);
    assert.equal(
      chunks.map(({ id, generation, size, xxh64 }) => ({ id, generation, size, xxh64 })),
      written.chunks.map(({ id, generation, size, xxh64 }) => ({ id, generation, size, xxh64 })),
    );
    for (const chunk of chunks) assert.equal([...chunk.replicas].sort(), ["dn1", "dn2", "dn3"]);
    const opened = await client.request("OPEN", { path: "/d/f" });
    assert.is(opened.size, 65_536 + 1234);
    assert.equal(
      opened.chunks.map((chunk) => chunk.offset),
      [0, 65_536],
    );
    for (const chunk of opened.chunks) {
      assert.is(chunk.replicas.length, 3);
      verifyChunkToken(testSecret, chunk.token, {
        chunkId: chunk.id,
        operation: "read",
        generation: chunk.generation,
      });
    }
    // complete needs every chunk committed.
    const { fileId } = await client.request("CREATE", {
      path: "/d/g",
      clientName: "writer",
      chunkSizeBytes: 65_536,
    });
    await client.request("ADD_CHUNK", { path: "/d/g", fileId, clientName: "writer" });
    const uncommitted = await rejection(
      client.request("COMPLETE", { path: "/d/g", fileId, clientName: "writer" }),
    );
    assert.is(uncommitted.code, "INVALID_ARGUMENT");
    assert.match(uncommitted.message, /not committed/);
  } finally {
    await harness.cleanup();
  }
});

test("a small file in two round trips: CREATE grants the first chunk, COMPLETE commits the last", async () => {
  const harness = new Harness();
  try {
    const folder = await harness.folder();
    const namenode = await harness.start(folder);
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(
      ["dn1", "dn2", "dn3"].map((id) => harness.datanode(namenode, id)),
    );
    const syncsBefore = namenode.store.syncCount;
    const created = await client.request("CREATE", {
      path: "/small",
      clientName: "writer",
      firstChunk: true,
    });
    const chunk = created.chunk;
    assert.ok(chunk, "CREATE with firstChunk answers with a chunk");
    assert.is(chunk.pipeline.length, 3);
    verifyChunkToken(testSecret, chunk.token, {
      chunkId: chunk.chunkId,
      operation: "write",
      generation: chunk.generation,
    });
    for (const datanode of datanodes) {
      await datanode.report([{ id: chunk.chunkId, generation: chunk.generation, size: 4096 }]);
    }
    const base = { path: "/small", fileId: created.fileId, clientName: "writer" };
    // A commit for a chunk the file does not have is refused, and the file stays unfinished.
    const wrong = await rejection(
      client.request("COMPLETE", {
        ...base,
        lastChunk: { chunkId: chunk.chunkId + 99n, generation: 1n, size: 4096, xxh64: 7n },
      }),
    );
    assert.is(wrong.code, "NOT_FOUND");
    assert.is((await rejection(client.request("STAT", { path: "/small" }))).code, "NOT_FOUND");
    const last = { chunkId: chunk.chunkId, generation: chunk.generation, size: 4096, xxh64: 7n };
    await client.request("COMPLETE", { ...base, lastChunk: last });
    const { entry, chunks } = await client.request("STAT", { path: "/small" });
    assert.is(entry.size, 4096);
    assert.equal(
      chunks.map(({ id, generation, size, xxh64 }) => ({ chunkId: id, generation, size, xxh64 })),
      [last],
    );
    // Four records in two fdatasyncs: CREATE's two records share one, and so do COMPLETE's
    // (the refused COMPLETE logged nothing).
    assert.is(namenode.store.syncCount - syncsBefore, 2);
    // Every record is in the log: the file comes back after a restart.
    await namenode.stop();
    const again = await harness.start(folder);
    const reread = await harness.client(again);
    assert.is((await reread.request("STAT", { path: "/small" })).entry.size, 4096);
  } finally {
    await harness.cleanup();
  }
});

test("complete waits until a DataNode has reported each chunk, so a reader finds a replica", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder(), ["--complete-wait", "20s"]);
    const client = await harness.client(namenode);
    const datanode = await harness.datanode(namenode, "dn1");
    const written = await writeFile(client, "/f", [{ size: 10, xxh64: 10n }], {
      complete: false,
      replication: 1,
    });
    let completed = false;
    const completing = client
      .request("COMPLETE", { path: "/f", fileId: written.fileId, clientName: "writer" })
      .then(() => {
        completed = true;
      });
    // Not visible, and COMPLETE not answered, while no replica is reported.
    const before = datanode.heartbeats;
    await waitFor(() => datanode.heartbeats >= before + 3, deadlineMs, {
      what: "three heartbeats",
    });
    assert.is(completed, false);
    assert.is((await rejection(client.request("STAT", { path: "/f" }))).code, "NOT_FOUND");
    const chunk = written.chunks[0]!;
    await datanode.report([{ id: chunk.id, generation: chunk.generation, size: 10 }]);
    await completing;
    const opened = await client.request("OPEN", { path: "/f" });
    assert.equal(
      opened.chunks[0]?.replicas.map((replica) => replica.id),
      ["dn1"],
    );
  } finally {
    await harness.cleanup();
  }
});

test("open lists a replica on the reader's own host first", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    // The test client connects from 127.0.0.1; so does only this DataNode's address.
    const datanodes = [
      await harness.datanode(namenode, "dn-far-1"),
      await harness.datanode(namenode, "dn-local", { address: "127.0.0.1:9866" }),
      await harness.datanode(namenode, "dn-far-2"),
    ];
    const written = await writeFile(
      client,
      "/f",
      [
        { size: 10, xxh64: 1n },
        { size: 10, xxh64: 2n },
      ],
      { reportFrom: datanodes },
    );
    assert.is(written.chunks.length, 2);
    const opened = await client.request("OPEN", { path: "/f" });
    for (const chunk of opened.chunks) {
      assert.is(chunk.replicas.length, 3);
      assert.is(chunk.replicas[0]?.id, "dn-local");
    }
  } finally {
    await harness.cleanup();
  }
});

test("abandon drops the file being written, frees its lease, and deletes its chunks' replicas", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(
      ["dn1", "dn2", "dn3"].map((id) => harness.datanode(namenode, id)),
    );
    const written = await writeFile(client, "/f", [{ size: 5, xxh64: 5n }], {
      complete: false,
      reportFrom: datanodes,
    });
    await client.request("ABANDON", { path: "/f", fileId: written.fileId, clientName: "writer" });
    assert.is(namenode.leases.fileCount, 0);
    assert.is(namenode.store.namespace.file(written.fileId), undefined);
    const chunkId = written.chunks[0]!.id;
    for (const datanode of datanodes) {
      await waitFor(() => datanode.deletes.has(chunkId), deadlineMs, {
        what: `${datanode.id} to delete the chunk`,
      });
    }
    // The path is free for a new writer.
    await client.request("CREATE", { path: "/f", clientName: "other" });
  } finally {
    await harness.cleanup();
  }
});

test("an overwrite replaces the file atomically on complete and the old chunks are deleted where reported", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(
      ["dn1", "dn2", "dn3"].map((id) => harness.datanode(namenode, id)),
    );
    const old = await writeFile(client, "/f", [{ size: 10, xxh64: 10n }], {
      reportFrom: datanodes,
    });
    const replacement = await writeFile(client, "/f", [{ size: 20, xxh64: 20n }], {
      overwrite: true,
      complete: false,
      reportFrom: datanodes,
    });
    // Until complete, readers still see the old file whole.
    const before = await client.request("STAT", { path: "/f" });
    assert.is(before.entry.size, 10);
    assert.equal(
      before.chunks.map((chunk) => chunk.id),
      [old.chunks[0]!.id],
    );
    await client.request("COMPLETE", {
      path: "/f",
      fileId: replacement.fileId,
      clientName: "writer",
    });
    const after = await client.request("STAT", { path: "/f" });
    assert.is(after.entry.size, 20);
    assert.equal(
      after.chunks.map((chunk) => [chunk.id, chunk.xxh64]),
      [[replacement.chunks[0]!.id, 20n]],
    );
    const oldChunk = old.chunks[0]!;
    for (const datanode of datanodes) {
      const generations = await waitFor(() => datanode.deletes.get(oldChunk.id), deadlineMs, {
        what: `a delete of the old chunk on ${datanode.id}`,
      });
      assert.equal(generations, [oldChunk.generation]);
      assert.not.ok(datanode.deletes.has(replacement.chunks[0]!.id), "the new chunk stays");
    }
    // Without overwrite, a complete file is EXISTS.
    assert.is(
      (await rejection(client.request("CREATE", { path: "/f", clientName: "x" }))).code,
      "EXISTS",
    );
  } finally {
    await harness.cleanup();
  }
});

test("deleting a file queues delete commands for its chunks on the DataNodes holding them, and only those", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(
      ["dn1", "dn2", "dn3", "dn4"].map((id) => harness.datanode(namenode, id)),
    );
    const [dn1, dn2, dn3, dn4] = datanodes as [
      FakeDatanode,
      FakeDatanode,
      FakeDatanode,
      FakeDatanode,
    ];
    const doomed = await writeFile(
      client,
      "/d/doomed",
      [
        { size: 1, xxh64: 1n },
        { size: 2, xxh64: 2n },
      ],
      { replication: 2, reportFrom: [dn1, dn2] },
    );
    const kept = await writeFile(client, "/kept", [{ size: 3, xxh64: 3n }], {
      replication: 2,
      reportFrom: [dn3, dn4],
    });
    await client.request("DELETE", { path: "/d", recursive: true });
    for (const datanode of [dn1, dn2]) {
      for (const chunk of doomed.chunks) {
        const generations = await waitFor(() => datanode.deletes.get(chunk.id), deadlineMs, {
          what: `delete of chunk ${chunk.id} on ${datanode.id}`,
        });
        assert.equal(generations, [chunk.generation]);
      }
    }
    // One more heartbeat round everywhere, then nothing else was deleted.
    const heartbeats = datanodes.map((datanode) => datanode.heartbeats);
    await waitFor(
      () => datanodes.every((datanode, index) => datanode.heartbeats > heartbeats[index]! + 1),
      deadlineMs,
    );
    assert.is(dn3.deletes.size, 0);
    assert.is(dn4.deletes.size, 0);
    assert.is(dn1.deletes.size, 2);
    assert.is((await client.request("STAT", { path: "/kept" })).chunks[0]?.id, kept.chunks[0]?.id);
  } finally {
    await harness.cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// Leases

test("a writer that stops renewing loses its partial file and chunks; one that renews keeps its lease", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(
      ["dn1", "dn2", "dn3"].map((id) => harness.datanode(namenode, id)),
    );
    const startedMs = Date.now();
    const abandoned = await writeFile(client, "/gone", [{ size: 9, xxh64: 9n }], {
      clientName: "crashed",
      complete: false,
      reportFrom: datanodes,
    });
    const alive = await writeFile(client, "/kept", [{ size: 8, xxh64: 8n }], {
      clientName: "alive",
      complete: false,
      reportFrom: datanodes,
    });
    const renewer = setInterval(() => {
      client.request("RENEW_LEASE", { clientName: "alive" }).catch(() => {});
    }, 100);
    try {
      // The silent writer's file goes, and its path is free again...
      await waitFor(
        () => namenode.store.namespace.file(abandoned.fileId) === undefined,
        deadlineMs,
        {
          what: "the expired lease's file to be removed",
        },
      );
      assert.ok(Date.now() - startedMs >= 500, "not before the lease timeout");
      const chunk = abandoned.chunks[0]!;
      for (const datanode of datanodes) {
        await waitFor(() => datanode.deletes.has(chunk.id), deadlineMs, {
          what: `delete of the abandoned chunk on ${datanode.id}`,
        });
      }
      // ...while the renewing writer, silent on its file for well past the timeout, keeps it.
      await waitFor(() => Date.now() - startedMs > 3 * 500, deadlineMs, {
        what: "three lease timeouts",
      });
      assert.ok(
        namenode.store.namespace.file(alive.fileId),
        "the renewed file is still being written",
      );
      assert.not.ok(datanodes.some((datanode) => datanode.deletes.has(alive.chunks[0]!.id)));
    } finally {
      clearInterval(renewer);
    }
    await client.request("CREATE", { path: "/gone", clientName: "someone-else" });
    await client.request("COMPLETE", { path: "/kept", fileId: alive.fileId, clientName: "alive" });
    assert.is((await client.request("STAT", { path: "/kept" })).entry.size, 8);
    const late = await rejection(
      client.request("COMPLETE", {
        path: "/gone",
        fileId: abandoned.fileId,
        clientName: "crashed",
      }),
    );
    assert.is(late.code, "NOT_FOUND");
  } finally {
    await harness.cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// Durability

test("everything acknowledged is there after a stop and a start on the same folder", async () => {
  const harness = new Harness();
  try {
    const folder = await harness.folder();
    const first = await harness.start(folder);
    const client = await harness.client(first);
    await harness.datanode(first, "dn1");
    await client.request("MKDIR", { path: "/a/b/c", parents: true });
    await client.request("MKDIR", { path: "/gone" });
    const f = await writeFile(
      client,
      "/a/b/f",
      [
        { size: 65_536, xxh64: 0x0123_4567_89ab_cdefn },
        { size: 17, xxh64: 0xfedc_ba98_7654_3210n },
      ],
      { replication: 1 },
    );
    await writeFile(client, "/moved-from", [{ size: 3, xxh64: 3n }], { replication: 1 });
    await client.request("RENAME", { source: "/moved-from", destination: "/a/moved-to" });
    await client.request("DELETE", { path: "/gone" });
    const before = await snapshot(client);
    const highestChunkId = first.store.namespace.highestChunkId;
    await first.stop();

    const second = await harness.start(folder);
    const after = await snapshot(await harness.client(second));
    assert.is(after, before);
    const stat = await (await harness.client(second)).request("STAT", { path: "/a/b/f" });
    assert.equal(
      stat.chunks.map(({ id, generation, size, xxh64 }) => ({ id, generation, size, xxh64 })),
      f.chunks.map(({ id, generation, size, xxh64 }) => ({ id, generation, size, xxh64 })),
    );
    assert.match(after, /moved-to/);
    assert.not.match(after, /gone|moved-from/);
    // Ids keep growing after a restart: nothing is handed out twice.
    assert.is(second.store.namespace.highestChunkId, highestChunkId);
  } finally {
    await harness.cleanup();
  }
});

test("with a checkpoint every 5 records, 50 changes come back the same from image plus log, after a stop or a crash", async () => {
  const harness = new Harness();
  try {
    const folder = await harness.folder();
    const first = await harness.start(folder, ["--checkpoint-records", "5"]);
    const client = await harness.client(first);
    await harness.datanode(first, "dn1");
    const startTxid = first.store.lastTxid;
    for (let index = 0; first.store.lastTxid - startTxid < 50n; index++) {
      switch (index % 5) {
        case 0:
          await client.request("MKDIR", { path: `/d${index}/sub`, parents: true });
          break;
        case 1:
          await writeFile(
            client,
            `/d${index - 1}/f${index}`,
            [{ size: index, xxh64: BigInt(index) * 7919n }],
            {
              replication: 1,
            },
          );
          break;
        case 2:
          await client.request("RENAME", {
            source: `/d${index - 2}/sub`,
            destination: `/d${index - 2}/renamed`,
          });
          break;
        case 3:
          await client.request("MKDIR", { path: `/tmp${index}` });
          break;
        default:
          await client.request("DELETE", { path: `/tmp${index - 1}` });
      }
    }
    const files = await readdir(join(folder, "current"));
    assert.ok(
      files.some((name) => name.startsWith("image_") && name.endsWith(".img")),
      `an image was written: ${files.join(", ")}`,
    );
    // Settle checkpoints, then leave 3 records (under 5) only in the log, and copy the
    // folder as a crash would leave it.
    await first.store.checkpoint();
    await first.store.checkpoint();
    await client.request("MKDIR", { path: "/after-checkpoint/x", parents: true });
    await client.request("RENAME", {
      source: "/after-checkpoint/x",
      destination: "/after-checkpoint/y",
    });
    await client.request("DELETE", { path: "/d0", recursive: true });
    const expected = await snapshot(client);
    const crashFolder = await harness.folder();
    await cp(folder, crashFolder, { recursive: true });
    await first.stop();

    const crashLog: LogLine[] = [];
    const fromCrash = await harness.start(crashFolder, [], { logLines: crashLog });
    assert.is(await snapshot(await harness.client(fromCrash)), expected);
    const loaded = crashLog.find((line) => line.msg === "namespace loaded");
    assert.is(loaded?.replayedRecords, 3, JSON.stringify(loaded));
    await fromCrash.stop();

    const restarted = await harness.start(folder, ["--checkpoint-records", "5"]);
    assert.is(await snapshot(await harness.client(restarted)), expected);
  } finally {
    await harness.cleanup();
  }
});

test("500 concurrent mkdirs share fdatasyncs (group commit)", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const clients = await Promise.all(Array.from({ length: 5 }, () => harness.client(namenode)));
    const syncsBefore = namenode.store.syncCount;
    await Promise.all(
      Array.from({ length: 500 }, (_, index) =>
        clients[index % clients.length]!.request("MKDIR", { path: `/m/${index}`, parents: true }),
      ),
    );
    const syncs = namenode.store.syncCount - syncsBefore;
    assert.is((await clients[0]!.request("LIST", { path: "/m" })).entries.length, 500);
    assert.ok(syncs >= 1 && syncs < 250, `500 mkdirs took ${syncs} fdatasyncs`);
  } finally {
    await harness.cleanup();
  }
});

test("a second NameNode on the same data folder refuses to start, naming the lock and the process", async () => {
  const harness = new Harness();
  try {
    const folder = await harness.folder();
    const first = await harness.start(folder);
    let refused: Error | undefined;
    try {
      await harness.start(folder);
    } catch (error) {
      refused = error as Error;
    }
    assert.ok(refused, "the second start must fail");
    assert.match(refused.message, /in_use\.lock/);
    assert.match(refused.message, new RegExp(`process ${process.pid}`));
    // The first one is unharmed and still holds the lock.
    const client = await harness.client(first);
    await client.request("MKDIR", { path: "/still-serving" });
    assert.is((await readFile(join(folder, "in_use.lock"), "utf8")).trim(), String(process.pid));
    await first.stop();
    // Released on stop: a new NameNode may take the folder.
    const next = await harness.start(folder);
    assert.equal(
      names((await (await harness.client(next)).request("LIST", { path: "/" })).entries),
      ["still-serving"],
    );
  } finally {
    await harness.cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// DataNode registry

test("heartbeats keep a DataNode live; silence past dead-after makes it dead and its replicas stop counting", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const steady = await harness.datanode(namenode, "steady");
    const silent = await harness.datanode(namenode, "silent");
    const written = await writeFile(client, "/f", [{ size: 4, xxh64: 4n }], {
      replication: 2,
      reportFrom: [steady, silent],
    });
    const chunkId = written.chunks[0]!.id;
    assert.equal((await client.request("STAT", { path: "/f" })).chunks[0]?.replicas.sort(), [
      "silent",
      "steady",
    ]);
    assert.is((await client.request("FSCK", { path: "/" })).healthy, 1);

    silent.stopHeartbeats();
    // Silence starts at its last contact, up to one heartbeat interval before the stop.
    const silentSinceMs = silent.lastContactSentMs;
    const report = async () => (await client.request("DATANODE_REPORT", {})).datanodes;
    await waitFor(
      async () => (await report()).find((datanode) => datanode.id === "silent")?.state === "dead",
      deadlineMs,
      {
        what: "the silent DataNode to be declared dead",
      },
    );
    assert.ok(Date.now() - silentSinceMs >= 500, "not before dead-after");
    // Keep watching the steady one for more than twice dead-after.
    const steadyStates = new Set<string>();
    await waitFor(async () => {
      const steadyState = (await report()).find((datanode) => datanode.id === "steady")?.state;
      steadyStates.add(steadyState ?? "absent");
      return Date.now() - silentSinceMs > 2 * 500;
    }, deadlineMs);
    assert.equal([...steadyStates], ["live"], "the heartbeating DataNode stays live");
    const stat = await client.request("STAT", { path: "/f" });
    assert.equal(stat.chunks[0]?.replicas, ["steady"]);
    const fsck = await client.request("FSCK", { path: "/" });
    assert.is(fsck.underReplicated, 1);
    assert.equal(fsck.problems, [
      { path: "/f", chunkId, status: "under-replicated", liveReplicas: 1 },
    ]);
    const opened = await client.request("OPEN", { path: "/f" });
    assert.equal(
      opened.chunks[0]?.replicas.map((datanode) => datanode.id),
      ["steady"],
    );

    steady.stopHeartbeats();
    await waitFor(
      async () => (await client.request("FSCK", { path: "/" })).missing === 1,
      deadlineMs,
      {
        what: "the chunk to be missing once both DataNodes are dead",
      },
    );
    assert.equal((await client.request("STAT", { path: "/f" })).chunks[0]?.replicas, []);
    // A dead DataNode is not placed on.
    const { fileId } = await client.request("CREATE", { path: "/g", clientName: "w" });
    assert.is(
      (await rejection(client.request("ADD_CHUNK", { path: "/g", fileId, clientName: "w" }))).code,
      "NO_SPACE",
    );
  } finally {
    await harness.cleanup();
  }
});

test("a heartbeat or report from an unknown or dead DataNode is NOT_FOUND until it registers again", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanode = await harness.datanode(namenode, "dn1", { heartbeatIntervalMs: 0 });
    const stranger = await harness.datanode(namenode, "stranger", { heartbeatIntervalMs: 0 });
    const written = await writeFile(client, "/f", [{ size: 4, xxh64: 4n }], {
      replication: 1,
      reportFrom: [datanode],
    });
    const chunk = written.chunks[0]!;

    const unknown = await rejection(
      stranger.connection.request("HEARTBEAT", {
        datanodeId: "never-registered",
        capacityBytes: 1,
        usedBytes: 0,
        activeTransfers: 0,
      }),
    );
    assert.is(unknown.code, "NOT_FOUND");
    assert.match(unknown.message, /register/);
    for (const promise of [
      stranger.connection.request("CHUNK_REPORT", {
        datanodeId: "never-registered",
        added: [],
        removed: [],
      }),
      stranger.connection.request("REPORT_CORRUPT", {
        datanodeId: "never-registered",
        chunkId: chunk.id,
        generation: chunk.generation,
        reason: "test",
      }),
    ]) {
      assert.is((await rejection(promise)).code, "NOT_FOUND");
    }

    // dn1 goes silent past dead-after (the stranger keeps beating, as a control).
    stranger.startHeartbeats();
    await waitFor(() => !namenode.registry.isLive("dn1"), deadlineMs, {
      what: "dn1 to be declared dead",
    });
    const dead = await rejection(datanode.heartbeat());
    assert.is(dead.code, "NOT_FOUND");
    assert.is(namenode.registry.isLive("stranger"), true);

    // Registering again with its full report brings it and its replica back.
    await datanode.register({
      chunks: [{ id: chunk.id, generation: chunk.generation, size: chunk.size }],
    });
    await datanode.heartbeat();
    assert.equal((await client.request("STAT", { path: "/f" })).chunks[0]?.replicas, ["dn1"]);
    const entry = (await client.request("DATANODE_REPORT", {})).datanodes.find(
      (item) => item.id === "dn1",
    );
    assert.is(entry?.state, "live");
    assert.is(entry?.chunks, 1);
  } finally {
    await harness.cleanup();
  }
});

test("a replica of an older generation, or of an unknown chunk, gets a delete command in the next heartbeat reply", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const writer = await harness.datanode(namenode, "writer-dn");
    const written = await writeFile(
      client,
      "/f",
      [
        { size: 10, xxh64: 10n },
        { size: 20, xxh64: 20n },
      ],
      { replication: 1, reportFrom: [writer] },
    );
    const [first, second] = written.chunks as [WrittenChunk, WrittenChunk];
    assert.ok(second.generation > first.generation);
    const staleGeneration = second.generation - 1n;
    const orphanId = second.id + 1000n;

    // In the full report at registration...
    const rejoining = await harness.datanode(namenode, "rejoining", {
      heartbeatIntervalMs: 0,
      chunks: [
        { id: first.id, generation: first.generation, size: first.size },
        { id: second.id, generation: staleGeneration, size: second.size },
        { id: orphanId, generation: 1n, size: 5 },
      ],
    });
    await rejoining.heartbeat();
    assert.equal(rejoining.deletes.get(second.id), [staleGeneration]);
    assert.equal(rejoining.deletes.get(orphanId), [1n]);
    assert.not.ok(rejoining.deletes.has(first.id), "the good replica stays");
    assert.equal(
      (await client.request("STAT", { path: "/f" })).chunks.map((chunk) => chunk.replicas.sort()),
      [["rejoining", "writer-dn"], ["writer-dn"]],
    );

    // ...and in an incremental report.
    const orphanTwo = orphanId + 1n;
    await rejoining.report([
      { id: second.id, generation: staleGeneration, size: second.size },
      { id: orphanTwo, generation: 3n, size: 1 },
    ]);
    await rejoining.heartbeat();
    assert.equal(rejoining.deletes.get(second.id), [staleGeneration, staleGeneration]);
    assert.equal(rejoining.deletes.get(orphanTwo), [3n]);
    // Each delete is handed out once.
    const commands = await rejoining.heartbeat();
    assert.equal(commands, []);
  } finally {
    await harness.cleanup();
  }
});

test("a report with thousands of replicas to delete is one log line, with the count", async () => {
  const harness = new Harness();
  try {
    const logLines: LogLine[] = [];
    const namenode = await harness.start(await harness.folder(), [], { logLines });
    const orphans = Array.from({ length: 5_000 }, (_, index) => ({
      id: 1_000_000n + BigInt(index),
      generation: 1n,
      size: 1,
    }));
    const returning = await harness.datanode(namenode, "returning", {
      heartbeatIntervalMs: 0,
      chunks: orphans,
    });
    // Deletes are handed out a bounded number per heartbeat.
    await waitFor(
      async () => {
        await returning.heartbeat();
        return returning.deletes.size === orphans.length;
      },
      10_000,
      { what: "a delete command for every orphan" },
    );
    const logged = logLines.filter((line) => /scheduled for deletion/.test(String(line.msg)));
    assert.is(logged.length, 1);
    const [line] = logged as [LogLine];
    assert.is(line.msg, "replicas scheduled for deletion");
    assert.is(line.replicas, 5_000);
    assert.is(line.orphan, 5_000);
    assert.is((line.chunks as string[]).length, 10);
    assert.is((line.chunks as string[])[0], "1000000@1");
  } finally {
    await harness.cleanup();
  }
});

test("a replica reported corrupt stops counting and is never handed to readers", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(["dn1", "dn2"].map((id) => harness.datanode(namenode, id)));
    const written = await writeFile(client, "/f", [{ size: 10, xxh64: 10n }], {
      replication: 2,
      reportFrom: datanodes,
    });
    const chunk = written.chunks[0]!;
    await datanodes[0]!.connection.request("REPORT_CORRUPT", {
      datanodeId: "dn1",
      chunkId: chunk.id,
      generation: chunk.generation,
      reason: "checksum mismatch at offset 0",
    });
    assert.equal((await client.request("STAT", { path: "/f" })).chunks[0]?.replicas, ["dn2"]);
    assert.equal(
      (await client.request("OPEN", { path: "/f" })).chunks[0]?.replicas.map(
        (datanode) => datanode.id,
      ),
      ["dn2"],
    );
    const fsck = await client.request("FSCK", { path: "/" });
    assert.is(fsck.corrupt, 1);
    assert.is(fsck.healthy, 0);
  } finally {
    await harness.cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// Safe mode

test("a restarted NameNode stays read-only in safe mode until full reports cover the chunks, then leaves it and says so", async () => {
  const harness = new Harness();
  try {
    const folder = await harness.folder();
    const first = await harness.start(folder);
    const firstClient = await harness.client(first);
    await harness.datanode(first, "dn1");
    const a = await writeFile(firstClient, "/a", [{ size: 11, xxh64: 11n }], { replication: 1 });
    const b = await writeFile(firstClient, "/b", [{ size: 22, xxh64: 22n }], { replication: 1 });
    await first.stop();

    const lines: LogLine[] = [];
    const namenode = await harness.start(folder, [], { logLines: lines });
    assert.is(namenode.safeMode.active, true);
    const client = await harness.client(namenode);
    // Reads work...
    assert.equal(names((await client.request("LIST", { path: "/" })).entries), ["a", "b"]);
    assert.is((await client.request("STAT", { path: "/a" })).entry.size, 11);
    assert.is((await client.request("OPEN", { path: "/b" })).size, 22);
    assert.is((await client.request("FSCK", { path: "/" })).missing, 2);
    // ...changes do not.
    for (const promise of [
      client.request("MKDIR", { path: "/x" }),
      client.request("CREATE", { path: "/x", clientName: "w" }),
      client.request("DELETE", { path: "/a" }),
      client.request("RENAME", { source: "/a", destination: "/c" }),
    ]) {
      const error = await rejection(promise);
      assert.is(error.code, "SAFE_MODE");
      assert.match(error.message, /safe mode/);
    }

    // Half the chunks reported is not enough.
    const chunkA = a.chunks[0]!;
    const chunkB = b.chunks[0]!;
    await harness.datanode(namenode, "dn1", {
      chunks: [{ id: chunkA.id, generation: chunkA.generation, size: chunkA.size }],
    });
    assert.is(namenode.safeMode.active, true);
    assert.is((await rejection(client.request("MKDIR", { path: "/x" }))).code, "SAFE_MODE");

    // A full report covering the rest lets it go.
    await harness.datanode(namenode, "dn2", {
      chunks: [{ id: chunkB.id, generation: chunkB.generation, size: chunkB.size }],
    });
    await waitFor(
      () =>
        client.request("MKDIR", { path: "/x" }).then(
          () => true,
          () => false,
        ),
      deadlineMs,
      { what: "mkdir to succeed once out of safe mode" },
    );
    assert.is(namenode.safeMode.active, false);
    const left = lines.find((line) => line.msg === "left safe mode");
    assert.ok(left, "the NameNode logs that it left safe mode");
    assert.is(left.reportedChunks, 2);
    assert.is(left.chunks, 2);
    // Reports rebuilt where the replicas are.
    assert.equal((await client.request("STAT", { path: "/a" })).chunks[0]?.replicas, ["dn1"]);
    assert.equal((await client.request("STAT", { path: "/b" })).chunks[0]?.replicas, ["dn2"]);
    assert.is((await client.request("FSCK", { path: "/" })).healthy, 2);
  } finally {
    await harness.cleanup();
  }
});

test("deletes decided in safe mode wait until the NameNode leaves it", async () => {
  const harness = new Harness();
  try {
    const folder = await harness.folder();
    const first = await harness.start(folder);
    const firstClient = await harness.client(first);
    await harness.datanode(first, "dn1");
    const a = await writeFile(firstClient, "/a", [{ size: 11, xxh64: 11n }], { replication: 1 });
    await first.stop();

    const namenode = await harness.start(folder);
    const chunkA = a.chunks[0]!;
    // dn1 holds a replica no file refers to; while in safe mode it must survive.
    const holder = await harness.datanode(namenode, "dn1", {
      chunks: [{ id: 999n, generation: 1n, size: 5 }],
    });
    const before = holder.heartbeats;
    await waitFor(() => holder.heartbeats >= before + 3, deadlineMs, {
      what: "three heartbeats in safe mode",
    });
    assert.is(namenode.safeMode.active, true);
    assert.not.ok(holder.deletes.has(999n), "a delete went out during safe mode");

    await harness.datanode(namenode, "dn2", {
      chunks: [{ id: chunkA.id, generation: chunkA.generation, size: chunkA.size }],
    });
    await waitFor(() => holder.deletes.has(999n), deadlineMs, {
      what: "the postponed delete after leaving safe mode",
    });
    assert.is(namenode.safeMode.active, false);
  } finally {
    await harness.cleanup();
  }
});

// ---------------------------------------------------------------------------------------
// Reports

test("FSCK and DATANODE_REPORT answer with the fields DESIGN.md names", async () => {
  const harness = new Harness();
  try {
    const namenode = await harness.start(await harness.folder());
    const client = await harness.client(namenode);
    const datanodes = await Promise.all(
      ["dn1", "dn2"].map((id) =>
        harness.datanode(namenode, id, { capacityBytes: 1024 ** 3, rack: "/r1" }),
      ),
    );
    await writeFile(client, "/dir/f", [{ size: 10, xxh64: 1n }], {
      replication: 2,
      reportFrom: datanodes,
    });
    await writeFile(client, "/dir/g", [{ size: 10, xxh64: 2n }], {
      replication: 3,
      reportFrom: datanodes,
    });

    const fsck = await client.request("FSCK", { path: "/" });
    for (const field of [
      "files",
      "chunks",
      "healthy",
      "underReplicated",
      "overReplicated",
      "corrupt",
      "missing",
    ]) {
      assert.type((fsck as unknown as Record<string, unknown>)[field], "number", field);
    }
    assert.equal(
      { ...fsck, problems: undefined },
      {
        files: 2,
        chunks: 2,
        healthy: 1,
        underReplicated: 1,
        overReplicated: 0,
        corrupt: 0,
        missing: 0,
        problems: undefined,
      },
    );
    assert.equal(
      fsck.problems.map((problem) => [problem.path, problem.status, problem.liveReplicas]),
      [["/dir/g", "under-replicated", 2]],
    );
    assert.is((await client.request("FSCK", { path: "/dir/f" })).files, 1);
    assert.is((await rejection(client.request("FSCK", { path: "/nope" }))).code, "NOT_FOUND");

    const { datanodes: report } = await client.request("DATANODE_REPORT", {});
    assert.equal(report.map((entry) => entry.id).sort(), ["dn1", "dn2"]);
    for (const entry of report) {
      assert.is(entry.address, `${entry.id}.invalid:9866`);
      assert.is(entry.state, "live");
      assert.is(entry.capacityBytes, 1024 ** 3);
      assert.is(entry.usedBytes, 0);
      assert.is(entry.chunks, 2);
      assert.type(entry.lastHeartbeatMsAgo, "number");
      assert.ok(entry.lastHeartbeatMsAgo < 500);
      assert.is(entry.rack, "/r1");
    }
  } finally {
    await harness.cleanup();
  }
});

test.run();
