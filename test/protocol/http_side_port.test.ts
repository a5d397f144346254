/**
 * The HTTP side port against hostile clients: silent, trickling, kept-alive and non-reading
 * connections are timed out; a flood is refused over the connection bound, not queued; and
 * oversized, body-carrying or non-HTTP requests are answered with a status and closed. Each
 * time, a well-behaved client is still served.
 */
import { connect, type Socket } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  createLogger,
  DaemonMetrics,
  type HttpSidePort,
  type HttpSidePortOptions,
  serveHttpSidePort,
} from "#protocol";
import { fetchText } from "../helpers/http_side_port.js";
import { waitFor } from "../helpers/wait.js";

interface Served {
  port: HttpSidePort;
  logLines: Record<string, unknown>[];
}

async function serve(options: Partial<HttpSidePortOptions> = {}): Promise<Served> {
  const logLines: Record<string, unknown>[] = [];
  const logger = createLogger({
    name: "test",
    level: "info",
    destination: { write: (line: string) => void logLines.push(JSON.parse(line)) },
  });
  const port = await serveHttpSidePort({
    host: "127.0.0.1",
    port: 0,
    metrics: new DaemonMetrics(),
    health: () => ({ role: "test" }),
    logger,
    ...options,
  });
  return { port, logLines };
}

async function withPort(
  options: Partial<HttpSidePortOptions>,
  body: (served: Served) => Promise<void>,
): Promise<void> {
  const served = await serve(options);
  try {
    await body(served);
  } finally {
    await served.port.close();
  }
}

/** A raw TCP client that records what it receives and whether the server closed it. */
interface RawClient {
  socket: Socket;
  received: Buffer[];
  closed: boolean;
  text(): string;
}

function rawClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const client: RawClient = {
      socket,
      received: [],
      closed: false,
      text: () => Buffer.concat(client.received).toString("latin1"),
    };
    socket.on("data", (piece: Buffer) => client.received.push(piece));
    socket.on("close", () => {
      client.closed = true;
    });
    socket.once("connect", () => {
      socket.on("error", () => {});
      resolve(client);
    });
    socket.once("error", reject);
  });
}

async function healthIsServed(served: Served, when: string): Promise<void> {
  const health = await fetchText(served.port.address, "/health");
  assert.is(health.status, 200, `GET /health ${when}`);
  assert.is(JSON.parse(health.body).status, "ok");
}

test("a connection that sends nothing is closed at the header deadline with 408", async () => {
  await withPort({ headersTimeoutMs: 300 }, async (served) => {
    const silent = await rawClient(served.port.address.port);
    try {
      await healthIsServed(served, "while a silent connection waits");
      await waitFor(() => silent.closed, 5_000, { what: "the silent connection to be closed" });
      assert.match(silent.text(), /^HTTP\/1\.1 408 /);
      await healthIsServed(served, "after the silent connection was closed");
    } finally {
      silent.socket.destroy();
    }
  });
});

test("headers that keep trickling in are still cut off at the header deadline", async () => {
  await withPort({ headersTimeoutMs: 400, idleTimeoutMs: 10_000 }, async (served) => {
    const slow = await rawClient(served.port.address.port);
    const request = `GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ${"a".repeat(4_000)}`;
    let sent = 0;
    // One byte every 10 ms: never idle, never done.
    const timer = setInterval(() => {
      if (!slow.closed) slow.socket.write(request[sent++ % request.length]!);
    }, 10);
    try {
      await waitFor(() => slow.closed, 5_000, { what: "the trickling connection to be closed" });
      assert.ok(sent < request.length, "the whole request was sent before the deadline");
      assert.match(slow.text(), /^HTTP\/1\.1 408 /);
      await healthIsServed(served, "after the trickling connection was closed");
    } finally {
      clearInterval(timer);
      slow.socket.destroy();
    }
  });
});

