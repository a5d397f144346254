/**
 * The BigFS wire protocol, and the small pieces every BigFS process shares.
 *
 * - Frames and their codec (`frame.ts`, `frame_decoder.ts`), documented byte by byte there.
 * - Every control message and its schema (`messages.ts`, `schema.ts`).
 * - Connections: requests by id with deadlines, data streams, pushes and backpressure
 *   (`connection.ts`), opened with {@linkcode dial} and served with {@linkcode listen};
 *   each data stream's send window (`send_window.ts`).
 * - The handshake with mutual HMAC authentication (`handshake.ts`) and chunk access tokens
 *   (`chunk_token.ts`).
 * - Typed error codes (`errors.ts`) and xxh64 checksums (`checksum.ts`).
 * - The HTTP side port (`/health`, `/metrics`) and each daemon's own metrics registry
 *   (`http_side_port.ts`, `metrics.ts`).
 * - Shared daemon helpers: sizes, durations, the logger and the flag parser. They live here
 *   because this is the one module every BigFS process already depends on.
 *
 * @module
 */

export { type ByteParts, bytePartsLength, bytePartsList, joinByteParts } from "./byte_parts.js";
export { verifyXxh64, Xxh64Stream, xxh64, xxh64Hex } from "./checksum.js";
export {
  type ChunkGrant,
  type ChunkOperation,
  type ChunkTokenExpectation,
  chunkTokenSizeBytes,
  deriveChunkTokenKey,
  mintChunkToken,
  verifyChunkToken,
} from "./chunk_token.js";
export {
  type Config,
  ConfigError,
  type ConfigErrorOptions,
  type ConfigSpec,
  type FlagSpec,
  type FlagSpecOf,
  type FlagType,
  type FlagValues,
  formatUsage,
  type HostPort,
  type IntegerFlagSpec,
  type ParseConfigOptions,
  parseConfig,
} from "./config.js";
export {
  Connection,
  type ConnectionOptions,
  type DataToSend,
  type IncomingRequest,
  OutgoingRequest,
  type PushHandler,
  type RequestHandler,
  type RequestOptions,
} from "./connection.js";
export { ConnectionPool, type ConnectionPoolOptions, parseHostPort } from "./connection_pool.js";
export { type DialOptions, dial } from "./dial.js";
export {
  type PositionalVectorWriter,
  type PositionalWriter,
  replaceFileDurably,
  syncFolder,
  writeAll,
  writeAllParts,
} from "./durable_io.js";
export { formatDuration, parseDuration } from "./duration.js";
export {
  BigFsError,
  type BigFsErrorOptions,
  ErrorCode,
  type ErrorCodeName,
  errorCodeName,
  isBigFsError,
} from "./errors.js";
export { type FolderLock, lockFolder } from "./folder_lock.js";
export {
  type CancelFrame,
  type ControlFrame,
  cbor,
  type DataFrame,
  type DataFrameFields,
  dataHeaderBytes,
  type ErrorFrame,
  encodeCancelFrame,
  encodeCbor,
  encodeControlFrame,
  encodeDataFrameHeader,
  encodeErrorFrame,
  type Frame,
  FrameKind,
  type FrameKindValue,
  flagEnd,
  frameHeaderBytes,
  payloadBytesMaxDefault,
} from "./frame.js";
export { type FrameDecodeResult, FrameDecoder, type FrameDecoderOptions } from "./frame_decoder.js";
export {
  acceptHandshake,
  encodePreface,
  type HandshakeOptions,
  type HandshakeResult,
  initiateHandshake,
  PeerRole,
  type PeerRoleName,
  prefaceBytes,
  protocolVersion,
  secretBytesMin,
} from "./handshake.js";
export {
  type HttpPage,
  HttpSidePort,
  type HttpSidePortOptions,
  httpSidePortDefaults,
  jsonPage,
  serveHttpSidePort,
} from "./http_side_port.js";
export {
  createLogger,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  logLevels,
} from "./logger.js";
export {
  datanodeCommand,
  datanodeRef,
  fileEntry,
  locatedChunk,
  type MessageName,
  Messages,
  type OpcodeEntry,
  opcodeEntry,
  Pushes,
  type PushName,
  type PushOf,
  pathLengthMax,
  type RequestOf,
  type ResponseOf,
  replicaReport,
  type StreamMessageOf,
} from "./messages.js";
export { DaemonMetrics, type DaemonMetricsOptions, readGauge } from "./metrics.js";
export { ReceiveBuffers, readBytesMax, SocketReceiver } from "./receive_buffers.js";
export { type Routes, route } from "./router.js";
export * as schema from "./schema.js";
export { loadSecret } from "./secret.js";
export {
  followAcks,
  SendWindow,
  sendWindowBytesDefault,
  sendWindowStartBytes,
} from "./send_window.js";
export {
  BigFsServer,
  type ListenOptions,
  listen,
  logRefusals,
  type RefusedConnections,
} from "./server.js";
export { formatSize, parseSize } from "./size.js";
export { type StreamItem, type StreamMessage, StreamQueue } from "./stream_queue.js";
export { untilAborted } from "./until_aborted.js";
