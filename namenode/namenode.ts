/**
 * The NameNode: assembles the durable namespace, the chunk map, the DataNode registry,
 * leases and safe mode behind one protocol port, and runs the periodic work (DataNode
 * liveness, safe mode, lease expiry, then the replication monitor, decommissioning and the
 * balancer, which never run in safe mode).
 *
 * Everything lives in one object with no global state, so a test can start a NameNode
 * in-process on port 0 and a temp folder.
 */
import {
  type BigFsServer,
  type Logger,
  listen,
  logRefusals,
  type ResponseOf,
  route,
} from "#protocol";
import { ReplicaWaiters } from "./_replica_waiters.js";
import { Balancer, type BalancerOptions } from "./balancer.js";
import { ChunkMap } from "./chunk_map.js";
import { clientRoutes } from "./client_service.js";
import type { NamenodeConfig } from "./config.js";
import { DatanodeRegistry } from "./datanode_registry.js";
import { datanodeRoutes } from "./datanode_service.js";
import { type DecommissionOptions, DecommissionTracker } from "./decommission.js";
import { DecommissionList } from "./decommission_list.js";
import { NamenodeHttpStatus } from "./http_status.js";
import { LeaseManager } from "./lease_manager.js";
import type { DatanodeRef, NamenodeParts, PipelineRequest } from "./namenode_parts.js";
import type { NamespaceOp, OpResult } from "./namespace.js";
import { NamespaceStore } from "./namespace_store.js";
import { choosePipeline } from "./placement.js";
import { RecentEvents } from "./recent_events.js";
import { ReplicationMonitor, type ReplicationMonitorOptions } from "./replication_monitor.js";
import { SafeMode } from "./safe_mode.js";

/** Options for {@linkcode NameNode.start}. */
export interface NameNodeOptions {
  logger: Logger;
  /** The cluster secret. */
  secret: Uint8Array;
  /** The clock; tests may replace it. Default `Date.now`. */
  now?: () => number;
  /**
   * Replication monitor bounds and timeouts. By default a copy or delete times out after
   * max(30 s, 10 heartbeats) and a chunk is looked at two heartbeats (at least 1 s) after its
   * commit.
   */
  replication?: ReplicationMonitorOptions;
  /** Decommissioning bounds. */
  decommission?: DecommissionOptions;
  /** Balancer bounds. */
  balancer?: BalancerOptions;
}

type FsckResponse = ResponseOf<"FSCK">;

/** A running NameNode. */
export class NameNode implements NamenodeParts {
  readonly config: NamenodeConfig;
  readonly secret: Uint8Array;
  readonly logger: Logger;
  readonly tokenLifetimeMs = 60 * 60_000;
  readonly store: NamespaceStore;
  readonly chunkMap: ChunkMap;
  readonly registry: DatanodeRegistry;
  readonly leases: LeaseManager;
  readonly safeMode: SafeMode;
  readonly replicationMonitor: ReplicationMonitor;
  readonly decommissions: DecommissionTracker;
  readonly balancer: Balancer;
  readonly events = new RecentEvents();
  readonly replicaWaiters = new ReplicaWaiters();
  readonly now: () => number;
  #server: BigFsServer | undefined;
  #http: NamenodeHttpStatus | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  /** Deletes decided in safe mode; bounded by the replicas DataNodes report. */
  readonly #postponedDeletes: { datanodeId: string; chunk: { id: bigint; generation: bigint } }[] =
    [];

  private constructor(
    config: NamenodeConfig,
    store: NamespaceStore,
    decommissioned: DecommissionList,
    options: NameNodeOptions,
  ) {
    this.config = config;
    this.store = store;
    this.secret = options.secret;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.registry = new DatanodeRegistry({ deadAfterMs: config.deadAfter });
    this.chunkMap = new ChunkMap({
      isLive: (id) => this.registry.isLive(id),
      // A decommissioned DataNode's replicas are readable but count no more.
      counts: (id) => this.registry.adminState(id) !== "decommissioned",
      onReplicaStored: (id) => this.replicaWaiters.replicaStored(id),
    });
    this.leases = new LeaseManager({ leaseTimeoutMs: config.leaseTimeout });
    this.safeMode = new SafeMode({
      threshold: config.safeModeThreshold / 1000,
      logger: this.logger,
    });
    this.replicationMonitor = new ReplicationMonitor(this, {
      pendingTimeoutMs: Math.max(30_000, 10 * config.heartbeatInterval),
      commitGraceMs: Math.max(1_000, 2 * config.heartbeatInterval),
      ...options.replication,
    });
    this.decommissions = new DecommissionTracker(this, decommissioned, options.decommission);
    this.balancer = new Balancer(this, options.balancer);
  }

