import { connect, type Socket } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsError,
  type BigFsServer,
  type Connection,
  dial,
  encodeControlFrame,
  type Frame,
  FrameDecoder,
  FrameKind,
  initiateHandshake,
  type ListenOptions,
  listen,
  Messages,
  prefaceBytes,
  type RefusedConnections,
} from "#protocol";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("hostile-test-secret-0123456789ab");
const pingFrame = encodeControlFrame(FrameKind.REQUEST, Messages.PING.opcode, 1, {});

interface Harness {
  server: BigFsServer;
  served: number;
  rejects: { remote: string; error: BigFsError }[];
  refusals: RefusedConnections[];
}

async function startServer(options: Partial<ListenOptions> = {}): Promise<Harness> {
  const harness = { served: 0, rejects: [], refusals: [] } as unknown as Harness;
  harness.server = await listen({
    port: 0,
    secret,
    role: "namenode",
    handler: async () => {
      harness.served++;
      return { timeMs: Date.now() };
    },
    onReject: (remote, error) => harness.rejects.push({ remote, error }),
    onRefused: (refused) => harness.refusals.push(refused),
    ...options,
  });
  return harness;
}

/** A raw TCP socket that records what it receives and whether the server closed it. */
interface RawPeer {
  socket: Socket;
  received: Buffer[];
  closed: boolean;
  /** The address the server sees, as `onReject` names it. */
  remote: string;
}

function rawPeer(port: number): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const peer: RawPeer = { socket, received: [], closed: false, remote: "" };
    socket.on("data", (piece: Buffer) => peer.received.push(piece));
    socket.on("close", () => {
      peer.closed = true;
    });
    socket.once("connect", () => {
      peer.remote = `127.0.0.1:${socket.localPort}`;
      socket.on("error", () => {});
      resolve(peer);
    });
    socket.once("error", reject);
  });
}

/** Frames the server sent a raw peer after its preface. */
function framesFrom(peer: RawPeer, afterBytes = prefaceBytes): Frame[] {
  return new FrameDecoder().push(Buffer.concat(peer.received).subarray(afterBytes)).frames;
}

/** Completes the handshake on a raw peer, leaving its socket flowing into `received`. */
async function authenticate(peer: RawPeer): Promise<void> {
  await initiateHandshake(peer.socket, { secret, role: "client" });
  peer.received.length = 0;
  peer.socket.resume();
}

function closeAll(peers: RawPeer[]): void {
  for (const peer of peers) peer.socket.destroy();
}

test("a peer that stalls halfway through a frame is cut off; other clients are served", async () => {
  const harness = await startServer({ frameTimeoutMs: 300 });
  const client = await dial(harness.server.address, { secret, role: "client" });
  const stalled = await rawPeer(harness.server.address.port);
  try {
    await authenticate(stalled);
    stalled.socket.write(pingFrame.subarray(0, 7));
    // The valid client keeps asking while the stalled peer waits for its deadline.
    await waitFor(
      async () => {
        await client.request("PING", {});
        return stalled.closed;
      },
      5_000,
      { what: "the server to cut off the stalled peer" },
    );
    assert.ok(harness.served > 1, `only ${harness.served} PINGs served meanwhile`);
    const error = framesFrom(stalled, 0).find((frame) => frame.kind === FrameKind.ERROR);
    assert.is(error?.kind === FrameKind.ERROR && error.code, "PROTOCOL");
    assert.is(harness.rejects.length, 1);
    assert.is(harness.rejects[0]?.remote, stalled.remote);
    assert.match(harness.rejects[0]?.error.message ?? "", /sent part of a frame .* stalled/);
    assert.not.ok(client.closed);
    await client.request("PING", {});
    assert.is(harness.server.connections.size, 1);
  } finally {
    closeAll([stalled]);
    client.close();
    await harness.server.close();
  }
});

