/**
 * The HTTP side port every daemon serves on `--http-port`, bound to its `--host`: `/health`
 * (JSON, 200 while the daemon serves), `/metrics` (Prometheus text from the daemon's own
 * registry), and whatever pages the daemon adds (the NameNode's status page).
 *
 * It is read-only: GET and HEAD only, and nothing it serves carries a secret or a token. It is
 * also open to anyone who can reach the port (no handshake here), so every resource a client
 * can hold is bounded, and a bound reached closes that client, never the port:
 *
 * - connections: at most `connectionsMax` at once; the excess is closed at accept, never
 *   queued, and counted in at most one log line per `refusedReportIntervalMs`;
 * - request size: the request line and headers together at most `headerBytesMax` (431); no
 *   request may carry a body (413), since nothing here reads one;
 * - time: the headers must be complete within `headersTimeoutMs` of the request's start and
 *   the whole request within `requestTimeoutMs` (408), however slowly bytes keep trickling in;
 *   a kept-alive connection with no next request is closed after `keepAliveTimeoutMs`; and a
 *   connection on which nothing moves for `idleTimeoutMs` (such as a client that stopped
 *   reading its response) is destroyed;
 * - bytes that are not HTTP get 400 and the connection is closed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { RefusalReport } from "./_refusal_report.js";
import type { Logger } from "./logger.js";
import type { DaemonMetrics } from "./metrics.js";

/** A response body and its type. */
export interface HttpPage {
  contentType: string;
  body: string;
  /** Extra headers, such as a Content-Security-Policy. */
  headers?: Readonly<Record<string, string>>;
}

/** Options for {@linkcode serveHttpSidePort}. */
export interface HttpSidePortOptions {
  /** Address to bind: the daemon's `--host`. */
  host: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Served as `/metrics`. */
  metrics: DaemonMetrics;
  /** The body of `/health`; `status: "ok"` is added in front. */
  health: () => Record<string, unknown>;
  /** More GET routes, by exact path. */
  pages?: Readonly<Record<string, () => HttpPage | Promise<HttpPage>>>;
  /** Logs the bound port ("HTTP listening", `httpPort`) and failed pages. */
  logger: Logger;
  /** Connections at once; more are refused. Default 64. */
  connectionsMax?: number;
  /** Largest request line plus headers, in bytes; default 8 KiB. */
  headerBytesMax?: number;
  /** Deadline for a request's headers, from its first byte (or the connection); default 10 s. */
  headersTimeoutMs?: number;
  /** Deadline for a whole request; default 15 s. */
  requestTimeoutMs?: number;
  /** How long a kept-alive connection may wait for its next request; default 5 s. */
  keepAliveTimeoutMs?: number;
  /** A connection on which no byte moves either way for this long is destroyed; default 30 s. */
  idleTimeoutMs?: number;
  /** Least time between two log lines about refused connections; default 10 s. */
  refusedReportIntervalMs?: number;
}

/** The bounds a side port runs with when its options give none. */
export const httpSidePortDefaults = {
  connectionsMax: 64,
  headerBytesMax: 8 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  refusedReportIntervalMs: 10_000,
} as const;

type HttpSidePortBounds = { -readonly [K in keyof typeof httpSidePortDefaults]: number };

/** A listening HTTP side port. */
export class HttpSidePort {
  readonly #server: Server;
  readonly #refusals: RefusalReport;
  #refusedTotal = 0;

  /** @internal Use {@linkcode serveHttpSidePort}. */
  constructor(server: Server, refusals: RefusalReport) {
    this.#server = server;
    this.#refusals = refusals;
  }

  /** Connections closed at accept because `connectionsMax` were open, since it started. */
  get refusedConnections(): number {
    return this.#refusedTotal;
  }

