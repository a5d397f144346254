/**
 * Thousands of random byte strings thrown at a live server socket: strangers sending noise,
 * peers with a good preface and then noise, and authenticated peers sending bit-flipped,
 * truncated and oversized frames. The server must keep answering a valid client throughout,
 * close every broken connection, and keep its memory bounded.
 */
import { connect, type Socket } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  BigFsError,
  type BigFsServer,
  type Connection,
  cbor,
  dial,
  encodeCancelFrame,
  encodeControlFrame,
  encodeDataFrameHeader,
  encodeErrorFrame,
  encodePreface,
  FrameKind,
  initiateHandshake,
  listen,
  Messages,
  Pushes,
  payloadBytesMaxDefault,
} from "#protocol";
import { SeededRandom } from "../fuzz/seeded_random.js";
import { waitFor } from "../helpers/wait.js";

const seed = Number(process.env.BIGFS_FUZZ_SEED ?? 0xb16f5) >>> 0;
const iterations = 3000;
const concurrency = 8;
const checkEvery = 500;
const closeDeadlineMs = 3_000;
const memoryGrowthBytesMax = 200 * 1024 * 1024;
const secret = Buffer.from("fuzz-test-cluster-secret-0123456789abcdef", "latin1");

const random = new SeededRandom(seed);
const below = (limit: number) => random.below(limit);
const randomBytesOf = (length: number) => random.bytes(length);

/** Valid frames a client could send after the handshake; the fuzzer mutates them. */
function validFrame(): Buffer {
  const requestId = 2 * below(1000) + 1;
  switch (below(8)) {
    case 0:
      return encodeControlFrame(FrameKind.REQUEST, Messages.PING.opcode, requestId, {});
    case 1:
      return encodeControlFrame(FrameKind.REQUEST, Messages.LIST.opcode, requestId, {
        path: "/user/fuzz",
      });
    case 2:
      return encodeControlFrame(FrameKind.REQUEST, Messages.WRITE_CHUNK.opcode, requestId, {
        chunkId: 1n << 63n,
        generation: 1n,
        token: randomBytesOf(64),
        downstream: [{ id: "dn-1", address: "127.0.0.1:1" }],
      });
    case 3: {
      const data = randomBytesOf(below(2000));
      const header = encodeDataFrameHeader({
        requestId,
        chunkId: 7n,
        offset: 0n,
        dataBytes: data.byteLength,
        xxh64: 0n,
        end: random.chance(0.5),
      });
      return Buffer.concat([header, data]);
    }
    case 4:
      return encodeCancelFrame(requestId);
    case 5:
      return encodeControlFrame(FrameKind.PUSH, Pushes.NOTICE.opcode, 0, { message: "hello" });
    case 6:
      return encodeControlFrame(FrameKind.MESSAGE, Messages.WRITE_CHUNK.opcode, requestId, {
        ackedBytes: 4096,
      });
    default:
      return encodeErrorFrame(Messages.PING.opcode, requestId, "NOT_FOUND", "no such thing");
  }
}

/** A valid frame, or one with flipped bits, cut short, with a huge length, or with noise after. */
function fuzzedFrame(): Buffer {
  const frame = Buffer.from(validFrame());
  switch (below(6)) {
    case 0:
      return frame;
    case 1: {
      for (let flips = 1 + below(8); flips > 0; flips--) {
        frame[below(frame.byteLength)]! ^= 1 << below(8);
      }
      return frame;
    }
    case 2:
      return frame.subarray(0, below(frame.byteLength));
    case 3:
      frame.writeUInt32BE(
        random.chance(0.5) ? 0xffff_ffff : payloadBytesMaxDefault + 1 + below(1e6),
        0,
      );
      return frame;
    case 4: {
      // A length the server accepts, followed by far fewer bytes than it declares.
      frame.writeUInt32BE(payloadBytesMaxDefault - below(1024), 0);
      return Buffer.concat([frame, randomBytesOf(below(65_536))]);
    }
    default:
      return Buffer.concat([frame, randomBytesOf(below(300))]);
  }
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, noDelay: true });
    // The server hangs up on most of what we send: resets and broken pipes are expected.
    socket.on("error", () => {});
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Ends our side, waits (with a deadline) for the server to close too, then destroys. */
async function finish(socket: Socket): Promise<void> {
  socket.resume();
  socket.end();
  if (!socket.destroyed) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        counts.closeTimedOut++;
        resolve();
      }, closeDeadlineMs);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  socket.destroy();
}

