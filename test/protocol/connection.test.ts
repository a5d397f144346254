import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BigFsError,
  type BigFsServer,
  type Connection,
  dial,
  type IncomingRequest,
  type ListenOptions,
  listen,
  type PushName,
  type RequestHandler,
  xxh64,
} from "#protocol";
import { waitFor } from "../helpers/wait.js";

const secret = Buffer.from("connection-test-secret-012345678");

async function pair(
  handler: RequestHandler,
  serverOptions: Partial<ListenOptions> = {},
  clientOptions: { inFlightMax?: number; onPush?: (name: PushName, body: unknown) => void } = {},
): Promise<{ server: BigFsServer; client: Connection; serverSide: () => Connection }> {
  let accepted: Connection | undefined;
  const server = await listen({
    port: 0,
    secret,
    role: "datanode",
    handler,
    onConnection: (connection) => {
      accepted = connection;
    },
    ...serverOptions,
  });
  const client = await dial(server.address, { secret, role: "client", ...clientOptions });
  await waitFor(() => accepted, 5_000);
  return { server, client, serverSide: () => accepted! };
}

async function rejection(promise: Promise<unknown>): Promise<BigFsError> {
  try {
    await promise;
  } catch (error) {
    return error as BigFsError;
  }
  throw new Error("expected the promise to reject");
}

/** A handler that never answers until its request is aborted. */
function hanging(seen: IncomingRequest[]): RequestHandler {
  return (request) => {
    seen.push(request);
    return new Promise((_resolve, reject) => {
      request.signal.addEventListener("abort", () => reject(request.signal.reason), { once: true });
    });
  };
}

test("a request past its deadline fails with TIMEOUT and the server is told to stop", async () => {
  const seen: IncomingRequest[] = [];
  const { server, client } = await pair(hanging(seen));
  try {
    const error = await rejection(client.request("PING", {}, { timeoutMs: 100 }));
    assert.is(error.code, "TIMEOUT");
    assert.match(error.message, /PING .* timed out after 100 ms/);
    await waitFor(() => seen[0]?.signal.aborted, 5_000, { what: "the handler to be cancelled" });
    assert.is(client.pendingRequests, 0);
  } finally {
    client.close();
    await server.close();
  }
});

test("a cancelled request wakes a handler that waits for its stream", async () => {
  let handlerEnded: unknown;
  const { server, client } = await pair(async (request) => {
    try {
      for await (const _item of request.items) {
        // Never fed: the requester gives up first.
      }
      handlerEnded = "ended";
    } catch (error) {
      handlerEnded = error;
    }
    return { stored: [], size: 0, xxh64: 0n };
  });
  try {
    const write = await client.open(
      "WRITE_CHUNK",
      { chunkId: 1n, generation: 1n, token: new Uint8Array(58), downstream: [] },
      { timeoutMs: 100 },
    );
    assert.is((await rejection(write.response)).code, "TIMEOUT");
    const ended = await waitFor(() => handlerEnded, 5_000, { what: "the handler to wake up" });
    assert.is((ended as BigFsError).code, "UNAVAILABLE");
  } finally {
    client.close();
    await server.close();
  }
});

test("closing a connection fails every pending request with UNAVAILABLE", async () => {
  const seen: IncomingRequest[] = [];
  const { server, client } = await pair(hanging(seen));
  try {
    const pending = Array.from({ length: 10 }, () => rejection(client.request("PING", {})));
    await waitFor(() => seen.length === 10, 5_000);
    client.close();
    for (const error of await Promise.all(pending)) assert.is(error.code, "UNAVAILABLE");
    await waitFor(() => seen.every((request) => request.signal.aborted), 5_000, {
      what: "the server to abort its handlers",
    });
  } finally {
    await server.close();
  }
});

test("a server going away fails the client's pending requests with UNAVAILABLE", async () => {
  const seen: IncomingRequest[] = [];
  const { server, client } = await pair(hanging(seen));
  const pending = Array.from({ length: 5 }, () => rejection(client.request("PING", {})));
  await waitFor(() => seen.length === 5, 5_000);
  await server.close();
  for (const error of await Promise.all(pending)) assert.is(error.code, "UNAVAILABLE");
  assert.ok(client.closed);
  const late = await rejection(client.request("PING", {}));
  assert.is(late.code, "UNAVAILABLE");
});