  /** Connections open now. */
  connectionCount(): Promise<number> {
    return new Promise((resolve, reject) =>
      this.#server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    );
  }

  /** @internal */
  refused(): void {
    this.#refusedTotal++;
    this.#refusals.count("overConnectionsMax");
  }

  /** The bound address (the real port when started on port 0). */
  get address(): { host: string; port: number } {
    const address = this.#server.address();
    if (address === null || typeof address === "string") {
      throw new Error("HttpSidePort is not listening");
    }
    return { host: address.address, port: address.port };
  }

  /** Stops listening and closes every connection, idle or not. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#refusals.stop();
    this.#server.closeAllConnections();
    await closed;
  }
}

const commonHeaders = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * Serves `/health`, `/metrics` and `options.pages`.
 *
 * @throws {Error} naming the address and `--http-port` when the port cannot be bound.
 */
export async function serveHttpSidePort(options: HttpSidePortOptions): Promise<HttpSidePort> {
  const { host, port, logger } = options;
  const pages: Record<string, () => HttpPage | Promise<HttpPage>> = {
    ...options.pages,
    "/health": () => jsonPage({ status: "ok", ...options.health() }),
    "/metrics": async () => ({
      contentType: options.metrics.contentType,
      body: await options.metrics.text(),
    }),
  };
  const bounds = boundsOf(options);
  const server = createServer(
    {
      headersTimeout: bounds.headersTimeoutMs,
      requestTimeout: bounds.requestTimeoutMs,
      keepAliveTimeout: bounds.keepAliveTimeoutMs,
      maxHeaderSize: bounds.headerBytesMax,
      // How often Node looks for requests past their deadlines; its default (30 s) would let a
      // silent connection live three times its header deadline.
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1_000, bounds.headersTimeoutMs / 4, bounds.requestTimeoutMs / 4),
      ),
    },
    (request, response) => {
      respond(request, response, pages).catch((error: unknown) => {
        logger.error({ err: error, path: request.url }, "HTTP page failed");
        if (!response.headersSent) send(response, 500, text("Internal error\n"));
        else response.destroy();
      });
    },
  );
  server.maxConnections = bounds.connectionsMax;
  // Destroys a connection on which nothing moves; Node's default for the server is never.
  server.setTimeout(bounds.idleTimeoutMs, (socket: Socket) => socket.destroy());
  server.on("clientError", answerClientError);
  const refusals = new RefusalReport(bounds.refusedReportIntervalMs, (refused) =>
    logger.warn(
      { refused: refused.overConnectionsMax, connectionsMax: bounds.connectionsMax },
      "HTTP connections refused: too many at once",
    ),
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const reason = error.code === "EADDRINUSE" ? "the port is already in use" : error.message;
      reject(
        new Error(`Cannot serve HTTP on ${host}:${port} (--http-port): ${reason}`, {
          cause: error,
        }),
      );
    });
    server.listen(port, host, () => resolve());
  });
  const sidePort = new HttpSidePort(server, refusals);
  // Node closes a socket over maxConnections before "connection"; it says so with "drop".
  server.on("drop", () => sidePort.refused());
  logger.info({ host, httpPort: sidePort.address.port }, "HTTP listening");
  return sidePort;
}

async function respond(
  request: IncomingMessage,
  response: ServerResponse,
  pages: Record<string, () => HttpPage | Promise<HttpPage>>,
): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    send(response, 405, text("Only GET and HEAD are served here\n"), {
      allow: "GET, HEAD",
      connection: "close",
    });
    return;
  }
  if (hasBody(request)) {
    // Nothing here reads a body; closing is cheaper than draining one of unbounded size.
    send(response, 413, text("A request here carries no body\n"), { connection: "close" });
    return;
  }
  const path = (request.url ?? "/").split("?", 1)[0]!;
  const page = Object.hasOwn(pages, path) ? pages[path] : undefined;
  if (page === undefined) {
    send(response, 404, text("Not found\n"));
    return;
  }
  send(response, 200, await page(), {}, request.method === "HEAD");
}

function send(
  response: ServerResponse,
  status: number,
  page: HttpPage,
  headers: Record<string, string> = {},
  headOnly = false,
): void {
  const body = Buffer.from(page.body, "utf8");
  response.writeHead(status, {
    ...commonHeaders,
    ...page.headers,
    ...headers,
    "content-type": page.contentType,
    "content-length": body.byteLength,
  });
  response.end(headOnly ? undefined : body);
}

function text(body: string): HttpPage {
  return { contentType: "text/plain; charset=utf-8", body };
}

/** True when the request announces a body: a non-zero length, or chunks of unknown length. */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers["content-length"];
  return (
    request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")
  );
}

const clientErrorStatus: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: "431 Request Header Fields Too Large",
  ERR_HTTP_REQUEST_TIMEOUT: "408 Request Timeout",
};

/**
 * A request Node could not parse, that broke a bound, or timed out: say which in a status
 * line when the socket can still take one, then hang up.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (socket.writable && !socket.destroyed) {
    const status = clientErrorStatus[error.code ?? ""] ?? "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  }
  // A peer that never reads would keep a half-closed socket.
  setTimeout(() => socket.destroy(), 1_000).unref();
}

function boundsOf(options: HttpSidePortOptions): HttpSidePortBounds {
  const bounds: HttpSidePortBounds = { ...httpSidePortDefaults };
  for (const key of Object.keys(bounds) as (keyof HttpSidePortBounds)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`Cannot serve HTTP: ${key} must be a positive integer, got ${value}`);
    }
    bounds[key] = value;
  }
  if (bounds.headersTimeoutMs > bounds.requestTimeoutMs) {
    throw new RangeError(
      `Cannot serve HTTP: headersTimeoutMs (${bounds.headersTimeoutMs}) must not exceed requestTimeoutMs (${bounds.requestTimeoutMs})`,
    );
  }
  return bounds;
}

/** A JSON page; bigints are written as decimal strings, as in the logs. */
export function jsonPage(value: unknown): HttpPage {
  return {
    contentType: "application/json; charset=utf-8",
    body: JSON.stringify(value, (_key, item: unknown) =>
      typeof item === "bigint" ? item.toString() : item,
    ),
  };
}
