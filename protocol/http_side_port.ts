/**
 * The HTTP side port every daemon serves on `--http-port`, bound to its `--host`: `/health`
 * (JSON, 200 while the daemon serves), `/metrics` (Prometheus text from the daemon's own
 * registry), and whatever pages the daemon adds (the NameNode's status page).
 *
 * It is read-only: GET and HEAD only, no request body is read, and nothing it serves carries a
 * secret or a token. Connections, header size and request time are bounded, so a client that
 * opens many connections or never finishes its request cannot hold the daemon's memory.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
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
}

/** A listening HTTP side port. */
export class HttpSidePort {
  readonly #server: Server;

  /** @internal Use {@linkcode serveHttpSidePort}. */
  constructor(server: Server) {
    this.#server = server;
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
  const server = createServer(
    { headersTimeout: 10_000, requestTimeout: 15_000, keepAliveTimeout: 5_000 },
    (request, response) => {
      respond(request, response, pages).catch((error: unknown) => {
        logger.error({ err: error, path: request.url }, "HTTP page failed");
        if (!response.headersSent) send(response, 500, text("Internal error\n"));
        else response.destroy();
      });
    },
  );
  server.maxConnections = options.connectionsMax ?? 64;
  server.on("clientError", (_error, socket) => socket.destroy());
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
  const sidePort = new HttpSidePort(server);
  logger.info({ host, httpPort: sidePort.address.port }, "HTTP listening");
  return sidePort;
}

async function respond(
  request: IncomingMessage,
  response: ServerResponse,
  pages: Record<string, () => HttpPage | Promise<HttpPage>>,
): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    send(response, 405, text("Only GET and HEAD are served here\n"), { allow: "GET, HEAD" });
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

/** A JSON page; bigints are written as decimal strings, as in the logs. */
export function jsonPage(value: unknown): HttpPage {
  return {
    contentType: "application/json; charset=utf-8",
    body: JSON.stringify(value, (_key, item: unknown) =>
      typeof item === "bigint" ? item.toString() : item,
    ),
  };
}
