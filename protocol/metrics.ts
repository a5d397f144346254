/**
 * The metrics every BigFS daemon keeps, in a prom-client `Registry` of its own: never the
 * library's global one, because tests run several daemons in one process and each must report
 * only its own figures.
 *
 * Shared by every daemon: requests served and failed by message name, and their duration.
 * Each daemon adds its own metrics to {@linkcode DaemonMetrics.registry}.
 *
 * The Node.js process figures (CPU, memory, event loop delay, GC) belong to the process, not
 * to a daemon, so they live in one registry per process, made on first use and appended to
 * every daemon's text. One per daemon would leave an event loop timer and a GC observer
 * behind for every daemon a test starts, each holding that daemon's metrics alive.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { IncomingRequest, RequestHandler } from "./connection.js";
import { isBigFsError } from "./errors.js";

/** Options for {@linkcode DaemonMetrics}. */
export interface DaemonMetricsOptions {
  /** Also report the Node.js process figures (CPU, memory, event loop, GC). Default true. */
  processMetrics?: boolean;
}

let processRegistry: Registry | undefined;

function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

interface MessageMetrics {
  requests: Counter.Internal;
  durations: Histogram.Internal<"message">;
}

/** Latency buckets in seconds: from a cached metadata answer to a chunk streamed slowly. */
const durationBucketsSeconds = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** One daemon's registry, and the request metrics every daemon has. */
export class DaemonMetrics {
  /** Where this daemon's metrics live; `/metrics` serves it. */
  readonly registry = new Registry();
  readonly #requests: Counter<"message">;
  readonly #errors: Counter<"message" | "code">;
  readonly #durations: Histogram<"message">;
  // Children by message name: a lookup per request instead of hashing label objects.
  readonly #byMessage = new Map<string, MessageMetrics>();
  readonly #processMetrics: Registry | undefined;

  constructor(options: DaemonMetricsOptions = {}) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: "bigfs_requests_total",
      help: "Requests received, by message name",
      labelNames: ["message"],
      registers,
    });
    this.#errors = new Counter({
      name: "bigfs_request_errors_total",
      help: "Requests answered with an error, by message name and error code",
      labelNames: ["message", "code"],
      registers,
    });
    this.#durations = new Histogram({
      name: "bigfs_request_duration_seconds",
      help: "Time from a request's arrival to its answer, by message name",
      labelNames: ["message"],
      buckets: durationBucketsSeconds,
      registers,
    });
    this.#processMetrics = (options.processMetrics ?? true) ? processMetrics() : undefined;
  }

  /** The content type of {@linkcode text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in Prometheus text format: the daemon's, then the process's. */
  async text(): Promise<string> {
    const own = await this.registry.metrics();
    if (this.#processMetrics === undefined) return own;
    const separator = own === "" || own.endsWith("\n") ? "" : "\n";
    return own + separator + (await this.#processMetrics.metrics());
  }

  /** Wraps a request handler so that every request it serves is counted and timed. */
  instrument(handler: RequestHandler): RequestHandler {
    return (request: IncomingRequest) => {
      const metrics = this.#metricsOf(request.name);
      metrics.requests.inc();
      const startedMs = performance.now();
      const observe = () => metrics.durations.observe((performance.now() - startedMs) / 1000);
      let handled: Promise<unknown>;
      try {
        handled = handler(request);
      } catch (error) {
        handled = Promise.reject(error);
      }
      return handled.then(
        (body) => {
          observe();
          return body;
        },
        (error: unknown) => {
          observe();
          const code = isBigFsError(error) ? error.code : "INTERNAL";
          this.#errors.inc({ message: request.name, code });
          throw error;
        },
      );
    };
  }

  #metricsOf(message: string): MessageMetrics {
    let metrics = this.#byMessage.get(message);
    if (metrics === undefined) {
      metrics = {
        requests: this.#requests.labels(message),
        durations: this.#durations.labels(message),
      };
      this.#byMessage.set(message, metrics);
    }
    return metrics;
  }
}

/**
 * A gauge whose value is read from the daemon each time `/metrics` is scraped, so no code on
 * a hot path has to keep it up to date.
 */
export function readGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
