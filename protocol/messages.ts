/**
 * Every control message BigFS peers exchange, by opcode, with the shape of its request, its
 * response and (for streams) the messages sent inside an open request.
 *
 * Opcode numbers are wire format: never renumber one, only add. Ranges:
 * 1–9 connection, 10–39 client ↔ NameNode, 40–59 DataNode ↔ NameNode, 60–79 DataNode data
 * service. Every schema bounds its strings and lists (see `schema.ts`).
 */
import {
  array,
  boolean,
  bytes,
  type Infer,
  object,
  oneOf,
  optional,
  type Schema,
  string,
  u64,
  uint,
} from "./schema.js";

/**
 * Longest path accepted on the wire. Far above the NameNode's own limits (4096 bytes, 255 per
 * name), so that an over-long path is answered `INVALID_PATH` naming the rule it breaks,
 * instead of closing the connection as a malformed message.
 */
export const pathLengthMax = 64 * 1024;

const path = string({ lengthMax: pathLengthMax });
const name = string({ lengthMax: 256 });
const datanodeId = string({ lengthMax: 128 });
const address = string({ lengthMax: 300 });
const token = bytes({ bytesMax: 1024 });
const empty = object({});

/** A DataNode as clients and peers reach it. */
export const datanodeRef = object({ id: datanodeId, address });
/** Where and with what rights a client writes a new chunk: its id, pipeline and write token. */
export const chunkGrant = object({
  chunkId: u64(),
  generation: u64(),
  pipeline: array(datanodeRef, { itemsMax: 64 }),
  token,
});
/** A chunk replica as a DataNode reports it. */
export const replicaReport = object({ id: u64(), generation: u64(), size: uint() });

/** One entry of a directory listing or a `stat`. */
export const fileEntry = object({
  name,
  type: oneOf("file", "directory"),
  size: uint(),
  replication: uint(),
  chunkSizeBytes: uint(),
  mtimeMs: uint(),
});

/** A chunk of a file with where its replicas live and a read token for it. */
export const locatedChunk = object({
  id: u64(),
  generation: u64(),
  offset: uint(),
  size: uint(),
  xxh64: u64(),
  replicas: array(datanodeRef, { itemsMax: 64 }),
  token,
});

/** Work a NameNode hands a DataNode in a heartbeat reply or a push. */
export const datanodeCommand = object({
  action: oneOf("replicate", "delete"),
  chunks: array(object({ id: u64(), generation: u64() }), { itemsMax: 10_000 }),
  targets: optional(array(datanodeRef, { itemsMax: 64 })),
  tokens: optional(array(token, { itemsMax: 10_000 })),
});

interface MessageSpec {
  readonly opcode: number;
  readonly request: Schema<unknown>;
  readonly response: Schema<unknown>;
  /** Messages sent inside an open request (such as pipeline acks), when the opcode has any. */
  readonly message?: Schema<unknown>;
}

