/**
 * The BigFS client: the {@linkcode BigFsClient} library, which asks the NameNode for metadata
 * and streams bytes straight to and from DataNodes, every byte checksummed end to end.
 *
 * - Uploads (`file_writer.ts`): chunks cut from the source (`chunk_source.ts`), each written
 *   through a DataNode pipeline (`chunk_writer.ts`), several in flight, failed pipelines
 *   replaced, leases renewed (`lease_renewer.ts`).
 * - Downloads (`file_reader.ts`): chunks read from replicas (`chunk_reader.ts`) several at a
 *   time, verified, delivered in order; bad replicas reported and skipped.
 * - Connections: one to the NameNode (`namenode_client.ts`), pooled ones to DataNodes
 *   (`datanode_pool.ts`).
 *
 * The `bigfs` command-line tool lives in `main.ts` and `cli*.ts`; `bigfs-cluster` (a local
 * cluster of daemon processes) in `cluster_main.ts` and `local_cluster.ts`.
 *
 * @module
 */
export { BigFsError, type ErrorCodeName, isBigFsError } from "#protocol";
export { BigFsClient } from "./client.js";
export { nodeFlagsOf } from "./local_cluster.js";
export type {
  BigFsClientOptions,
  ContentSummary,
  DatanodeReport,
  FileEntry,
  FileStatus,
  FsckReport,
  GetDestination,
  GetOptions,
  GetResult,
  PutOptions,
  PutResult,
  PutSource,
  ReadStreamOptions,
  WriteStreamOptions,
} from "./options.js";
