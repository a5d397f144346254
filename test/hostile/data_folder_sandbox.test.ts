/**
 * No daemon writes outside its data folder, whatever a client sends. A NameNode and a
 * DataNode run as processes with their working directory inside a temp sandbox; they get
 * paths and ids built to escape (`..`, absolute paths into the sandbox, NUL, long names) in
 * every string field of every message, chunk writes with crafted ids and generations under
 * valid tokens, and then the fuzzer with the sandbox's own paths added to its strings. Every
 * file and folder of the sandbox outside the two data folders must be as it was before the
 * daemons started, no path anywhere may carry a hostile name, and the daemons still serve.
 */
import { lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BigFsClient } from "#client";
import {
  type BigFsError,
  type Connection,
  dial,
  loadSecret,
  type MessageName,
  type RequestOf,
} from "#protocol";
import { fuzzDaemon } from "../fuzz/daemon_fuzzer.js";
import { edgeU64s, hostileStrings } from "../fuzz/hostile_values.js";
import {
  hostileRequestBody,
  type RequestContext,
  requestNames,
  stringFieldsOf,
} from "../fuzz/request_bodies.js";
import { SeededRandom } from "../fuzz/seeded_random.js";
import { chunkBytes, readChunk, tokenFor, writeChunk } from "../helpers/chunk_client.js";
import { type Daemon, makeWorkspace, startDaemon } from "../helpers/daemon.js";

const seed = 4_242;

/** What a path is, for comparing trees: type, size, mode and when its content changed. */
type Entry = string;