/** Request/response messages, by name. */
export const Messages = {
  // Connection
  AUTH: {
    opcode: 1,
    request: object({ proof: bytes({ bytesMax: 64 }) }),
    response: object({ proof: bytes({ bytesMax: 64 }) }),
  },
  PING: { opcode: 2, request: empty, response: object({ timeMs: uint() }) },

  // Client ↔ NameNode: namespace
  MKDIR: { opcode: 10, request: object({ path, parents: optional(boolean()) }), response: empty },
  LIST: {
    opcode: 11,
    request: object({ path }),
    response: object({ entries: array(fileEntry, { itemsMax: 1_000_000 }) }),
  },
  STAT: {
    opcode: 12,
    request: object({ path }),
    response: object({
      entry: fileEntry,
      chunks: array(
        object({
          id: u64(),
          generation: u64(),
          size: uint(),
          xxh64: u64(),
          replicas: array(datanodeId, { itemsMax: 64 }),
        }),
        { itemsMax: 1_000_000 },
      ),
    }),
  },
  CREATE: {
    opcode: 13,
    request: object({
      path,
      clientName: name,
      replication: optional(uint()),
      chunkSizeBytes: optional(uint()),
      overwrite: optional(boolean()),
      // Also add the first chunk (as ADD_CHUNK would), saving a round trip for small files.
      firstChunk: optional(boolean()),
    }),
    response: object({
      fileId: u64(),
      replication: uint(),
      chunkSizeBytes: uint(),
      // The first chunk, when asked for and a DataNode could take it.
      chunk: optional(chunkGrant),
    }),
  },
  ADD_CHUNK: {
    opcode: 14,
    request: object({
      path,
      fileId: u64(),
      clientName: name,
      excludeDatanodes: optional(array(datanodeId, { itemsMax: 1024 })),
      // An uncommitted chunk whose pipeline failed: the new chunk takes its place.
      replacesChunkId: optional(u64()),
    }),
    response: chunkGrant,
  },
  COMMIT_CHUNK: {
    opcode: 15,
    request: object({
      path,
      fileId: u64(),
      clientName: name,
      chunkId: u64(),
      generation: u64(),
      size: uint(),
      xxh64: u64(),
    }),
    response: empty,
  },
  COMPLETE: {
    opcode: 16,
    request: object({
      path,
      fileId: u64(),
      clientName: name,
      // The last chunk's COMMIT_CHUNK, sent along to save a round trip.
      lastChunk: optional(
        object({ chunkId: u64(), generation: u64(), size: uint(), xxh64: u64() }),
      ),
    }),
    response: empty,
  },
  ABANDON: {
    opcode: 17,
    request: object({ path, fileId: u64(), clientName: name }),
    response: empty,
  },
  DELETE: {
    opcode: 18,
    request: object({ path, recursive: optional(boolean()) }),
    response: empty,
  },
  RENAME: { opcode: 19, request: object({ source: path, destination: path }), response: empty },
  RENEW_LEASE: { opcode: 20, request: object({ clientName: name }), response: empty },
  OPEN: {
    opcode: 21,
    request: object({ path }),
    response: object({ size: uint(), chunks: array(locatedChunk, { itemsMax: 1_000_000 }) }),
  },
  REPORT_BAD_REPLICA: {
    opcode: 22,
    request: object({
      chunkId: u64(),
      generation: u64(),
      datanodeId,
      reason: string({ lengthMax: 1024 }),
    }),
    response: empty,
  },
  DATANODE_REPORT: {
    opcode: 23,
    request: empty,
    response: object({
      datanodes: array(
        object({
          id: datanodeId,
          address,
          rack: optional(name),
          state: oneOf("live", "dead", "decommissioning", "decommissioned"),
          capacityBytes: uint(),
          usedBytes: uint(),
          // Room left for chunks: the smaller of capacity less use and the disk's free space.
          remainingBytes: uint(),
          chunks: uint(),
          lastHeartbeatMsAgo: uint(),
          // Replica deletions queued for it, not yet sent on a heartbeat reply.
          pendingDeletes: optional(uint()),
          // While decommissioning: chunks on it that still need a copy elsewhere, as of the
          // last full pass over its chunks (absent until the first pass ends).
          decommissionRemaining: optional(uint()),
        }),
        { itemsMax: 100_000 },
      ),
    }),
  },
  FSCK: {
    opcode: 24,
    request: object({ path }),
    response: object({
      files: uint(),
      chunks: uint(),
      healthy: uint(),
      underReplicated: uint(),
      overReplicated: uint(),
      corrupt: uint(),
      missing: uint(),
      problems: array(
        object({
          path,
          chunkId: u64(),
          status: oneOf("under-replicated", "over-replicated", "corrupt", "missing"),
          liveReplicas: uint(),
        }),
        { itemsMax: 100_000 },
      ),
    }),
  },

  CONTENT_SUMMARY: {
    opcode: 25,
    request: object({ path }),
    response: object({
      files: uint(),
      directories: uint(),
      bytes: uint(),
      spaceConsumedBytes: uint(),
    }),
  },
  // Changes a complete file's replication; the replication monitor adds or removes copies.
  SET_REPLICATION: { opcode: 26, request: object({ path, replication: uint() }), response: empty },
  // Starts a balancing job (or joins the one running) and waits up to `waitMs` (default 20 s,
  // under a client's default request deadline) for it to end; the job goes on after a reply
  // with `running: true`, and a later BALANCE joins it. Figures are the job's, cumulative.
  BALANCE: {
    opcode: 27,
    request: object({ thresholdPercent: optional(uint()), waitMs: optional(uint()) }),
    response: object({
      // Every live DataNode in service is within the threshold of the mean use.
      balanced: boolean(),
      running: boolean(),
      thresholdPercent: uint(),
      movedCount: uint(),
      bytesMoved: uint(),
      failedMoves: uint(),
      movesInFlight: uint(),
      // The most recent moves done, oldest first (at most 1000).
      moved: array(
        object({ chunkId: u64(), source: datanodeId, target: datanodeId, sizeBytes: uint() }),
        { itemsMax: 1000 },
      ),
      // Use as the balancer counts it: bytes of the replicas the NameNode knows on each.
      datanodes: array(object({ id: datanodeId, usedBytes: uint(), capacityBytes: uint() }), {
        itemsMax: 100_000,
      }),
    }),
  },
  // Drains a DataNode: no new chunks, its replicas copied elsewhere; DATANODE_REPORT shows it
  // `decommissioned` once no chunk depends on it.
  DECOMMISSION: { opcode: 28, request: object({ datanodeId }), response: empty },

  // DataNode ↔ NameNode
  REGISTER: {
    opcode: 40,
    request: object({
      datanodeId,
      address,
      rack: optional(name),
      capacityBytes: uint(),
      usedBytes: uint(),
      // The smaller of capacity less use and the free space of the disk the chunks are on;
      // absent: capacity less use.
      remainingBytes: optional(uint()),
      chunks: array(replicaReport, { itemsMax: 10_000_000 }),
    }),
    response: object({ heartbeatIntervalMs: uint() }),
  },
  HEARTBEAT: {
    opcode: 41,
    request: object({
      datanodeId,
      capacityBytes: uint(),
      usedBytes: uint(),
      // As in REGISTER.
      remainingBytes: optional(uint()),
      activeTransfers: uint(),
    }),
    response: object({ commands: array(datanodeCommand, { itemsMax: 1024 }) }),
  },
  CHUNK_REPORT: {
    opcode: 42,
    request: object({
      datanodeId,
      added: array(replicaReport, { itemsMax: 100_000 }),
      removed: array(object({ id: u64(), generation: u64() }), { itemsMax: 100_000 }),
    }),
    response: empty,
  },
  REPORT_CORRUPT: {
    opcode: 43,
    request: object({
      datanodeId,
      chunkId: u64(),
      generation: u64(),
      reason: string({ lengthMax: 1024 }),
    }),
    response: empty,
  },

  // DataNode data service
  WRITE_CHUNK: {
    opcode: 60,
    request: object({
      chunkId: u64(),
      generation: u64(),
      token,
      downstream: array(datanodeRef, { itemsMax: 64 }),
      downstreamTokens: optional(array(token, { itemsMax: 64 })),
      // Which operation `token` grants: a client's write, or a DataNode copying a replica on
      // the NameNode's command. Absent means "write".
      purpose: optional(oneOf("write", "replicate")),
    }),
    response: object({ stored: array(datanodeId, { itemsMax: 64 }), size: uint(), xxh64: u64() }),
    // `windowBytes`: the most this DataNode lets the sender have unacknowledged from now on
    // (`send_window.ts`); it shrinks as the DataNode's writes multiply.
    message: object({ ackedBytes: uint(), windowBytes: optional(uint()) }),
  },
  READ_CHUNK: {
    opcode: 61,
    request: object({ chunkId: u64(), generation: u64(), token, offset: uint(), length: uint() }),
    response: object({ bytesSent: uint() }),
  },
} as const satisfies Record<string, MessageSpec>;