interface Counts {
  noise: number;
  prefaceThenNoise: number;
  wrongProof: number;
  authenticated: number;
  framesSent: number;
  pingsAnswered: number;
  rejected: number;
  protocolClosed: number;
  /** Sockets the server had not closed `closeDeadlineMs` after we ended ours. */
  closeTimedOut: number;
}

const counts: Counts = {
  noise: 0,
  prefaceThenNoise: 0,
  wrongProof: 0,
  authenticated: 0,
  framesSent: 0,
  pingsAnswered: 0,
  rejected: 0,
  protocolClosed: 0,
  closeTimedOut: 0,
};

async function fuzzOnce(port: number): Promise<void> {
  const socket = await openSocket(port);
  try {
    const mode = below(10);
    if (mode < 3) {
      counts.noise++;
      const noise = randomBytesOf(below(600));
      // Sometimes in pieces, as TCP may deliver it.
      const at = below(noise.byteLength + 1);
      socket.write(noise.subarray(0, at));
      socket.write(noise.subarray(at));
    } else if (mode < 5) {
      counts.prefaceThenNoise++;
      socket.write(Buffer.concat([encodePreface("client"), randomBytesOf(below(600))]));
    } else if (mode < 6) {
      counts.wrongProof++;
      socket.write(encodePreface("client"));
      socket.write(
        encodeControlFrame(FrameKind.REQUEST, Messages.AUTH.opcode, 1, {
          proof: randomBytesOf(32),
        }),
      );
    } else {
      await initiateHandshake(socket, { secret, role: "client", timeoutMs: 10_000 });
      counts.authenticated++;
      // initiateHandshake leaves the socket paused for a Connection; we only drain it.
      socket.resume();
      for (let frames = 1 + below(4); frames > 0; frames--) {
        socket.write(fuzzedFrame());
        counts.framesSent++;
      }
    }
  } finally {
    await finish(socket);
  }
}

let server: BigFsServer;
let client: Connection;

async function pingFromValidClient(when: string): Promise<void> {
  const answer = await client.request("PING", {}, { timeoutMs: 10_000 });
  assert.type(answer.timeMs, "number", `PING answer ${when}`);
  assert.ok(Math.abs(answer.timeMs - Date.now()) < 60_000, `PING time ${when}`);
  assert.not.ok(client.closed, `valid client closed ${when}`);
}

test.before(async () => {
  // uvu reports a failing hook without its error: say what went wrong.
  try {
    await start();
  } catch (error) {
    console.error("Cannot start the fuzz test's server and client:", error);
    throw error;
  }
});

async function start(): Promise<void> {
  server = await listen({
    port: 0,
    host: "127.0.0.1",
    secret,
    role: "namenode",
    handshakeTimeoutMs: 5_000,
    handler: async (request) => {
      if (request.name === "PING") {
        counts.pingsAnswered++;
        return { timeMs: Date.now() };
      }
      throw new BigFsError("INVALID_ARGUMENT", `Cannot serve ${request.name}: not in this test`);
    },
    onReject: (_remote, error) => {
      if (error.code === "PROTOCOL") counts.protocolClosed++;
      counts.rejected++;
    },
  });
  client = await dial(server.address, { secret, role: "client" });
}

test.after(async () => {
  client?.close();
  await server?.close();
});

