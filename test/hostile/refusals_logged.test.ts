/**
 * Every refusal is logged once, with the peer's address, by the real daemon processes: a
 * wrong cluster secret and a replayed handshake at the NameNode's and the DataNode's ports,
 * and chunk tokens that are forged, expired, for another chunk, generation or operation, or
 * not tokens at all, for writes and reads at the DataNode. Each attempt has its own socket
 * (so its own address in the log) and each token its own chunk id, so that a line missing,
 * doubled, or naming the wrong peer shows.
 */
import { connect, type Socket } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type ChunkOperation,
  Connection,
  initiateHandshake,
  mintChunkToken,
  xxh64,
} from "#protocol";
import type { Daemon } from "../helpers/daemon.js";
import { ProcessCluster } from "../helpers/process_cluster.js";
import { waitFor } from "../helpers/wait.js";

let cluster: ProcessCluster;

test.before(async () => {
  cluster = await ProcessCluster.start({ datanodes: 1 });
});

test.after(async () => {
  await cluster?.stop();
});

function portOf(daemon: Daemon, message: string): number {
  const line = daemon.lines.find((entry) => entry.msg === message);
  if (line === undefined) throw new Error(`No "${message}" line`);
  return Number(line.port);
}

/** Each socket's local port, kept: a destroyed socket no longer tells it. */
const localPorts = new WeakMap<Socket, number>();

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.on("error", () => {});
      localPorts.set(socket, socket.localPort!);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once("close", () => resolve());
  });
}

/** The address the daemon sees for our socket, as it logs it. */
function addressOf(socket: Socket): RegExp {
  return new RegExp(`^(::ffff:)?127\\.0\\.0\\.1:${localPorts.get(socket)}$`);
}

function linesFor(daemon: Daemon, message: string): Record<string, unknown>[] {
  return daemon.lines.filter((line) => line.msg === message);
}

for (const [name, logged] of [
  ["NameNode", "NameNode listening"],
  ["DataNode", "DataNode started"],
] as const) {
  test(`the ${name} logs a wrong secret and a replayed handshake once each, naming the peer`, async () => {
    const daemon = name === "NameNode" ? cluster.namenode : cluster.datanode(0)!;
    const port = portOf(daemon, logged);
    const before = linesFor(daemon, "connection refused").length;

    const wrong = await openSocket(port);
    const wrongSecret = Buffer.from("not-the-cluster-secret-0123456789abcdef");
    await initiateHandshake(wrong, { secret: wrongSecret, role: "client" }).catch(() => {});

    // What a genuine client sends, recorded, then sent again on a new connection.
    const genuine = await openSocket(port);
    const sent: Buffer[] = [];
    const write = genuine.write.bind(genuine);
    genuine.write = ((bytes: Uint8Array) => {
      sent.push(Buffer.from(bytes));
      return write(bytes);
    }) as typeof genuine.write;
    await initiateHandshake(genuine, { secret: cluster.secret, role: "client" });
    genuine.destroy();
    const replayed = await openSocket(port);
    replayed.write(Buffer.concat(sent));
    replayed.resume();
    await Promise.all([closed(wrong), closed(replayed)]);

    const refusals = () => linesFor(daemon, "connection refused").slice(before);
    await waitFor(() => refusals().length >= 2, 5_000, { what: "both refusals to be logged" });
    // One valid request after, so that a late duplicate line would have arrived by now.
    await cluster.client.report();
    const lines = refusals();
    assert.is(lines.length, 2, JSON.stringify(lines));
    for (const [socket, what] of [
      [wrong, "wrong secret"],
      [replayed, "replayed handshake"],
    ] as const) {
      const matching = lines.filter((line) => addressOf(socket).test(String(line.remote)));
      assert.is(matching.length, 1, `one line for the ${what}`);
      assert.is(matching[0]?.code, "AUTH_FAILED", what);
      assert.is(matching[0]?.level, 40, `${what} is a warning`);
    }
  });
}

