/**
 * The DataNode's HTTP side port: `/health` and `/metrics`. Bytes read and written are counted
 * from the DATA frames of its data port ({@linkcode DataNodeHttpStatus.onDataBytes} goes in
 * that port's listen options): frames received carry chunk bytes to write (from clients and
 * from upstream DataNodes), frames sent carry chunk bytes read. The rest is read from the
 * DataNode's parts when `/metrics` is scraped.
 */

import { Counter, Gauge } from "prom-client";
import {
  DaemonMetrics,
  type HttpSidePort,
  type Logger,
  readGauge,
  serveHttpSidePort,
} from "#protocol";

/** What the DataNode's metrics read. */
export interface DataNodeStatusSource {
  readonly datanodeId: string;
  readonly host: string;
  readonly httpPort: number;
  readonly logger: Logger;
  chunkCount(): number;
  usedBytes(): number;
  capacityBytes(): number;
  /** Registered with the NameNode now. */
  registered(): boolean;
  /** Registrations since start-up (more than one: the NameNode was lost and found again). */
  registrations(): number;
  /** Chunk writes (pipelines) under way. */
  activeWrites(): number;
  /** Replication transfers to other DataNodes under way. */
  activeTransfers(): number;
  /** Bytes the scrubber has re-verified; undefined when it is off. */
  scrubbedBytes(): number | undefined;
  /** Whether chunk data bypasses the page cache (`O_DIRECT`). */
  directIo(): boolean;
  /** Bytes of dead records containers still hold on disk. */
  deadContainerBytes(): number;
  /** Bytes of chunk data written and read with direct I/O. */
  directBytes(): { written: number; read: number };
}

/** The DataNode's metrics and HTTP side port. */
export class DataNodeHttpStatus {
  readonly metrics = new DaemonMetrics();
  readonly #bytesWritten: Counter;
  readonly #bytesRead: Counter;
  #sidePort: HttpSidePort | undefined;

  constructor() {
    const registers = [this.metrics.registry];
    this.#bytesWritten = new Counter({
      name: "bigfs_datanode_bytes_written_total",
      help: "Chunk bytes received in DATA frames to be written (from clients and upstream DataNodes)",
      registers,
    });
    this.#bytesRead = new Counter({
      name: "bigfs_datanode_bytes_read_total",
      help: "Chunk bytes sent in DATA frames to readers",
      registers,
    });
  }

  /** For the data port's listen options. */
  readonly onDataBytes = (direction: "received" | "sent", bytes: number): void => {
    (direction === "received" ? this.#bytesWritten : this.#bytesRead).inc(bytes);
  };

  /** The bound side port. */
  get address(): { host: string; port: number } {
    if (this.#sidePort === undefined) throw new Error("DataNodeHttpStatus is not listening");
    return this.#sidePort.address;
  }

  /** Registers the metrics that read `source` and serves the side port. */
  async listen(source: DataNodeStatusSource): Promise<void> {
    if (this.#sidePort !== undefined) throw new Error("DataNodeHttpStatus is already listening");
    const registers = [this.metrics.registry];
    const gauge = (name: string, help: string, read: () => number) =>
      readGauge(this.metrics.registry, name, help, read);
    gauge("bigfs_datanode_chunks", "Finalised chunk replicas stored", () => source.chunkCount());
    gauge("bigfs_datanode_used_bytes", "Bytes of chunk data stored", () => source.usedBytes());
    gauge("bigfs_datanode_capacity_bytes", "Bytes of chunk data this DataNode may hold", () =>
      source.capacityBytes(),
    );
    gauge(
      "bigfs_datanode_container_dead_bytes",
      "Bytes on disk of deleted or replaced small replicas, freed when their container goes",
      () => source.deadContainerBytes(),
    );
    gauge(
      "bigfs_datanode_direct_io",
      "1 when chunk data is written and read past the page cache (O_DIRECT)",
      () => (source.directIo() ? 1 : 0),
    );
    gauge("bigfs_datanode_registered", "1 while registered with the NameNode", () =>
      source.registered() ? 1 : 0,
    );
    new Gauge({
      name: "bigfs_datanode_active_transfers",
      help: "Chunk transfers under way: write pipelines, and replication copies to peers",
      labelNames: ["kind"],
      registers,
      collect() {
        this.set({ kind: "write" }, source.activeWrites());
        this.set({ kind: "replication" }, source.activeTransfers());
      },
    });
    const total = (name: string, help: string, read: () => number | undefined) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read() ?? 0);
        },
      });
    total("bigfs_datanode_registrations_total", "Registrations with the NameNode", () =>
      source.registrations(),
    );
    total("bigfs_datanode_scrubbed_bytes_total", "Bytes the scrubber re-verified", () =>
      source.scrubbedBytes(),
    );
    new Counter({
      name: "bigfs_datanode_direct_io_bytes_total",
      help: "Bytes of chunk data written and read past the page cache (O_DIRECT)",
      labelNames: ["op"],
      registers,
      collect() {
        this.reset();
        const { written, read } = source.directBytes();
        this.inc({ op: "write" }, written);
        this.inc({ op: "read" }, read);
      },
    });
    this.#sidePort = await serveHttpSidePort({
      host: source.host,
      port: source.httpPort,
      metrics: this.metrics,
      logger: source.logger,
      health: () => ({
        role: "datanode",
        datanode: source.datanodeId,
        registered: source.registered(),
      }),
    });
  }

  /** Stops serving the side port. */
  async close(): Promise<void> {
    await this.#sidePort?.close();
  }
}