async function snapshot(root: string, skip: readonly string[]): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  const walk = async (folder: string) => {
    for (const name of await readdir(folder)) {
      const path = join(folder, name);
      if (skip.includes(path)) continue;
      const info = await lstat(path);
      const kind = info.isDirectory() ? "dir" : info.isSymbolicLink() ? "link" : "file";
      entries.set(path, `${kind} ${info.size} ${info.mode.toString(8)} ${info.mtimeMs}`);
      if (info.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return entries;
}

/** Every path under `root`, data folders included. */
async function allPaths(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.map((entry) => join(root, entry));
}

function lineOf(daemon: Daemon, message: string): Record<string, unknown> {
  const line = daemon.lines.find((entry) => entry.msg === message);
  if (line === undefined) throw new Error(`No "${message}" line`);
  return line;
}

/** Sends `body` as `name`; resolves with the error code of the answer, "ok" when none. */
async function ask(connection: Connection, name: MessageName, body: unknown): Promise<string> {
  return connection.request(name, body as RequestOf<typeof name>, { timeoutMs: 10_000 }).then(
    () => "ok",
    (error: BigFsError) => error.code,
  );
}

test("no daemon writes outside its data folder, whatever a client sends", async () => {
  const workspace = await makeWorkspace();
  const sandbox = workspace.dir;
  const cwd = join(sandbox, "cwd");
  const namenodeDir = join(sandbox, "namenode");
  const datanodeDir = join(sandbox, "datanode");
  await mkdir(cwd);
  await mkdir(join(sandbox, "outside"));
  await writeFile(join(sandbox, "outside", "bait.txt"), "do not touch\n");
  await writeFile(join(cwd, "bait.txt"), "do not touch either\n");
  const before = await snapshot(sandbox, [namenodeDir, datanodeDir]);
  const secret = await loadSecret(workspace.secretFile);
  const daemons: Daemon[] = [];
  const connections: Connection[] = [];
  let client: BigFsClient | undefined;
  try {
    const namenode = startDaemon(
      "namenode/main.js",
      [
        ...["--data-dir", namenodeDir, "--secret-file", workspace.secretFile],
        ...["--port", "0", "--http-port", "0"],
      ],
      {},
      { cwd },
    );
    daemons.push(namenode);
    await namenode.waitForLine((line) => line.msg === "NameNode listening");
    const namenodeLine = lineOf(namenode, "NameNode listening");
    const namenodeAddress = { host: "127.0.0.1", port: Number(namenodeLine.port) };
    const datanode = startDaemon(
      "datanode/main.js",
      [
        ...["--data-dir", datanodeDir, "--secret-file", workspace.secretFile, "--port", "0"],
        ...["--http-port", "0", "--namenode", `127.0.0.1:${namenodeAddress.port}`],
      ],
      {},
      { cwd },
    );
    daemons.push(datanode);
    await datanode.waitForLine((line) => line.msg === "registered with the NameNode");
    const datanodeLine = lineOf(datanode, "DataNode started");
    const datanodeAddress = { host: "127.0.0.1", port: Number(datanodeLine.port) };

    client = await BigFsClient.connect({ namenode: namenodeAddress, secret });
    const content = chunkBytes(100_000);
    await client.put(Readable.from([content]), "/kept", { replication: 1 });

    // Strings aimed at this very sandbox, absolute and relative to the daemons' folders.
    const aimed = [
      join(sandbox, "escaped"),
      join(cwd, "escaped"),
      join(sandbox, "outside", "bait.txt"),
      join(namenodeDir, "..", "escaped"),
      join(datanodeDir, "..", "..", "escaped"),
      "../outside/bait.txt",
      "bait.txt",
      `${sandbox}/\0escaped`,
    ];
    const context: RequestContext = {
      secret,
      addresses: [String(datanodeLine.address), "127.0.0.1:1"],
      extraStrings: aimed,
    };

    // Every string field of every message, each hostile string in turn, at both daemons;
    // cut to the field's bound, so that each one passes the decoder and reaches a handler.
    const random = new SeededRandom(seed);
    for (const address of [namenodeAddress, datanodeAddress]) {
      const connection = await dial(address, { secret, role: "client" });
      connections.push(connection);
      const answers: Promise<string>[] = [];
      for (const name of requestNames) {
        for (const { field, lengthMax } of stringFieldsOf(name)) {
          for (const value of [...hostileStrings, ...aimed]) {
            const body = hostileRequestBody(name, random, context) as Record<string, unknown>;
            answers.push(ask(connection, name, { ...body, [field]: value.slice(0, lengthMax) }));
          }
        }
      }
      const codes = await Promise.all(answers);
      assert.ok(codes.length > 2_000, `only ${codes.length} hostile requests`);
      // Refused one by one, never by closing the connection (as a malformed frame would be).
      assert.not.ok(codes.includes("UNAVAILABLE"), "the connection closed");
      assert.not.ok(codes.includes("PROTOCOL"), "a request was refused as malformed");
    }

    // Chunks with crafted ids and generations, under tokens the DataNode accepts.
    const data = await dial(datanodeAddress, { secret, role: "client" });
    connections.push(data);
    const crafted = edgeU64s.filter((id) => id === 0n || id >= 2n ** 32n);
    for (const chunkId of crafted) {
      for (const generation of [0n, 1n, 2n ** 63n, 2n ** 64n - 1n]) {
        const bytes = chunkBytes(1000);
        await writeChunk(data, bytes, { secret, chunkId, generation }).catch(() => {});
        await readChunk(data, { secret, chunkId, generation }).catch(() => {});
        await readChunk(data, {
          secret,
          chunkId,
          generation,
          token: tokenFor(secret, chunkId, generation, "read"),
          offset: 2 ** 40,
        }).catch(() => {});
      }
    }

    // And the fuzzer, with the aimed strings among its own.
    for (const [name, address, http, daemon] of [
      ["NameNode", namenodeAddress, Number(namenodeLine.httpPort), namenode],
      ["DataNode", datanodeAddress, Number(datanodeLine.httpPort), datanode],
    ] as const) {
      await fuzzDaemon(
        {
          name,
          protocol: address,
          http: { host: "127.0.0.1", port: http },
          alive: () => daemon.child.exitCode === null && daemon.child.signalCode === null,
        },
        {
          seed,
          inputs: 10_000,
          context,
          emphasis: { favoured: [], writeStreams: name === "DataNode" },
          protocolLanes: 6,
          validCheck: async () => {
            await client!.stat("/kept");
          },
        },
      );
    }

    // Still serving: the file put before reads back, and a new one goes in.
    const pieces: Buffer[] = [];
    for await (const piece of client.createReadStream("/kept")) pieces.push(piece as Buffer);
    assert.ok(Buffer.concat(pieces).equals(content), "the file put before reads back whole");
    await client.put(Readable.from([chunkBytes(10_000)]), "/after", { replication: 1 });
    assert.is((await client.stat("/after")).entry.size, 10_000);
  } finally {
    await client?.close();
    for (const connection of connections) connection.close();
    // Stopped before looking: shutting down writes too (a checkpoint, a released lock).
    for (const daemon of daemons.reverse()) await daemon.stop();
  }
  try {
    const after = await snapshot(sandbox, [namenodeDir, datanodeDir]);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
      (path) => before.get(path) !== after.get(path),
    );
    assert.equal(changed, [], "paths created, changed or removed outside the data folders");
    const hostileNamed = (await allPaths(sandbox)).filter((path) => /escaped|\0/.test(path));
    assert.equal(hostileNamed, [], "paths named after hostile input, data folders included");
    for (const daemon of daemons) {
      const errors = daemon.lines.filter((line) => Number(line.level) >= 50);
      assert.equal(errors, [], "error lines in a daemon's log");
    }
  } finally {
    await workspace.remove();
  }
});

test.run();