test("many requests are in flight at once, bounded by the client's in-flight limit", async () => {
  let running = 0;
  let runningMax = 0;
  const release: (() => void)[] = [];
  const { server, client } = await pair(
    async () => {
      running++;
      runningMax = Math.max(runningMax, running);
      await new Promise<void>((resolve) => release.push(resolve));
      running--;
      return { timeMs: 1 };
    },
    {},
    { inFlightMax: 16 },
  );
  try {
    const answers = Array.from({ length: 200 }, () => client.request("PING", {}));
    // Answer requests as they arrive, so the client keeps its window full.
    const answerer = setInterval(() => {
      for (const resolve of release.splice(0)) resolve();
    }, 1);
    const results = await Promise.all(answers);
    clearInterval(answerer);
    assert.is(results.length, 200);
    assert.ok(runningMax > 1, `expected concurrency, saw ${runningMax}`);
    assert.ok(runningMax <= 16, `in-flight limit broken: ${runningMax} at once`);
  } finally {
    client.close();
    await server.close();
  }
});

test("requests over the server's in-flight bound are answered BUSY", async () => {
  const seen: IncomingRequest[] = [];
  const { server, client } = await pair(hanging(seen), { incomingInFlightMax: 2 });
  try {
    const first = rejection(client.request("PING", {}));
    const second = rejection(client.request("PING", {}));
    await waitFor(() => seen.length === 2, 5_000);
    const third = await rejection(client.request("PING", {}));
    assert.is(third.code, "BUSY");
    client.close();
    await Promise.all([first, second]);
  } finally {
    await server.close();
  }
});

test("errors thrown by a handler reach the caller with their code; other errors are INTERNAL", async () => {
  const { server, client } = await pair(async (request) => {
    if (request.name === "MKDIR") {
      const { BigFsError } = await import("#protocol");
      throw new BigFsError("EXISTS", "Cannot create directory /a: it exists");
    }
    throw new Error("boom");
  });
  try {
    const exists = await rejection(client.request("MKDIR", { path: "/a" }));
    assert.is(exists.code, "EXISTS");
    assert.is(exists.message, "Cannot create directory /a: it exists");
    const internal = await rejection(client.request("PING", {}));
    assert.is(internal.code, "INTERNAL");
    assert.match(internal.message, /boom/);
    // The connection survives both.
    assert.not.ok(client.closed);
  } finally {
    client.close();
    await server.close();
  }
});

test("the server pushes messages to a client", async () => {
  const pushes: { name: PushName; body: unknown }[] = [];
  const { server, client, serverSide } = await pair(
    async () => ({ timeMs: 1 }),
    {},
    { onPush: (name, body) => pushes.push({ name, body }) },
  );
  try {
    await serverSide().push("COMMANDS", {
      commands: [{ action: "delete", chunks: [{ id: 9n, generation: 2n }] }],
    });
    const push = await waitFor(() => pushes[0], 5_000);
    assert.is(push.name, "COMMANDS");
    assert.equal(push.body, {
      commands: [{ action: "delete", chunks: [{ id: 9n, generation: 2n }] }],
    });
  } finally {
    client.close();
    await server.close();
  }
});