test("the DataNode logs every refused chunk token once, naming the peer and the chunk", async () => {
  const datanode = cluster.datanode(0)!;
  const socket = await openSocket(portOf(datanode, "DataNode started"));
  const { leftover } = await initiateHandshake(socket, {
    secret: cluster.secret,
    role: "client",
  });
  const connection = new Connection(socket, { initiator: true, leftover });
  try {
    const before = linesFor(datanode, "chunk token refused").length;
    const inOneMinute = Date.now() + 60_000;
    const otherSecret = Buffer.from("another-cluster-secret-0123456789abcdef");
    // Chunk ids far above any the NameNode hands out, one per case.
    let nextChunkId = 1n << 50n;
    const cases: { what: string; operation: ChunkOperation; token: (id: bigint) => Uint8Array }[] =
      [];
    for (const operation of ["write", "read"] as const) {
      const grant = (id: bigint) => ({ chunkId: id, generation: 1n, operation });
      cases.push(
        {
          what: `forged ${operation}`,
          operation,
          token: (id) => mintChunkToken(otherSecret, { ...grant(id), expiresAtMs: inOneMinute }),
        },
        {
          what: `expired ${operation}`,
          operation,
          token: (id) =>
            mintChunkToken(cluster.secret, { ...grant(id), expiresAtMs: Date.now() - 1_000 }),
        },
        {
          what: `${operation} for another chunk`,
          operation,
          token: (id) =>
            mintChunkToken(cluster.secret, {
              ...grant(id + 1_000_000n),
              expiresAtMs: inOneMinute,
            }),
        },
        {
          what: `${operation} for another generation`,
          operation,
          token: (id) =>
            mintChunkToken(cluster.secret, {
              ...grant(id),
              generation: 2n,
              expiresAtMs: inOneMinute,
            }),
        },
        {
          what: `${operation} with a token for another operation`,
          operation,
          token: (id) =>
            mintChunkToken(cluster.secret, {
              ...grant(id),
              operation: operation === "read" ? "write" : "read",
              expiresAtMs: inOneMinute,
            }),
        },
        {
          what: `${operation} with bytes that are not a token`,
          operation,
          token: () => Buffer.alloc(58, 7),
        },
      );
    }
    const chunkIds = new Map<string, bigint>();
    for (const { what, operation, token } of cases) {
      const chunkId = nextChunkId++;
      chunkIds.set(what, chunkId);
      const refused =
        operation === "write"
          ? await writeOneFrame(connection, chunkId, token(chunkId))
          : await connection
              .request("READ_CHUNK", {
                chunkId,
                generation: 1n,
                token: token(chunkId),
                offset: 0,
                length: 100,
              })
              .then(
                () => "served",
                (error: { code: string }) => error.code,
              );
      assert.is(refused, "ACCESS_DENIED", what);
    }
    const refusals = () => linesFor(datanode, "chunk token refused").slice(before);
    await waitFor(() => refusals().length >= cases.length, 5_000, {
      what: "every refused token to be logged",
    });
    await connection.request("PING", {});
    const lines = refusals();
    assert.is(lines.length, cases.length);
    for (const [what, chunkId] of chunkIds) {
      const matching = lines.filter((line) => line.chunkId === String(chunkId));
      assert.is(matching.length, 1, `one line for the ${what}`);
      assert.match(String(matching[0]?.remote), addressOf(socket), what);
      assert.is(matching[0]?.level, 40, `${what} is a warning`);
    }
  } finally {
    connection.close();
  }
});

/** Opens a WRITE_CHUNK with `token` and sends one frame; resolves with the error code. */
async function writeOneFrame(
  connection: Connection,
  chunkId: bigint,
  token: Uint8Array,
): Promise<string> {
  const write = await connection.open("WRITE_CHUNK", {
    chunkId,
    generation: 1n,
    token,
    downstream: [],
  });
  const bytes = Buffer.alloc(100, 1);
  await write
    .sendData({ chunkId, offset: 0n, bytes, xxh64: xxh64(bytes), end: true })
    .catch(() => {});
  return write.response.then(
    () => "stored",
    (error: { code: string }) => error.code,
  );
}

test.run();
