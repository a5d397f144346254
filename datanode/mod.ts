/**
 * The DataNode: the checksummed chunk store, the pipelined write and verified read service,
 * heartbeats and chunk reports, command execution and the scrubber.
 *
 * - {@linkcode DataNode} puts the parts together; `main.ts` is the `bigfs-datanode` bin.
 * - The store: {@linkcode ChunkStore} and {@linkcode Scrubber}.
 * - The data service: {@linkcode WritePipeline} (WRITE_CHUNK) and {@linkcode ReadService}
 *   (READ_CHUNK); errors name the DataNode at fault as `DataNode <id> (<host:port>)`, which
 *   {@linkcode dataNodeNamedIn} finds again.
 * - Talking to others: {@linkcode NameNodeLink}, {@linkcode CommandRunner}.
 *
 * @module
 */

export { alignDown, DirectBuffers, directWriteFlags } from "./_direct_io.js";
export { type DataNodeRef, dataNodeNamedIn, describeDataNode } from "./_naming.js";
export {
  ChunkStore,
  type ChunkStoreOptions,
  type ChunkWriteOptions,
  ChunkWriter,
  type CreateWriterOptions,
  type ReadPiece,
  type ReplicaInfo,
  type VerifyHooks,
} from "./chunk_store.js";
export { CommandRunner, type CommandRunnerOptions } from "./command_runner.js";
export { type DataNodeConfig, dataNodeConfigSpec, parseDataNodeConfig } from "./config.js";
export { DataNode, type DataNodeOptions } from "./datanode.js";
export { loadOrCreateDataNodeId } from "./identity.js";
export {
  type DataNodeCommand,
  NameNodeLink,
  type NameNodeLinkOptions,
  type ReplicaSource,
} from "./namenode_link.js";
export { ReadService, type ReadServiceOptions } from "./read_service.js";
export { Scrubber, type ScrubberOptions, type ScrubResult } from "./scrubber.js";
export { WritePipeline, type WritePipelineOptions } from "./write_pipeline.js";