  /** Loads the namespace, then listens. Rejects when the folder is locked or the port taken. */
  static async start(config: NamenodeConfig, options: NameNodeOptions): Promise<NameNode> {
    const http = new NamenodeHttpStatus();
    const store = await NamespaceStore.open(config.dataDir, {
      logger: options.logger,
      recover: config.recover,
      checkpointEveryRecords: config.checkpointRecords,
      checkpointEveryMs: config.checkpointInterval,
      openSegmentFile: http.openSegmentFile,
    });
    let decommissioned: DecommissionList;
    try {
      decommissioned = await DecommissionList.load(config.dataDir);
    } catch (error) {
      await store.close();
      throw error;
    }
    if (decommissioned.ids.length > 0) {
      options.logger.info(
        { datanodes: decommissioned.ids, path: decommissioned.path },
        "decommissioned DataNodes: taken out of service again as they register",
      );
    }
    const namenode = new NameNode(config, store, decommissioned, options);
    namenode.#http = http;
    try {
      namenode.#loadChunks();
      namenode.#server = await listen({
        host: config.host,
        port: config.port,
        secret: options.secret,
        role: "namenode",
        handler: http.metrics.instrument(
          route({ ...clientRoutes(namenode), ...datanodeRoutes(namenode) }, "NameNode"),
        ),
        idleTimeoutMs: 10 * 60_000,
        ...logRefusals(namenode.logger),
      });
      await http.listen(namenode);
    } catch (error) {
      await namenode.#server?.close();
      await store.close();
      throw error;
    }
    namenode.updateSafeMode();
    const tickMs = Math.max(50, Math.min(config.heartbeatInterval, 1_000));
    namenode.#timer = setInterval(() => namenode.#tick(), tickMs);
    namenode.logger.info(
      {
        host: namenode.address.host,
        port: namenode.address.port,
        httpPort: namenode.httpAddress.port,
        safeMode: namenode.safeMode.active,
      },
      "NameNode listening",
    );
    return namenode;
  }

  /** Where the protocol port is bound. */
  get address(): { host: string; port: number } {
    if (!this.#server) throw new Error("NameNode is not listening");
    return this.#server.address;
  }

  /** Where the HTTP side port (`/`, `/metrics`, `/health`) is bound. */
  get httpAddress(): { host: string; port: number } {
    if (!this.#http) throw new Error("NameNode is not listening");
    return this.#http.address;
  }

  /** Every chunk of the namespace goes into the chunk map; replicas come from reports. */
  #loadChunks(): void {
    const { namespace } = this.store;
    for (const file of namespace.walkFiles("/")) {
      for (const chunk of file.chunks) {
        this.chunkMap.addChunk({
          id: chunk.id,
          generation: chunk.generation,
          expectedReplication: file.entry.replication,
          size: chunk.size,
          committed: chunk.committed,
        });
      }
    }
    const nowMs = this.now();
    for (const file of namespace.underConstruction()) {
      this.leases.add(file.clientName, file.fileId, nowMs);
      for (const chunk of file.chunks) {
        this.chunkMap.addChunk({
          id: chunk.id,
          generation: chunk.generation,
          expectedReplication: file.replication,
          size: chunk.size,
          committed: chunk.committed,
        });
      }
    }
  }

  commit(action: string, op: NamespaceOp, applied?: (result: OpResult) => void): Promise<OpResult> {
    // Not an async function: one runs per change, and its suspended frame and the promises of
    // its await were a large part of what a durable mkdir allocated here.
    let result: OpResult;
    let durable: Promise<void>;
    try {
      ({ result, durable } = this.#apply(action, op, applied));
    } catch (error) {
      return Promise.reject(error);
    }
    // Only a durable change may destroy data: otherwise a crash could bring back a file
    // whose chunks are already gone.
    if (result.freedChunks.length === 0) return durable.then(() => result);
    return durable.then(() => {
      for (const chunk of result.freedChunks) {
        this.replicationMonitor.chunkRemoved(chunk.id);
        for (const datanodeId of this.chunkMap.removeChunk(chunk.id)) {
          this.deleteReplica(datanodeId, chunk);
        }
      }
      return result;
    });
  }

  /** The synchronous part of {@linkcode commit}: checked, applied, handed to the edit log. */
  #apply(
    action: string,
    op: NamespaceOp,
    applied: ((result: OpResult) => void) | undefined,
  ): { result: OpResult; durable: Promise<void> } {
    this.safeMode.check(action);
    const target = targetOf(op, this.store.namespace);
    const committed = this.store.commit(
      op,
      action.includes(target) ? action : `${action} ${target}`,
    );
    const { result } = committed;
    if (op.op === "complete" || op.op === "abandon") this.leases.remove(op.fileId);
    for (const file of result.abandonedFiles) this.leases.remove(file.fileId);
    if (op.op === "setReplication") {
      for (const chunk of this.store.namespace.chunksOf(op.path)) {
        this.chunkMap.setExpectedReplication(chunk.id, op.replication);
        this.replicationMonitor.check(chunk.id);
      }
    }
    applied?.(result);
    // After `applied`, which records the commit in the chunk map.
    if (op.op === "commitChunk") this.replicationMonitor.checkLater(op.chunkId, this.now());
    return committed;
  }

  choosePipeline(request: PipelineRequest): DatanodeRef[] {
    return choosePipeline(this.registry.views(), request).map(({ id, address }) => ({
      id,
      address,
    }));
  }

  readReplicas(chunkId: bigint, readerAddress?: string): DatanodeRef[] {
    // A DataNode on the reader's own host first (no network hop, as HDFS sorts by distance),
    // then DataNodes in service (a draining one is busy sending its replicas away), then
    // fewest transfers, then lowest use.
    const readerHost = readerAddress === undefined ? undefined : hostOf(readerAddress);
    const ranked = this.chunkMap.liveReplicas(chunkId).flatMap((id) => {
      const view = this.registry.get(id);
      if (!view) return [];
      const use = view.capacityBytes > 0 ? view.effectiveUsedBytes / view.capacityBytes : 1;
      const remote = readerHost !== undefined && hostOf(view.address) === readerHost ? 0 : 1;
      return [{ view, remote, draining: view.state === "live" ? 0 : 1, use }];
    });
    ranked.sort(
      (a, b) =>
        a.remote - b.remote ||
        a.draining - b.draining ||
        a.view.activeTransfers - b.view.activeTransfers ||
        a.use - b.use,
    );
    return ranked.map(({ view: { id, address } }) => ({ id, address }));
  }

  replicaCorrupt(datanodeId: string, chunkId: bigint, generation: bigint, reason: string): void {
    const outcome = this.chunkMap.markCorrupt(datanodeId, chunkId, generation);
    this.logger.warn(
      { datanode: datanodeId, chunkId, generation, reason, outcome },
      "corrupt replica reported",
    );
    this.events.add({
      timeMs: this.now(),
      kind: "corrupt-replica",
      message: `Corrupt replica of chunk ${chunkId} on DataNode ${datanodeId} (${outcome}): ${reason}`,
      datanode: datanodeId,
      chunkId,
    });
    if (outcome === "stale" || outcome === "orphan") {
      this.deleteReplica(datanodeId, { id: chunkId, generation });
    } else {
      this.replicationMonitor.check(chunkId);
    }
  }

  deleteReplica(datanodeId: string, chunk: { id: bigint; generation: bigint }): void {
    if (this.safeMode.active) this.#postponedDeletes.push({ datanodeId, chunk });
    else this.registry.queueDelete(datanodeId, chunk);
  }

  updateSafeMode(): void {
    if (!this.safeMode.active) return;
    const { reported, total } = this.chunkMap.chunksWithReplicaCount();
    this.safeMode.update(reported, total);
    if (this.safeMode.active) return;
    this.events.add({
      timeMs: this.now(),
      kind: "safe-mode-left",
      message: `Left safe mode: ${reported} of ${total} chunks reported`,
    });
    // Nothing was repaired in safe mode: look at every chunk, quickly.
    this.replicationMonitor.startRescan();
    const postponed = this.#postponedDeletes.splice(0);
    for (const { datanodeId, chunk } of postponed) this.registry.queueDelete(datanodeId, chunk);
    if (postponed.length > 0) {
      this.logger.info(
        { replicas: postponed.length },
        "sent the deletes postponed during safe mode",
      );
    }
  }

  fsck(path: string): FsckResponse {
    const report: FsckResponse = {
      files: 0,
      chunks: 0,
      healthy: 0,
      underReplicated: 0,
      overReplicated: 0,
      corrupt: 0,
      missing: 0,
      problems: [],
    };
    const problemsMax = 10_000;
    for (const file of this.store.namespace.walkFiles(path)) {
      report.files++;
      for (const chunk of file.chunks) {
        const health = this.chunkMap.status(chunk.id);
        if (health === undefined) continue;
        report.chunks++;
        switch (health.status) {
          case "healthy":
            report.healthy++;
            continue;
          case "under-replicated":
            report.underReplicated++;
            break;
          case "over-replicated":
            report.overReplicated++;
            break;
          case "corrupt":
            report.corrupt++;
            break;
          case "missing":
            report.missing++;
            break;
        }
        if (report.problems.length < problemsMax) {
          report.problems.push({
            path: file.path,
            chunkId: chunk.id,
            status: health.status,
            liveReplicas: health.liveReplicas,
          });
        }
      }
    }
    return report;
  }

  #tick(): void {
    const nowMs = this.now();
    for (const datanodeId of this.registry.checkLiveness(nowMs)) {
      const lost = this.chunkMap.datanodeDead(datanodeId);
      this.logger.warn({ datanode: datanodeId, replicas: lost.length }, "DataNode declared dead");
      this.events.add({
        timeMs: nowMs,
        kind: "datanode-dead",
        message: `DataNode ${datanodeId} declared dead (${lost.length} replicas lost)`,
        datanode: datanodeId,
      });
      // In safe mode the rescan on leaving it looks at every chunk anyway.
      this.replicationMonitor.datanodeDead(datanodeId, this.safeMode.active ? [] : lost);
    }
    this.updateSafeMode();
    if (this.safeMode.active) return;
    for (const fileId of this.leases.expired(nowMs)) {
      const file = this.store.namespace.file(fileId);
      const holder = this.leases.holder(fileId);
      this.leases.remove(fileId);
      if (file === undefined) continue;
      this.logger.warn(
        { path: file.path, fileId, client: holder },
        "lease expired: removing the partial file",
      );
      this.commit("recover a lease", { op: "abandon", fileId }).catch((error: Error) =>
        this.logger.error({ err: error, fileId }, "could not remove a file whose lease expired"),
      );
    }
    this.replicationMonitor.tick(nowMs);
    this.decommissions.tick();
    this.balancer.tick();
  }

  /** Stops serving: closes connections, checkpoints and releases the data folder. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#timer);
      this.balancer.stop();
      await this.#http?.close();
      await this.#server?.close();
      await this.store.close();
      this.logger.info("NameNode stopped");
    })();
    return this.#stopping;
  }
}

/** What a change is to, for errors: its path (or paths), else its file's path or id. */
function targetOf(op: NamespaceOp, namespace: NamespaceStore["namespace"]): string {
  switch (op.op) {
    case "rename":
      return `${op.source} to ${op.destination}`;
    case "mkdir":
    case "create":
    case "delete":
    case "setReplication":
      return op.path;
    default:
      return namespace.file(op.fileId)?.path ?? `file ${op.fileId}`;
  }
}

/** The host of `host:port`, `[v6]:port` or a socket's `::ffff:a.b.c.d:port`, for comparing. */
function hostOf(address: string): string {
  const colon = address.lastIndexOf(":");
  const host = (colon < 0 ? address : address.slice(0, colon)).replace(/^\[|\]$/g, "");
  return host.startsWith("::ffff:") ? host.slice("::ffff:".length) : host;
}