test("a frame that keeps arriving slowly is not cut off, however long it takes", async () => {
  const harness = await startServer({ frameTimeoutMs: 400 });
  const slow = await rawPeer(harness.server.address.port);
  try {
    await authenticate(slow);
    // 13 bytes, one every 60 ms: twice the frame deadline in all, never a stall of one.
    for (const byte of pingFrame) {
      slow.socket.write(Buffer.of(byte));
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    await waitFor(() => framesFrom(slow, 0).some((f) => f.kind === FrameKind.RESPONSE), 5_000, {
      what: "the PING response",
    });
    assert.is(harness.served, 1);
    assert.not.ok(slow.closed);
    assert.is(harness.rejects.length, 0);
  } finally {
    closeAll([slow]);
    await harness.server.close();
  }
});

test("a peer that connects and sends nothing is closed by the handshake deadline", async () => {
  const harness = await startServer({ handshakeTimeoutMs: 300 });
  const silent = await rawPeer(harness.server.address.port);
  try {
    await waitFor(() => silent.closed, 5_000, { what: "the server to close the silent peer" });
    assert.is(harness.rejects.length, 1);
    assert.is(harness.rejects[0]?.error.code, "TIMEOUT");
    assert.is(harness.rejects[0]?.remote, silent.remote);
    assert.is(harness.server.handshakes, 0);
  } finally {
    closeAll([silent]);
    await harness.server.close();
  }
});

test("sockets beyond handshakesMax are closed at once and reported in few lines", async () => {
  const harness = await startServer({ handshakesMax: 4, refusedReportIntervalMs: 1_000 });
  const holders: RawPeer[] = [];
  const flood: RawPeer[] = [];
  try {
    for (let i = 0; i < 4; i++) holders.push(await rawPeer(harness.server.address.port));
    await waitFor(() => harness.server.handshakes === 4, 5_000);
    for (let i = 0; i < 30; i++) flood.push(await rawPeer(harness.server.address.port));
    await waitFor(() => flood.every((peer) => peer.closed), 5_000, {
      what: "the server to close every socket over the bound",
    });
    assert.ok(
      flood.every((peer) => peer.received.length === 0),
      "a refused socket got a preface",
    );
    assert.is(harness.server.refusedConnections, 30);
    await waitFor(
      () => harness.refusals.reduce((sum, report) => sum + report.overHandshakesMax, 0) === 30,
      5_000,
      { what: "every refusal to be reported" },
    );
    assert.ok(harness.refusals.length <= 3, `${harness.refusals.length} reports for one flood`);
    assert.ok(holders.every((peer) => !peer.closed));

    closeAll(holders);
    await waitFor(() => harness.server.handshakes === 0, 5_000);
    const client = await dial(harness.server.address, { secret, role: "client" });
    await client.request("PING", {});
    assert.is(harness.server.connections.size, 1);
    client.close();
    await waitFor(() => harness.server.connections.size === 0, 5_000);
  } finally {
    closeAll([...holders, ...flood]);
    await harness.server.close();
  }
});

test("sockets beyond connectionsMax are refused, and a freed slot serves a new client", async () => {
  const harness = await startServer({ connectionsMax: 3 });
  const clients: Connection[] = [];
  const flood: RawPeer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      clients.push(await dial(harness.server.address, { secret, role: "client" }));
    }
    for (let i = 0; i < 10; i++) flood.push(await rawPeer(harness.server.address.port));
    await waitFor(() => flood.every((peer) => peer.closed), 5_000, {
      what: "the server to close every socket over the bound",
    });
    assert.is(harness.server.refusedConnections, 10);
    assert.is(harness.refusals[0]?.overConnectionsMax, 1);
    for (const client of clients) await client.request("PING", {});

    clients.shift()?.close();
    await waitFor(() => harness.server.connections.size === 2, 5_000);
    const late = await dial(harness.server.address, { secret, role: "client" });
    clients.push(late);
    await late.request("PING", {});
    assert.is(harness.server.connections.size, 3);
  } finally {
    for (const client of clients) client.close();
    closeAll(flood);
    await harness.server.close();
  }
});

test("each refused handshake is reported once, with the peer's address", async () => {
  const harness = await startServer();
  const peers: RawPeer[] = [];
  const open = async () => {
    const peer = await rawPeer(harness.server.address.port);
    peers.push(peer);
    return peer;
  };
  try {
    const wrongSecret = await open();
    const wrong = Buffer.from("not-the-cluster-secret-987654321");
    await initiateHandshake(wrongSecret.socket, { secret: wrong, role: "client" }).catch(() => {});

    // Record what a genuine client sends, then send it again on a new connection.
    const genuine = await open();
    const sent: Buffer[] = [];
    const write = genuine.socket.write.bind(genuine.socket);
    genuine.socket.write = ((bytes: Uint8Array) => {
      sent.push(Buffer.from(bytes));
      return write(bytes);
    }) as typeof genuine.socket.write;
    await initiateHandshake(genuine.socket, { secret, role: "client" });
    genuine.socket.destroy();
    const replayed = await open();
    replayed.socket.write(Buffer.concat(sent));

    const oldVersion = await open();
    await initiateHandshake(oldVersion.socket, { secret, role: "client", version: 2 }).catch(
      () => {},
    );

    const garbage = await open();
    garbage.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");

    await waitFor(() => peers.every((peer) => peer.closed), 5_000, {
      what: "every refused peer to be closed",
    });
    // One more round trip, so a late second report would have arrived by now.
    const client = await dial(harness.server.address, { secret, role: "client" });
    await client.request("PING", {});
    client.close();

    const reported = new Map(harness.rejects.map(({ remote, error }) => [remote, error.code]));
    assert.is(harness.rejects.length, 4);
    assert.is(reported.get(wrongSecret.remote), "AUTH_FAILED");
    assert.is(reported.get(replayed.remote), "AUTH_FAILED");
    assert.is(reported.get(oldVersion.remote), "PROTOCOL");
    assert.is(reported.get(garbage.remote), "PROTOCOL");
    assert.is(harness.served, 1);
  } finally {
    closeAll(peers);
    await harness.server.close();
  }
});

test.run();
