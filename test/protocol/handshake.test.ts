import { randomBytes } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsError,
  type BigFsServer,
  dial,
  encodeControlFrame,
  encodePreface,
  FrameDecoder,
  FrameKind,
  initiateHandshake,
  listen,
  Messages,
  prefaceBytes,
} from "#protocol";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("handshake-test-secret-0123456789");

interface Harness {
  server: BigFsServer;
  served: number;
  rejects: BigFsError[];
}

async function startServer(): Promise<Harness> {
  const harness = { served: 0, rejects: [] as BigFsError[] } as Harness;
  harness.server = await listen({
    port: 0,
    secret,
    role: "namenode",
    handler: async () => {
      harness.served++;
      return { timeMs: Date.now() };
    },
    onReject: (_remote, error) => harness.rejects.push(error),
  });
  return harness;
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Collects what a raw socket receives until the server closes it. */
function readUntilClosed(socket: Socket): Promise<Buffer> {
  const pieces: Buffer[] = [];
  socket.on("data", (piece: Buffer) => pieces.push(piece));
  return new Promise((resolve) => {
    socket.on("error", () => {});
    socket.on("close", () => resolve(Buffer.concat(pieces)));
  });
}

function errorFramesIn(bytes: Buffer): { code: string; message: string }[] {
  const { frames } = new FrameDecoder().push(bytes.subarray(prefaceBytes));
  return frames.flatMap((frame) =>
    frame.kind === FrameKind.ERROR ? [{ code: frame.code, message: frame.message }] : [],
  );
}

async function rejection(promise: Promise<unknown>): Promise<BigFsError> {
  try {
    await promise;
  } catch (error) {
    return error as BigFsError;
  }
  throw new Error("expected the promise to reject");
}

test("a client with the right secret connects and is served", async () => {
  const harness = await startServer();
  try {
    const connection = await dial(harness.server.address, { secret, role: "client" });
    const answer = await connection.request("PING", {});
    assert.ok(answer.timeMs > 0);
    assert.is(harness.served, 1);
    connection.close();
  } finally {
    await harness.server.close();
  }
});

test("a wrong secret is refused on both sides with AUTH_FAILED", async () => {
  const harness = await startServer();
  try {
    const wrong = Buffer.from("not-the-cluster-secret-987654321");
    const error = await rejection(dial(harness.server.address, { secret: wrong, role: "client" }));
    assert.is(error.code, "AUTH_FAILED");
    assert.match(error.message, /wrong cluster secret/);
    assert.is(harness.rejects[0]?.code, "AUTH_FAILED");
    assert.is(harness.served, 0);
  } finally {
    await harness.server.close();
  }
});

test("a client without a secret cannot even try, and an empty proof is refused", async () => {
  const harness = await startServer();
  try {
    const local = await rejection(
      dial(harness.server.address, { secret: new Uint8Array(0), role: "client" }),
    );
    assert.is(local.code, "AUTH_FAILED");
    assert.match(local.message, /at least 16 bytes/);

    const socket = await rawSocket(harness.server.address.port);
    const received = readUntilClosed(socket);
    socket.write(encodePreface("client"));
    socket.write(
      encodeControlFrame(FrameKind.REQUEST, Messages.AUTH.opcode, 1, { proof: new Uint8Array(0) }),
    );
    const errors = errorFramesIn(await received);
    assert.is(errors[0]?.code, "AUTH_FAILED");
    assert.is(harness.served, 0);
  } finally {
    await harness.server.close();
  }
});

test("a protocol version mismatch is refused with an error naming both versions", async () => {
  const harness = await startServer();
  try {
    const socket = await rawSocket(harness.server.address.port);
    const error = await rejection(
      initiateHandshake(socket, { secret, role: "client", version: 2 }),
    );
    assert.is(error.code, "PROTOCOL");
    assert.match(error.message, /peer speaks version 1, this side speaks version 2/);
    const serverSide = await waitFor(() => harness.rejects[0], 5_000);
    assert.is(serverSide.code, "PROTOCOL");
    assert.match(serverSide.message, /peer speaks version 2, this side speaks version 1/);
  } finally {
    await harness.server.close();
  }
});

test("the server logs the version mismatch of an old client", async () => {
  const harness = await startServer();
  try {
    const socket = await rawSocket(harness.server.address.port);
    const closed = readUntilClosed(socket);
    socket.write(encodePreface("client", 7));
    await closed;
    assert.is(harness.rejects[0]?.code, "PROTOCOL");
    assert.match(
      harness.rejects[0]?.message ?? "",
      /peer speaks version 7, this side speaks version 1/,
    );
  } finally {
    await harness.server.close();
  }
});

test("a request sent before authentication is refused and never served", async () => {
  const harness = await startServer();
  try {
    const socket = await rawSocket(harness.server.address.port);
    const received = readUntilClosed(socket);
    socket.write(encodePreface("client"));
    socket.write(encodeControlFrame(FrameKind.REQUEST, Messages.PING.opcode, 1, {}));
    const errors = errorFramesIn(await received);
    assert.is(errors[0]?.code, "AUTH_FAILED");
    assert.is(harness.served, 0);
    assert.match(harness.rejects[0]?.message ?? "", /request came before authentication/);
  } finally {
    await harness.server.close();
  }
});

test("garbage instead of a preface is refused as not a BigFS peer", async () => {
  const harness = await startServer();
  try {
    const socket = await rawSocket(harness.server.address.port);
    const closed = readUntilClosed(socket);
    socket.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789"));
    await closed;
    assert.is(harness.rejects[0]?.code, "PROTOCOL");
    assert.match(harness.rejects[0]?.message ?? "", /not a BigFS peer/);
  } finally {
    await harness.server.close();
  }
});

test("a replayed handshake from another connection is refused", async () => {
  const harness = await startServer();
  try {
    // Record what a genuine client sends, through a proxy that keeps a copy.
    const recorded: Buffer[] = [];
    const proxy = createServer((inbound) => {
      const outbound = connect({ host: "127.0.0.1", port: harness.server.address.port });
      inbound.on("data", (piece: Buffer) => {
        recorded.push(piece);
        outbound.write(piece);
      });
      outbound.on("data", (piece: Buffer) => inbound.write(piece));
      inbound.on("close", () => outbound.destroy());
      outbound.on("close", () => inbound.destroy());
      inbound.on("error", () => {});
      outbound.on("error", () => {});
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const address = proxy.address() as { port: number };
    const genuine = await dial(
      { host: "127.0.0.1", port: address.port },
      { secret, role: "client" },
    );
    genuine.close();
    proxy.close();

    const socket = await rawSocket(harness.server.address.port);
    const received = readUntilClosed(socket);
    socket.write(Buffer.concat(recorded));
    const errors = errorFramesIn(await received);
    assert.is(errors[0]?.code, "AUTH_FAILED");
    assert.is(harness.served, 0);
  } finally {
    await harness.server.close();
  }
});

test("a server that cannot prove it knows the secret is refused by the client", async () => {
  const impostor = createServer((socket) => {
    socket.on("error", () => {});
    socket.write(encodePreface("namenode"));
    let seen = 0;
    socket.on("data", (piece: Buffer) => {
      seen += piece.byteLength;
      if (seen > prefaceBytes) {
        socket.write(
          encodeControlFrame(FrameKind.RESPONSE, Messages.AUTH.opcode, 1, {
            proof: randomBytes(32),
          }),
        );
      }
    });
  });
  await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = impostor.address() as { port: number };
    const error = await rejection(dial({ host: "127.0.0.1", port }, { secret, role: "client" }));
    assert.is(error.code, "AUTH_FAILED");
    assert.match(error.message, /could not prove it knows the cluster secret/);
  } finally {
    impostor.close();
  }
});

test("a role the server does not allow is refused", async () => {
  const server = await listen({
    port: 0,
    secret,
    role: "datanode",
    allowedRoles: ["namenode"],
    handler: async () => ({ timeMs: 1 }),
  });
  try {
    const error = await rejection(dial(server.address, { secret, role: "client" }));
    assert.is(error.code, "AUTH_FAILED");
  } finally {
    await server.close();
  }
});

test.run();
