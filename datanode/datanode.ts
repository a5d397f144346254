/**
 * The DataNode daemon, assembled from its parts: the chunk store in the data folder, the data
 * service (WRITE_CHUNK pipelines and READ_CHUNK), the link to the NameNode, the command
 * runner and the scrubber. It holds no global state, so tests start DataNodes in-process on
 * port 0, and `main.ts` starts one for the `bigfs-datanode` bin.
 */
import { hostname } from "node:os";
import {
  BigFsError,
  type BigFsServer,
  ConnectionPool,
  createLogger,
  type FolderLock,
  type HostPort,
  type IncomingRequest,
  type Logger,
  listen,
  lockFolder,
  logRefusals,
} from "#protocol";
import type { DataNodeRef } from "./_naming.js";
import { ChunkStore } from "./chunk_store.js";
import { CommandRunner } from "./command_runner.js";
import type { DataNodeConfig } from "./config.js";
import { DataNodeHttpStatus } from "./http_status.js";
import { loadOrCreateDataNodeId } from "./identity.js";
import { NameNodeLink } from "./namenode_link.js";
import { ReadService } from "./read_service.js";
import { Scrubber } from "./scrubber.js";
import { WritePipeline } from "./write_pipeline.js";

/** Options for {@linkcode DataNode.start} beyond the flags. */
export interface DataNodeOptions {
  /** The cluster secret. */
  secret: Uint8Array;
  /** Default: a silent logger. */
  logger?: Logger;
  /** Pause between scrubber passes; default one hour. */
  scrubIntervalMs?: number;
  /** Longest pause between attempts to reach the NameNode; default 10 s. */
  reconnectDelayMsMax?: number;
  /** Replication transfers at once; default 4. */
  transfersMax?: number;
}

/** A running DataNode. */
export class DataNode {
  /** This DataNode's id, kept in its data folder across restarts. */
  readonly id: string;
  /** The advertised `host:port` that clients and peers reach it at. */
  readonly address: string;
  readonly #server: BigFsServer;
  readonly #parts: Parts;
  #stopping: Promise<void> | undefined;

  private constructor(id: string, address: string, server: BigFsServer, parts: Parts) {
    this.id = id;
    this.address = address;
    this.#server = server;
    this.#parts = parts;
  }

  /**
   * Opens the store in `config.dataDir`, starts serving on `config.host:config.port`, and
   * starts registering with the NameNode in the background (it need not be up yet).
   *
   * @throws when the data folder cannot be used or the port cannot be bound.
   */
  static async start(config: DataNodeConfig, options: DataNodeOptions): Promise<DataNode> {
    const logger = options.logger ?? createLogger({ name: "datanode", level: "silent" });
    const lock = await lockFolder(config.dataDir, "DataNode");
    let store: ChunkStore;
    let id: string;
    let link: NameNodeLink | undefined;
    try {
      id = await loadOrCreateDataNodeId(config.dataDir);
      store = await ChunkStore.open(config.dataDir, {
        capacityBytes: config.capacity,
        directIo: config.directIo,
        logger,
        // The NameNode learns at once, not at the next heartbeat, and stops placing chunks here.
        onNoSpace: () => link?.heartbeatSoon(),
      });
    } catch (error) {
      await lock.release();
      throw error;
    }
    const handlers: Handlers = {};
    const inFlight = new Set<Promise<unknown>>();
    const http = new DataNodeHttpStatus();
    let server: BigFsServer;
    try {
      server = await listen({
        host: config.host,
        port: config.port,
        secret: options.secret,
        role: "datanode",
        // A connection with nothing in flight for this long is closed, like the NameNode's.
        idleTimeoutMs: 10 * 60_000,
        ...logRefusals(logger),
        onDataBytes: http.onDataBytes,
        handler: http.metrics.instrument((request) => {
          const handled = dispatch(handlers, request);
          inFlight.add(handled);
          handled.then(
            () => inFlight.delete(handled),
            () => inFlight.delete(handled),
          );
          return handled;
        }),
      });
    } catch (error) {
      await store.close();
      await lock.release();
      throw error;
    }
    const address = advertisedAddress(config, server.address.port);
    const self: DataNodeRef = { id, address };
    const peers = new ConnectionPool({ secret: options.secret, role: "datanode", logger });
    const parts = { store, peers, logger, inFlight, lock, http } as Parts;
    const reportCorrupt = (chunk: { id: bigint; generation: bigint }, reason: string) =>
      parts.link.reportCorrupt(chunk.id, chunk.generation, reason);
    const writes = new WritePipeline({
      store,
      secret: options.secret,
      self,
      peers,
      logger,
      writeBufferBytes: config.writeBuffer,
      onStored: (replica) => parts.link.reportAdded(replica),
    });
    const reads = new ReadService({
      store,
      secret: options.secret,
      self,
      logger,
      onCorrupt: reportCorrupt,
    });
    handlers.write = (request) => writes.handle(request);
    handlers.read = (request) => reads.handle(request);
    parts.runner = new CommandRunner({
      store,
      peers,
      logger,
      onRemoved: (chunk) => parts.link.reportRemoved(chunk),
      onCorrupt: reportCorrupt,
      ...(options.transfersMax === undefined ? {} : { transfersMax: options.transfersMax }),
    });
    parts.link = link = new NameNodeLink({
      namenode: config.namenode,
      secret: options.secret,
      datanodeId: id,
      address,
      ...(config.rack === undefined ? {} : { rack: config.rack }),
      replicas: store,
      activeTransfers: () => parts.runner.activeTransfers + writes.activeWrites,
      onCommands: (commands) => parts.runner.run(commands),
      logger,
      ...(options.reconnectDelayMsMax === undefined
        ? {}
        : { reconnectDelayMsMax: options.reconnectDelayMsMax }),
    });
    parts.scrubber =
      config.scrubRate > 0
        ? new Scrubber(store, {
            bytesPerSecond: config.scrubRate,
            onCorrupt: (replica, error) => reportCorrupt(replica, `scrubber: ${error.message}`),
            logger,
            intervalMs: options.scrubIntervalMs ?? config.scrubInterval,
          })
        : undefined;
    try {
      await http.listen({
        datanodeId: id,
        host: config.host,
        httpPort: config.httpPort,
        logger,
        chunkCount: () => store.chunkCount,
        usedBytes: () => store.usedBytes,
        capacityBytes: () => store.capacityBytes,
        registered: () => parts.link.registered,
        registrations: () => parts.link.registrations,
        activeWrites: () => writes.activeWrites,
        activeTransfers: () => parts.runner.activeTransfers,
        scrubbedBytes: () => parts.scrubber?.bytesVerified,
        directIo: () => store.directIo,
        deadContainerBytes: () => store.deadContainerBytes,
        directBytes: () => store.directBytes,
      });
    } catch (error) {
      await server.close();
      await store.close();
      await lock.release();
      throw error;
    }
    const node = new DataNode(id, address, server, parts);
    logger.info(
      {
        datanode: id,
        address,
        host: server.address.host,
        port: server.address.port,
        httpPort: http.address.port,
        chunks: store.chunkCount,
      },
      "DataNode started",
    );
    parts.link.start();
    parts.scrubber?.start();
    return node;
  }

