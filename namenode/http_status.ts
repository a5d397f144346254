/**
 * The NameNode's HTTP side port: `/health`, `/metrics`, the status page `/` and the same
 * figures as JSON at `/status.json`. Everything is read from the running NameNode when asked
 * for; only chunk health (O(chunks)) is kept for a second so that a page refreshing and a
 * Prometheus scraping do not walk the chunk map each time.
 *
 * Made before the namespace is loaded, because it also times the edit log's fdatasyncs: the
 * store opens its segment files through {@linkcode NamenodeHttpStatus.openSegmentFile}.
 */
import { open } from "node:fs/promises";
import { Histogram } from "prom-client";
import {
  DaemonMetrics,
  type HttpSidePort,
  jsonPage,
  type ResponseOf,
  serveHttpSidePort,
} from "#protocol";
import { writeInPlace } from "./_edit_log_files.js";
import { registerNamenodeMetrics } from "./_namenode_metrics.js";
import { renderStatusPage, statusPageHeaders } from "./_status_page.js";
import type { ChunkHealth } from "./chunk_map.js";
import type { SegmentFile } from "./edit_log.js";
import type { NamenodeParts } from "./namenode_parts.js";
import type { RecentEvent } from "./recent_events.js";

/** Everything the status page shows; also served as `/status.json`. */
export interface NamenodeStatus {
  generatedAtMs: number;
  safeMode: boolean;
  /** Why the edit log failed, once it has: the NameNode refuses every change until restarted. */
  editLogFailure?: string;
  summary: {
    files: number;
    filesUnderConstruction: number;
    directories: number;
    chunks: number;
    /** Of the DataNodes that are alive. */
    capacityBytes: number;
    usedBytes: number;
    /** Room left for chunks on the DataNodes that are alive. */
    remainingBytes: number;
    datanodes: { live: number; dead: number; decommissioning: number; decommissioned: number };
  };
  datanodes: (ResponseOf<"DATANODE_REPORT">["datanodes"][number] & { activeTransfers: number })[];
  chunkHealth: ChunkHealth;
  replication: ReturnType<NamenodeParts["replicationMonitor"]["stats"]> & {
    /** The oldest copies under way, at most {@linkcode copiesShownMax}. */
    copies: { chunkId: bigint; source: string; target: string; sizeBytes: number }[];
  };
  events: RecentEvent[];
}

/** Copies under way listed on the page; the count covers them all. */
export const copiesShownMax = 50;
/** Events listed on the page. */
export const eventsShownMax = 50;
const healthCacheMs = 1_000;

/** The NameNode's metrics and HTTP side port. */
export class NamenodeHttpStatus {
  readonly metrics = new DaemonMetrics();
  readonly #syncDurations: Histogram;
  #parts: NamenodeParts | undefined;
  #sidePort: HttpSidePort | undefined;
  #health: { atMs: number; value: ChunkHealth } | undefined;

  constructor() {
    this.#syncDurations = new Histogram({
      name: "bigfs_namenode_edit_log_sync_duration_seconds",
      help: "How long each edit log fdatasync took",
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [this.metrics.registry],
    });
  }

  /** Opens an edit log segment file whose fdatasyncs are timed; for `NamespaceStore.open`. */
  readonly openSegmentFile = async (path: string, flags: "r+" | "wx"): Promise<SegmentFile> => {
    const handle = await open(path, flags);
    return {
      write: (bytes, position) => writeInPlace(handle.fd, bytes, position),
      datasync: async () => {
        const startedMs = performance.now();
        await handle.datasync();
        this.#syncDurations.observe((performance.now() - startedMs) / 1000);
      },
      sync: () => handle.sync(),
      close: () => handle.close(),
    };
  };

  /** The bound side port. */
  get address(): { host: string; port: number } {
    if (this.#sidePort === undefined) throw new Error("NamenodeHttpStatus is not listening");
    return this.#sidePort.address;
  }

  /** Serves the side port for a NameNode that is up, on its `--host` and `--http-port`. */
  async listen(parts: NamenodeParts): Promise<HttpSidePort> {
    if (this.#parts !== undefined) throw new Error("NamenodeHttpStatus is already listening");
    this.#parts = parts;
    registerNamenodeMetrics(this.metrics.registry, { parts, health: () => this.#chunkHealth() });
    this.#sidePort = await serveHttpSidePort({
      host: parts.config.host,
      port: parts.config.httpPort,
      metrics: this.metrics,
      logger: parts.logger,
      health: () => {
        const failure = parts.store.failure;
        return {
          // A NameNode whose edit log failed serves reads but refuses every change.
          ...(failure === undefined ? {} : { status: "edit-log-failed" }),
          role: "namenode",
          safeMode: parts.safeMode.active,
          liveDatanodes: parts.registry.liveCount,
          ...(failure === undefined ? {} : { editLogFailure: failure.message }),
        };
      },
      pages: {
        "/": () => ({
          contentType: "text/html; charset=utf-8",
          body: renderStatusPage(this.status()),
          headers: statusPageHeaders,
        }),
        "/status.json": () => jsonPage(this.status()),
      },
    });
    return this.#sidePort;
  }

  /** The figures the status page shows, now. */
  status(): NamenodeStatus {
    const parts = this.#parts;
    if (parts === undefined) throw new Error("NamenodeHttpStatus is not listening");
    const nowMs = parts.now();
    const { namespace } = parts.store;
    const views = new Map(parts.registry.views().map((view) => [view.id, view]));
    const datanodes = parts.registry
      .list(nowMs, (id) => parts.chunkMap.replicaCountOf(id))
      .map((entry) => ({ ...entry, activeTransfers: views.get(entry.id)?.activeTransfers ?? 0 }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const counts = { live: 0, dead: 0, decommissioning: 0, decommissioned: 0 };
    let capacityBytes = 0;
    let usedBytes = 0;
    let remainingBytes = 0;
    for (const datanode of datanodes) {
      counts[datanode.state]++;
      if (datanode.state === "dead") continue;
      capacityBytes += datanode.capacityBytes;
      usedBytes += datanode.usedBytes;
      remainingBytes += datanode.remainingBytes;
    }
    const copies = parts.replicationMonitor
      .pendingReplications()
      .slice(0, copiesShownMax)
      .map(({ chunkId, source, target, sizeBytes }) => ({ chunkId, source, target, sizeBytes }));
    return {
      generatedAtMs: nowMs,
      safeMode: parts.safeMode.active,
      ...(parts.store.failure === undefined ? {} : { editLogFailure: parts.store.failure.message }),
      summary: {
        files: namespace.fileCount,
        filesUnderConstruction: namespace.underConstructionCount,
        directories: namespace.directoryCount,
        chunks: namespace.chunkCount,
        capacityBytes,
        usedBytes,
        remainingBytes,
        datanodes: counts,
      },
      datanodes,
      chunkHealth: this.#chunkHealth(),
      replication: { ...parts.replicationMonitor.stats(), copies },
      events: parts.events.newest(eventsShownMax),
    };
  }

  /** Stops serving the side port. */
  async close(): Promise<void> {
    await this.#sidePort?.close();
  }

  #chunkHealth(): ChunkHealth {
    const nowMs = performance.now();
    if (this.#health === undefined || nowMs - this.#health.atMs >= healthCacheMs) {
      this.#health = { atMs: nowMs, value: this.#parts!.chunkMap.health() };
    }
    return this.#health.value;
  }
}
