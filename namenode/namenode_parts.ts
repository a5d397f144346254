/**
 * The parts of a running NameNode that its services (client_service.ts,
 * datanode_service.ts) work with, and the few operations they share.
 */
import type { datanodeRef, Logger, ResponseOf, schema } from "#protocol";
import type { ReplicaWaiters } from "./_replica_waiters.js";
import type { Balancer } from "./balancer.js";
import type { ChunkMap } from "./chunk_map.js";
import type { NamenodeConfig } from "./config.js";
import type { DatanodeRegistry } from "./datanode_registry.js";
import type { DecommissionTracker } from "./decommission.js";
import type { LeaseManager } from "./lease_manager.js";
import type { NamespaceOp, OpResult } from "./namespace.js";
import type { NamespaceStore } from "./namespace_store.js";
import type { RecentEvents } from "./recent_events.js";
import type { ReplicationMonitor } from "./replication_monitor.js";
import type { SafeMode } from "./safe_mode.js";

/** A DataNode as clients reach it. */
export type DatanodeRef = schema.Infer<typeof datanodeRef>;

/** What a pipeline is chosen for. */
export interface PipelineRequest {
  replication: number;
  chunkSizeBytes: number;
  exclude: ReadonlySet<string>;
}

/** A running NameNode's state and shared operations. */
export interface NamenodeParts {
  readonly config: NamenodeConfig;
  readonly secret: Uint8Array;
  readonly logger: Logger;
  /** How long chunk tokens minted now stay valid. */
  readonly tokenLifetimeMs: number;
  readonly store: NamespaceStore;
  readonly chunkMap: ChunkMap;
  readonly registry: DatanodeRegistry;
  readonly leases: LeaseManager;
  readonly safeMode: SafeMode;
  /** Told of replica changes; keeps chunks at their replication. */
  readonly replicationMonitor: ReplicationMonitor;
  readonly decommissions: DecommissionTracker;
  readonly balancer: Balancer;
  /** Recent events for the status page: DataNodes dying and returning, corrupt replicas. */
  readonly events: RecentEvents;
  /** COMPLETE requests waiting for DataNodes to report their chunks. */
  readonly replicaWaiters: ReplicaWaiters;
  /** The clock, in milliseconds since the epoch. */
  now(): number;
  /**
   * Applies a namespace change and resolves once it is durable. Refused in safe mode (`action`
   * names it in the error). `applied` runs right after the change is applied in memory, in
   * the same step; chunks the change freed are deleted from DataNodes only once durable.
   */
  commit(action: string, op: NamespaceOp, applied?: (result: OpResult) => void): Promise<OpResult>;
  /** DataNodes for a new chunk, first one first. */
  choosePipeline(request: PipelineRequest): DatanodeRef[];
  /** Live, good replicas of a chunk for a reader: on its own host first, then least loaded. */
  readReplicas(chunkId: bigint, readerAddress?: string): DatanodeRef[];
  /** Records a corrupt replica reported by a DataNode or a client. */
  replicaCorrupt(datanodeId: string, chunkId: bigint, generation: bigint, reason: string): void;
  /**
   * Has a DataNode delete a replica, on its next heartbeat; in safe mode the delete waits
   * until the NameNode leaves it, as HDFS does: until then a replica that looks unwanted may
   * be the last copy of something the NameNode has not heard about yet.
   */
  deleteReplica(datanodeId: string, chunk: { id: bigint; generation: bigint }): void;
  /** Re-counts reported chunks and leaves safe mode when enough are. */
  updateSafeMode(): void;
  /** Chunk health below a path. */
  fsck(path: string): ResponseOf<"FSCK">;
}