  /** The bound address (the port is the real one when started on port 0). */
  get boundAddress(): HostPort {
    return this.#server.address;
  }

  /** Where the HTTP side port (`/health`, `/metrics`) is bound. */
  get httpAddress(): HostPort {
    return this.#parts.http.address;
  }

  /** Registered with the NameNode right now. */
  get registered(): boolean {
    return this.#parts.link.registered;
  }

  /**
   * Stops cleanly: stops accepting, aborts in-flight writes (their temp files are removed)
   * and transfers, stops the scrubber and the NameNode link, and closes the store. Finalised
   * chunks stay. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const { store, peers, link, runner, scrubber, logger, inFlight, lock } = this.#parts;
    const startedMs = Date.now();
    await this.#parts.http.close();
    await this.#server.close();
    await runner.stop();
    peers.close();
    await Promise.allSettled([...inFlight]);
    await Promise.allSettled([scrubber?.stop(), link.stop()]);
    await store.close();
    await lock.release();
    logger.info({ datanode: this.id, durationMs: Date.now() - startedMs }, "DataNode stopped");
  }
}

interface Parts {
  store: ChunkStore;
  peers: ConnectionPool;
  logger: Logger;
  inFlight: Set<Promise<unknown>>;
  link: NameNodeLink;
  runner: CommandRunner;
  scrubber: Scrubber | undefined;
  lock: FolderLock;
  http: DataNodeHttpStatus;
}

interface Handlers {
  write?: (request: IncomingRequest<"WRITE_CHUNK">) => Promise<unknown>;
  read?: (request: IncomingRequest<"READ_CHUNK">) => Promise<unknown>;
}

async function dispatch(handlers: Handlers, request: IncomingRequest): Promise<unknown> {
  // A cancelled request's stream queue is not ended by the connection; end it here so a
  // handler waiting for the next frame wakes up (see the report on `Connection`).
  request.signal.addEventListener("abort", () => request.items.end(request.signal.reason), {
    once: true,
  });
  const { write, read } = handlers;
  if (write === undefined || read === undefined) {
    throw new BigFsError("UNAVAILABLE", `Cannot serve ${request.name}: the DataNode is starting`);
  }
  switch (request.name) {
    case "WRITE_CHUNK":
      return write(request as IncomingRequest<"WRITE_CHUNK">);
    case "READ_CHUNK":
      return read(request as IncomingRequest<"READ_CHUNK">);
    case "PING":
      return { timeMs: Date.now() };
    default:
      throw new BigFsError(
        "INVALID_ARGUMENT",
        `Cannot serve ${request.name}: a DataNode does not offer it`,
      );
  }
}

function advertisedAddress(config: DataNodeConfig, boundPort: number): string {
  const advertise = config.advertise;
  const wildcard = config.host === "0.0.0.0" || config.host === "::";
  const host = advertise?.host ?? (wildcard ? hostname() : config.host);
  const port = advertise === undefined || advertise.port === 0 ? boundPort : advertise.port;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