test("a kept-alive connection that asks nothing more is closed", async () => {
  await withPort({ keepAliveTimeoutMs: 200 }, async (served) => {
    const idle = await rawClient(served.port.address.port);
    try {
      idle.socket.write("GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
      await waitFor(() => idle.text().includes('"status":"ok"'), 5_000, {
        what: "the first response",
      });
      assert.not.ok(idle.closed, "closed before the keep-alive timeout");
      await waitFor(() => idle.closed, 5_000, { what: "the idle kept-alive connection to close" });
    } finally {
      idle.socket.destroy();
    }
  });
});

test("a client that stops reading a large page is cut off once nothing moves", async () => {
  const big = "x".repeat(64 * 1024 * 1024);
  const pages = { "/big": () => ({ contentType: "text/plain", body: big }) };
  await withPort({ idleTimeoutMs: 300, pages }, async (served) => {
    const stuck = await rawClient(served.port.address.port);
    try {
      // Paused, it reads nothing: the server's writes fill the socket buffers and stop.
      stuck.socket.pause();
      stuck.socket.write("GET /big HTTP/1.1\r\nhost: x\r\n\r\n");
      await waitFor(async () => (await served.port.connectionCount()) === 0, 10_000, {
        what: "the server to drop the non-reading client",
      });
      stuck.socket.resume();
      await waitFor(() => stuck.closed, 10_000, { what: "the client to see the hang-up" });
      const received = Buffer.concat(stuck.received).byteLength;
      assert.ok(received < big.length, `the client got all ${received} bytes`);
      await healthIsServed(served, "after the non-reading client was cut off");
    } finally {
      stuck.socket.destroy();
    }
  });
});

test("connections over the bound are closed at once, counted and logged in few lines", async () => {
  const options = {
    connectionsMax: 4,
    headersTimeoutMs: 20_000,
    requestTimeoutMs: 20_000,
    refusedReportIntervalMs: 1_000,
  };
  await withPort(options, async (served) => {
    const holders: RawClient[] = [];
    const flood: RawClient[] = [];
    try {
      for (let i = 0; i < 4; i++) holders.push(await rawClient(served.port.address.port));
      for (let i = 0; i < 30; i++) flood.push(await rawClient(served.port.address.port));
      await waitFor(() => flood.every((client) => client.closed), 5_000, {
        what: "every connection over the bound to be closed",
      });
      assert.ok(
        flood.every((client) => client.received.length === 0),
        "a refused one got bytes",
      );
      assert.is(served.port.refusedConnections, 30);
      const reports = () =>
        served.logLines.filter((line) => line.msg === "HTTP connections refused: too many at once");
      await waitFor(
        () => reports().reduce((sum, line) => sum + Number(line.refused), 0) === 30,
        5_000,
        { what: "every refused connection to be logged" },
      );
      assert.ok(reports().length <= 3, `${reports().length} log lines for one flood`);
      assert.ok(
        holders.every((client) => !client.closed),
        "a connection under the bound closed",
      );

      for (const holder of holders) holder.socket.destroy();
      await waitFor(
        async () => {
          await healthIsServed(served, "once the holders left");
          return true;
        },
        5_000,
        { what: "a freed slot to serve a new client" },
      );
    } finally {
      for (const client of [...holders, ...flood]) client.socket.destroy();
    }
  });
});

test("over-long headers get 431, a body 413, non-HTTP bytes 400, and each is closed", async () => {
  await withPort({ headerBytesMax: 4096 }, async (served) => {
    const port = served.port.address.port;
    const cases: [string, string | Buffer, RegExp][] = [
      [
        "long header",
        `GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(8000)}\r\n\r\n`,
        /431/,
      ],
      ["long path", `GET /${"a".repeat(8000)} HTTP/1.1\r\nhost: x\r\n\r\n`, /431/],
      ["body", "GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello", /413/],
      [
        "endless body",
        "GET /health HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n10\r\n",
        /413/,
      ],
      ["garbage", Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10]), /400/],
      ["not a method", "BREW /pot HTCPCP/1.0\r\n\r\n", /400/],
      ["no host", "GET /health HTTP/1.1\r\n\r\n", /400/],
    ];
    for (const [name, bytes, status] of cases) {
      const client = await rawClient(port);
      try {
        client.socket.write(bytes);
        await waitFor(() => client.closed, 5_000, { what: `the ${name} connection to close` });
        const statusLine = client.text().split("\r\n", 1)[0] ?? "";
        assert.match(statusLine, status, `${name}: ${statusLine}`);
      } finally {
        client.socket.destroy();
      }
      await healthIsServed(served, `after the ${name} request`);
    }
  });
});

test("a bound that is not a positive integer is refused, naming it", async () => {
  const error = await serve({ headersTimeoutMs: 0 }).then(
    () => undefined,
    (caught: Error) => caught,
  );
  assert.instance(error, RangeError);
  assert.match(error!.message, /headersTimeoutMs must be a positive integer, got 0/);
  const inverted = await serve({ headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 }).then(
    () => undefined,
    (caught: Error) => caught,
  );
  assert.match(inverted!.message, /headersTimeoutMs \(2000\) must not exceed requestTimeoutMs/);
});

test.run();
