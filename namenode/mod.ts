/**
 * The NameNode: the namespace tree, its write-ahead edit log and checkpoints, and (as they
 * land) the chunk map, the DataNode registry, placement, leases, safe mode, the replication
 * monitor, decommissioning, the balancer and the server.
 *
 * @module
 */

export {
  type BalanceReport,
  Balancer,
  type BalancerOptions,
  type BalancerParts,
} from "./balancer.js";
export {
  type LoadedImage,
  type LoadImageOptions,
  loadNewestImage,
  type SkippedImage,
  type WriteImageResult,
  writeImage,
} from "./checkpoint.js";
export {
  type ChunkEntry,
  type ChunkHealth,
  ChunkMap,
  type ChunkMapOptions,
  type ChunkStatus,
  type FullReportResult,
  type NewChunk,
  type ProblemChunk,
  type ReplicaOutcome,
  type ReplicaProblem,
  type ReplicaReport,
} from "./chunk_map.js";
export { type NamenodeConfig, namenodeFlags, parseNamenodeConfig } from "./config.js";
export {
  type AdminState,
  type ChunkVersion,
  type DatanodeCommand,
  type DatanodeRegistration,
  DatanodeRegistry,
  type DatanodeRegistryOptions,
  type DatanodeReportEntry,
  type DatanodeState,
  type DatanodeView,
  type HeartbeatStats,
  type RegisterOutcome,
} from "./datanode_registry.js";
export {
  type DecommissionOptions,
  type DecommissionParts,
  DecommissionTracker,
} from "./decommission.js";
export {
  EditLog,
  EditLogCorruptError,
  type EditLogOpenResult,
  type EditLogOptions,
  type EditRecord,
  editPayloadBytesMax,
  type SegmentFile,
  type TruncatedTail,
} from "./edit_log.js";
export {
  copiesShownMax,
  eventsShownMax,
  NamenodeHttpStatus,
  type NamenodeStatus,
} from "./http_status.js";
export { LeaseManager, type LeaseManagerOptions } from "./lease_manager.js";
export { NameNode, type NameNodeOptions } from "./namenode.js";
export {
  type AbandonedFile,
  type ChunkRecord,
  type ContentSummary,
  chunksPerFileMax,
  clientNameLengthMax,
  decodeOp,
  encodeOp,
  type FileEntry,
  Namespace,
  type NamespaceOp,
  type OpResult,
  replicationMax,
  type UnderConstructionFile,
  type WalkedFile,
} from "./namespace.js";
export { NamespaceStore, type NamespaceStoreOptions } from "./namespace_store.js";
export { nameBytesMax, normalizePath, pathBytesMax, splitPath } from "./path.js";
export { choosePipeline, defaultRack, type PlacementCandidate } from "./placement.js";
export {
  type RecentEvent,
  type RecentEventKind,
  RecentEvents,
  type RecentEventsOptions,
} from "./recent_events.js";
export {
  type MoveRequest,
  type PendingReplication,
  ReplicationMonitor,
  type ReplicationMonitorOptions,
  type ReplicationMonitorParts,
  type ReplicationStats,
} from "./replication_monitor.js";
export { SafeMode, type SafeModeOptions } from "./safe_mode.js";
