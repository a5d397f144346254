/**
 * The NameNode: the namespace tree, its write-ahead edit log and checkpoints, and (as they
 * land) the chunk map, the DataNode registry, placement, leases, safe mode and the server.
 *
 * @module
 */

export {
  type LoadedImage,
  type LoadImageOptions,
  loadNewestImage,
  type SkippedImage,
  type WriteImageResult,
  writeImage,
} from "./checkpoint.js";
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
export { nameBytesMax, normalizePath, pathBytesMax, splitPath } from "./path.js";