/** One-way messages (server push), by name. */
export const Pushes = {
  COMMANDS: { opcode: 44, body: object({ commands: array(datanodeCommand, { itemsMax: 1024 }) }) },
  NOTICE: { opcode: 3, body: object({ message: string({ lengthMax: 4096 }) }) },
} as const satisfies Record<string, { opcode: number; body: Schema<unknown> }>;

/** The name of a request/response message, such as `"MKDIR"`. */
export type MessageName = keyof typeof Messages;
/** The name of a push message. */
export type PushName = keyof typeof Pushes;
/** The body of a request. */
export type RequestOf<N extends MessageName> = Infer<(typeof Messages)[N]["request"]>;
/** The body of a response. */
export type ResponseOf<N extends MessageName> = Infer<(typeof Messages)[N]["response"]>;
/** The body of a message inside an open request. */
export type StreamMessageOf<N extends MessageName> = (typeof Messages)[N] extends {
  message: Schema<infer T>;
}
  ? T
  : never;
/** The body of a push. */
export type PushOf<N extends PushName> = Infer<(typeof Pushes)[N]["body"]>;

/** A message's spec found by its opcode. */
export interface OpcodeEntry {
  readonly name: string;
  readonly request?: Schema<unknown>;
  readonly response?: Schema<unknown>;
  readonly message?: Schema<unknown>;
  readonly push?: Schema<unknown>;
}

const byOpcode = new Map<number, OpcodeEntry>();
for (const [messageName, spec] of Object.entries(Messages) as [string, MessageSpec][]) {
  if (byOpcode.has(spec.opcode)) throw new Error(`Opcode ${spec.opcode} is used twice`);
  byOpcode.set(spec.opcode, {
    name: messageName,
    request: spec.request,
    response: spec.response,
    ...(spec.message ? { message: spec.message } : {}),
  });
}
for (const [pushName, spec] of Object.entries(Pushes)) {
  if (byOpcode.has(spec.opcode)) throw new Error(`Opcode ${spec.opcode} is used twice`);
  byOpcode.set(spec.opcode, { name: pushName, push: spec.body });
}

/** Looks a message up by its opcode; `undefined` for an opcode no message has. */
export function opcodeEntry(opcode: number): OpcodeEntry | undefined {
  return byOpcode.get(opcode);
}