test(`${iterations} random byte strings at a live server socket leave it serving valid clients, with bounded memory (seed ${seed})`, async () => {
  await pingFromValidClient("before fuzzing");
  const validClients = server.connections.size;
  assert.is(validClients, 1);
  const before = process.memoryUsage();

  let next = 0;
  const worker = async () => {
    while (next < iterations) {
      const iteration = next++;
      try {
        await fuzzOnce(server.address.port);
      } catch (error) {
        throw new Error(`Fuzz iteration ${iteration} (seed ${seed}) failed: ${String(error)}`, {
          cause: error,
        });
      }
      if ((iteration + 1) % checkEvery === 0) {
        // The other workers keep fuzzing while this one checks.
        await pingFromValidClient(`after ${iteration + 1} iterations (seed ${seed})`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pingFromValidClient(`after all ${iterations} iterations (seed ${seed})`);

  await waitFor(() => server.connections.size === validClients, 10_000, {
    what: `the server's connections to return to ${validClients} (seed ${seed})`,
  });

  const after = process.memoryUsage();
  const rssGrowth = after.rss - before.rss;
  const heapGrowth = after.heapUsed - before.heapUsed;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  console.log(
    `  fuzz seed ${seed}: ${JSON.stringify(counts)}; rss ${mib(before.rss)} -> ${mib(after.rss)}, heapUsed ${mib(before.heapUsed)} -> ${mib(after.heapUsed)}`,
  );
  assert.ok(rssGrowth < memoryGrowthBytesMax, `rss grew by ${mib(rssGrowth)}`);
  assert.ok(heapGrowth < memoryGrowthBytesMax, `heapUsed grew by ${mib(heapGrowth)}`);

  assert.is(counts.closeTimedOut, 0, "sockets the server left open after the peer hung up");
  // The fuzzer reached every part of the server it claims to test.
  assert.ok(counts.authenticated > iterations / 5, `only ${counts.authenticated} handshakes`);
  assert.ok(counts.rejected > iterations / 3, `only ${counts.rejected} rejections`);
  assert.ok(counts.protocolClosed > 100, `only ${counts.protocolClosed} protocol closes`);
  assert.ok(counts.pingsAnswered > 10, `only ${counts.pingsAnswered} fuzzed PINGs answered`);
});

test("after the fuzzing a new valid client connects and is answered", async () => {
  const second = await dial(server.address, { secret, role: "client" });
  try {
    const answer = await second.request("PING", {}, { timeoutMs: 10_000 });
    assert.type(answer.timeMs, "number");
    await waitFor(() => server.connections.size === 2, 5_000);
  } finally {
    second.close();
  }
  await waitFor(() => server.connections.size === 1, 5_000, {
    what: "the second client's connection to close on the server",
  });
  await pingFromValidClient("after a second client came and went");
});

test("an authenticated peer that sends an oversized frame is told PROTOCOL and closed", async () => {
  const socket = await openSocket(server.address.port);
  try {
    await initiateHandshake(socket, { secret, role: "client" });
    const received: Buffer[] = [];
    socket.on("data", (bytes: Buffer) => received.push(bytes));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.resume();
    const header = encodeControlFrame(FrameKind.REQUEST, Messages.PING.opcode, 1, {});
    header.writeUInt32BE(0xffff_ffff, 0);
    socket.write(header);
    await waitFor(() => socket.destroyed || socket.readableEnded, 5_000, {
      what: "the server to close the connection",
    });
    await closed;
    const answer = Buffer.concat(received);
    assert.is(answer.readUInt8(4), FrameKind.ERROR);
    const [code, message] = cbor.decode(answer.subarray(12, 12 + answer.readUInt32BE(0)));
    assert.is(code, 15, "PROTOCOL");
    assert.match(message, /exceeds the maximum/);
  } finally {
    socket.destroy();
  }
  await pingFromValidClient("after an oversized frame");
});

test.run();
