/**
 * One lane of the HTTP side port fuzzer: connections that pipeline a batch of requests with
 * hostile paths, queries and headers, sometimes end with one that breaks HTTP (garbage, cut
 * short, over-long, bit-flipped, with a body, another method), and then hang up. The daemon
 * must answer each request it can parse, never with a 5xx, and close once the peer is gone.
 */
import { connect, type Socket } from "node:net";
import type { FuzzCounts } from "./fuzz_counts.js";
import { hostileStrings } from "./hostile_values.js";
import { FuzzFailure } from "./protocol_lane.js";
import type { SeededRandom } from "./seeded_random.js";

/** Options for {@linkcode HttpLane}. */
export interface HttpLaneOptions {
  address: { host: string; port: number };
  /** Longest wait for the daemon to answer and close after we hung up. */
  deadlineMs: number;
}

const requestsPerConnectionMax = 40;
const knownPaths = ["/", "/health", "/metrics", "/status.json"];
const oddPaths = [
  "//health",
  "/health/",
  "/health?x=1&x=2",
  "/health#fragment",
  "/%2e%2e/%2e%2e/etc/passwd",
  "/../../etc/passwd",
  "/metrics?name[]=__proto__",
  "/__proto__",
  "/constructor",
  "/hasOwnProperty",
  "*",
  "http://evil.invalid/health",
  `/${"a".repeat(3000)}`,
  "/%00",
  "/%ff%fe",
];

function hostilePath(random: SeededRandom): string {
  const draw = random.below(10);
  if (draw < 2) return random.pick(knownPaths);
  if (draw < 6) return random.pick(oddPaths);
  return `/${encodeURIComponent(random.pick(hostileStrings)).slice(0, 3000)}`;
}

function hostileHeaders(random: SeededRandom): string {
  const headers: string[] = [];
  headers.push(`host: ${random.pick(["x", "127.0.0.1", "[::1]:1", "a".repeat(500)])}`);
  const extra = [
    `x-fuzz: ${encodeURIComponent(random.pick(hostileStrings)).slice(0, 1000)}`,
    "accept: */*",
    "content-length: 0",
    "expect: 100-continue",
    "upgrade: websocket",
    "cookie: a=b",
    "range: bytes=0-10",
    "if-none-match: *",
    "accept-encoding: gzip, br",
    `x-many: ${"v,".repeat(300)}`,
  ];
  // Each at most once: a repeated content-length is a bad request, which is an ending input.
  for (let count = random.below(4); count > 0; count--) {
    const header = random.pick(extra);
    if (!headers.includes(header)) headers.push(header);
  }
  return headers.map((header) => `${header}\r\n`).join("");
}

/** A request a server may answer and keep the connection for. */
function keptRequest(random: SeededRandom): string {
  const method = random.chance(0.8) ? "GET" : "HEAD";
  return `${method} ${hostilePath(random)} HTTP/1.1\r\n${hostileHeaders(random)}\r\n`;
}

/** A request after which the server closes the connection, or bytes that are not HTTP. */
function endingRequest(random: SeededRandom): Buffer {
  switch (random.below(9)) {
    case 0:
      return random.bytes(random.below(600));
    case 1: {
      const request = Buffer.from(keptRequest(random));
      return request.subarray(0, random.below(request.byteLength));
    }
    case 2: {
      const request = Buffer.from(keptRequest(random));
      for (let flips = 1 + random.below(4); flips > 0; flips--) {
        request[random.below(request.byteLength)]! ^= 1 << random.below(8);
      }
      return request;
    }
    case 3:
      return Buffer.from(`GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`);
    case 4:
      return Buffer.from(
        `GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n${"b".repeat(1000)}`,
      );
    case 5:
      return Buffer.from(
        "GET /health HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nffffffff\r\n",
      );
    case 6: {
      const method = random.pick(["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT"]);
      return Buffer.from(`${method} ${hostilePath(random)} HTTP/1.1\r\nhost: x\r\n\r\n`);
    }
    case 7:
      return Buffer.from(
        random.pick([
          `GET ${hostilePath(random)} HTTP/1.0\r\n\r\n`,
          "GET /health HTTP/1.1\r\n\r\n",
          "GET /\u00e9\u0000 HTTP/1.1\r\nhost: x\r\n\r\n",
          "GET /health HTTP/9.9\r\nhost: x\r\n\r\n",
        ]),
      );
    default:
      return Buffer.from(
        `GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n`,
      );
  }
}

/** Sends fuzzed HTTP over one connection at a time. */
export class HttpLane {
  readonly #random: SeededRandom;
  readonly #options: HttpLaneOptions;
  readonly #counts: FuzzCounts;

  constructor(random: SeededRandom, options: HttpLaneOptions, counts: FuzzCounts) {
    this.#random = random;
    this.#options = options;
    this.#counts = counts;
  }

  /** Runs one connection from connect to close. */
  async runConnection(): Promise<void> {
    const random = this.#random;
    const kept: Buffer[] = [];
    for (let count = random.below(requestsPerConnectionMax); count > 0; count--) {
      kept.push(Buffer.from(keptRequest(random)));
    }
    const ending = kept.length === 0 || random.chance(0.4) ? endingRequest(random) : undefined;
    const sent = Buffer.concat(ending ? [...kept, ending] : kept);
    const received = await exchange(this.#options, Buffer.concat(kept), kept.length, ending);
    if (received === undefined) {
      throw new FuzzFailure(
        `the HTTP port did not answer or close within ${this.#options.deadlineMs} ms; sent: ${JSON.stringify(sent.subarray(0, 2048).toString("latin1"))}`,
      );
    }
    let answers = 0;
    for (const status of statusesIn(received)) {
      answers++;
      this.#counts.httpStatuses[status] = (this.#counts.httpStatuses[status] ?? 0) + 1;
      if (status.startsWith("5")) {
        throw new FuzzFailure(
          `the HTTP port answered ${status}; sent: ${JSON.stringify(sent.subarray(0, 2048).toString("latin1"))}`,
        );
      }
    }
    const requests = kept.length + (ending ? 1 : 0);
    this.#counts.httpRequests += requests;
    // A request the port never saw (after one it closed on) is not an input it took in.
    this.#counts.inputs += Math.min(requests, answers + (ending ? 1 : 0));
  }
}

/** The final status of each response in `text` (interim 1xx answers left out). */
function statusesIn(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)]
    .map((match) => match[1]!)
    .filter((status) => !status.startsWith("1"));
}

/**
 * Pipelines the kept requests and waits for their answers (Node drops pipelined requests not
 * yet answered when the peer half-closes), then sends the ending request, hangs up, and
 * returns all that came back once the port closed; `undefined` when it did not in time.
 */
function exchange(
  options: HttpLaneOptions,
  kept: Buffer,
  keptCount: number,
  ending: Buffer | undefined,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: options.address.host, port: options.address.port });
    const pieces: Buffer[] = [];
    let connected = false;
    let ended = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, options.deadlineMs);
    const hangUp = () => {
      if (ended) return;
      ended = true;
      if (ending) socket.end(ending);
      else socket.end();
    };
    socket.on("data", (piece: Buffer) => {
      pieces.push(piece);
      if (!ended && statusesIn(Buffer.concat(pieces).toString("latin1")).length >= keptCount) {
        hangUp();
      }
    });
    socket.once("connect", () => {
      connected = true;
      if (keptCount === 0) hangUp();
      else socket.write(kept);
    });
    // Once connected, a reset is one way for the port to hang up: "close" follows.
    socket.on("error", (error) => {
      if (!connected) {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(pieces).toString("latin1"));
    });
  });
}