test("chunk data streams both ways inside a request, in order", async () => {
  const { server, client } = await pair(async (request) => {
    if (request.name === "READ_CHUNK") {
      for (let index = 0; index < 8; index++) {
        const bytes = Buffer.alloc(1000, index);
        await request.sendData({
          chunkId: 42n,
          offset: BigInt(index * 1000),
          bytes,
          xxh64: xxh64(bytes),
          end: index === 7,
        });
      }
      return { bytesSent: 8000 };
    }
    let size = 0;
    for await (const item of request.items) {
      if (item.kind !== 5) continue;
      assert.is(xxh64(item.bytes), item.xxh64);
      assert.is(item.offset, BigInt(size));
      size += item.bytes.byteLength;
      if (item.end) break;
    }
    return { stored: ["dn-1"], size, xxh64: 0n };
  });
  try {
    const read = await client.open("READ_CHUNK", {
      chunkId: 42n,
      generation: 1n,
      token: new Uint8Array(58),
      offset: 0,
      length: 8000,
    });
    const received: number[] = [];
    for await (const item of read.items) {
      if (item.kind === 5) {
        received.push(item.bytes[0]!);
        if (item.end) break;
      }
    }
    assert.equal(received, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(await read.response, { bytesSent: 8000 });

    const write = await client.open("WRITE_CHUNK", {
      chunkId: 43n,
      generation: 1n,
      token: new Uint8Array(58),
      downstream: [],
    });
    for (let index = 0; index < 5; index++) {
      const bytes = Buffer.alloc(4096, index);
      await write.sendData({
        chunkId: 43n,
        offset: BigInt(index * 4096),
        bytes,
        xxh64: xxh64(bytes),
        end: index === 4,
      });
    }
    assert.is((await write.response).size, 5 * 4096);
  } finally {
    client.close();
    await server.close();
  }
});

test("a DATA frame's onWritten is called once the socket wrote its bytes, once per frame", async () => {
  let receivedBytes = 0;
  const { server, client } = await pair(async (request) => {
    for await (const item of request.items) {
      if (item.kind !== 5) continue;
      receivedBytes += item.bytes.byteLength;
      if (item.end) break;
    }
    return { stored: ["dn-1"], size: receivedBytes, xxh64: 0n };
  });
  try {
    const write = await client.open("WRITE_CHUNK", {
      chunkId: 44n,
      generation: 1n,
      token: new Uint8Array(58),
      downstream: [],
    });
    const written: number[] = [];
    for (let index = 0; index < 4; index++) {
      const bytes = Buffer.alloc(256 * 1024, index);
      await write.sendData({
        chunkId: 44n,
        offset: BigInt(index * bytes.byteLength),
        bytes,
        xxh64: xxh64(bytes),
        end: index === 3,
        onWritten: () => written.push(index),
      });
    }
    assert.is((await write.response).size, 4 * 256 * 1024);
    await waitFor(() => written.length === 4, 5_000, { what: "every frame's onWritten" });
    assert.equal(written, [0, 1, 2, 3]);
  } finally {
    client.close();
    await server.close();
  }
});

test("a slow reader makes the writer wait for drain instead of buffering without bound", async () => {
  const streamBufferBytesMax = 1024 * 1024;
  let handlerRequest: IncomingRequest | undefined;
  let startReading!: () => void;
  const reading = new Promise<void>((resolve) => {
    startReading = resolve;
  });
  const { server, client } = await pair(
    async (request) => {
      handlerRequest = request;
      await reading;
      let size = 0;
      for await (const item of request.items) {
        if (item.kind !== 5) continue;
        size += item.bytes.byteLength;
        if (item.end) break;
      }
      return { stored: ["dn-1"], size, xxh64: 0n };
    },
    { streamBufferBytesMax },
  );
  try {
    const frameBytes = 64 * 1024;
    const totalBytes = 128 * 1024 * 1024;
    const bytes = Buffer.alloc(frameBytes, 7);
    const checksum = xxh64(bytes);
    const write = await client.open("WRITE_CHUNK", {
      chunkId: 1n,
      generation: 1n,
      token: new Uint8Array(58),
      downstream: [],
    });
    let sentBytes = 0;
    const sender = (async () => {
      while (sentBytes < totalBytes) {
        await write.sendData({
          chunkId: 1n,
          offset: BigInt(sentBytes),
          bytes,
          xxh64: checksum,
          end: sentBytes + frameBytes >= totalBytes,
        });
        sentBytes += frameBytes;
      }
    })();

    await waitFor(() => client.waitingForDrain && handlerRequest, 20_000, {
      what: "the writer to wait for drain",
    });
    // The writer is held back long before it has pushed the whole stream into memory.
    assert.ok(sentBytes < 48 * 1024 * 1024, `writer ran ahead by ${sentBytes} bytes`);
    assert.ok(
      handlerRequest!.items.bufferedBytes <= streamBufferBytesMax + frameBytes,
      `server queued ${handlerRequest!.items.bufferedBytes} bytes`,
    );

    startReading();
    await sender;
    assert.is((await write.response).size, totalBytes);
  } finally {
    client.close();
    await server.close();
  }
});

test("an idle connection with nothing in flight is closed", async () => {
  const { server, client, serverSide } = await pair(async () => ({ timeMs: 1 }), {
    idleTimeoutMs: 200,
  });
  try {
    await client.request("PING", {});
    await waitFor(() => serverSide().closed && client.closed, 5_000, {
      what: "both ends to close the idle connection",
    });
  } finally {
    await server.close();
  }
});

test.run();
