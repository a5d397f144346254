/**
 * Request bodies for every message in `protocol/messages.ts`, filled with hostile values of
 * the right type (so they pass the decoder and reach a handler), or now and then with one
 * field of the wrong type or missing (so the decoder must refuse them).
 *
 * Two limits keep the fuzzer a hostile client rather than a rogue NameNode: chunk tokens it
 * signs itself, and replicas it reports, only ever name chunk ids in a range the NameNode never
 * hands out (at and above 2^48), and DataNodes it registers have no capacity, so placement
 * never sends a real client's chunk to them. A peer holding the cluster secret could forge
 * anything; that is not what is being tested.
 */
import { type ChunkOperation, type MessageName, Messages, mintChunkToken } from "#protocol";
import {
  type HostileContext,
  hostileBytes,
  hostileString,
  hostileStrings,
  hostileU64,
  hostileUint,
  wrongTypedValue,
} from "./hostile_values.js";
import type { SeededRandom } from "./seeded_random.js";

/** What a body generator may use besides randomness. */
export interface RequestContext extends HostileContext {
  /** The cluster secret, to sign chunk tokens that pass or almost pass. */
  secret: Uint8Array;
  /** Addresses worth naming as pipeline targets (the DataNode itself, a closed port). */
  addresses: readonly string[];
}

/** Lowest chunk id the fuzzer signs tokens for or reports; the NameNode counts up from 1. */
export const fuzzChunkIdMin = 1n << 48n;

type Field =
  | "path"
  | "name"
  | "datanodeId"
  | "address"
  | "reason"
  | "u64"
  | "uint"
  | "boolean"
  | "token"
  | "fuzzChunkId"
  | "zero"
  | "datanodeRefs"
  | "datanodeIds"
  | "tokens"
  | "replicaReports"
  | "chunkRefs"
  | "purpose";

/** Fields by message; a trailing `?` marks an optional one. */
const requestFields: Record<MessageName, Record<string, Field | `${Field}?`>> = {
  AUTH: { proof: "token" },
  PING: {},
  MKDIR: { path: "path", parents: "boolean?" },
  LIST: { path: "path" },
  STAT: { path: "path" },
  CREATE: {
    path: "path",
    clientName: "name",
    replication: "uint?",
    chunkSizeBytes: "uint?",
    overwrite: "boolean?",
  },
  ADD_CHUNK: {
    path: "path",
    fileId: "u64",
    clientName: "name",
    excludeDatanodes: "datanodeIds?",
    replacesChunkId: "u64?",
  },
  COMMIT_CHUNK: {
    path: "path",
    fileId: "u64",
    clientName: "name",
    chunkId: "u64",
    generation: "u64",
    size: "uint",
    xxh64: "u64",
  },
  COMPLETE: { path: "path", fileId: "u64", clientName: "name" },
  ABANDON: { path: "path", fileId: "u64", clientName: "name" },
  DELETE: { path: "path", recursive: "boolean?" },
  RENAME: { source: "path", destination: "path" },
  RENEW_LEASE: { clientName: "name" },
  OPEN: { path: "path" },
  REPORT_BAD_REPLICA: {
    chunkId: "fuzzChunkId",
    generation: "u64",
    datanodeId: "datanodeId",
    reason: "reason",
  },
  DATANODE_REPORT: {},
  FSCK: { path: "path" },
  CONTENT_SUMMARY: { path: "path" },
  SET_REPLICATION: { path: "path", replication: "uint" },
  BALANCE: { thresholdPercent: "uint?", waitMs: "zero?" },
  DECOMMISSION: { datanodeId: "datanodeId" },
  REGISTER: {
    datanodeId: "datanodeId",
    address: "address",
    rack: "name?",
    capacityBytes: "zero",
    usedBytes: "uint",
    chunks: "replicaReports",
  },
  HEARTBEAT: {
    datanodeId: "datanodeId",
    capacityBytes: "zero",
    usedBytes: "uint",
    activeTransfers: "uint",
  },
  CHUNK_REPORT: { datanodeId: "datanodeId", added: "replicaReports", removed: "chunkRefs" },
  REPORT_CORRUPT: {
    datanodeId: "datanodeId",
    chunkId: "fuzzChunkId",
    generation: "u64",
    reason: "reason",
  },
  WRITE_CHUNK: {
    chunkId: "fuzzChunkId",
    generation: "u64",
    token: "token",
    downstream: "datanodeRefs",
    downstreamTokens: "tokens?",
    purpose: "purpose?",
  },
  READ_CHUNK: {
    chunkId: "fuzzChunkId",
    generation: "u64",
    token: "token",
    offset: "uint",
    length: "uint",
  },
};

/** Every message a peer may send as a request, but AUTH (which ends the connection). */
export const requestNames = (Object.keys(requestFields) as MessageName[]).filter(
  (name) => name !== "AUTH",
);

/** The longest string each string field's schema accepts (see `messages.ts`). */
const stringLengthMax: Partial<Record<Field, number>> = {
  path: 64 * 1024,
  name: 256,
  datanodeId: 128,
  address: 300,
  reason: 1024,
};

/** The string fields of a message's request, with the longest string each accepts. */
export function stringFieldsOf(name: MessageName): { field: string; lengthMax: number }[] {
  return Object.entries(requestFields[name]).flatMap(([field, spec]) => {
    const lengthMax = stringLengthMax[spec.replace("?", "") as Field];
    return lengthMax === undefined ? [] : [{ field, lengthMax }];
  });
}

/** A chunk id in the fuzzer's own range. */
export function fuzzChunkId(random: SeededRandom): bigint {
  const edges = [fuzzChunkIdMin, fuzzChunkIdMin + 1n, 2n ** 63n, 2n ** 64n - 1n];
  return random.chance(0.5)
    ? random.pick(edges)
    : fuzzChunkIdMin + (random.u64() % (2n ** 64n - fuzzChunkIdMin));
}

/**
 * A chunk token for `chunkId`: valid, or valid for another chunk, generation or operation,
 * expired, signed with another secret, or plain bytes.
 */
export function hostileToken(
  random: SeededRandom,
  context: RequestContext,
  grant: { chunkId: bigint; generation: bigint; operation: ChunkOperation },
): Uint8Array {
  const inOneMinute = Date.now() + 60_000;
  const sign = (secret: Uint8Array, changes: Partial<typeof grant & { expiresAtMs: number }>) =>
    mintChunkToken(secret, { ...grant, expiresAtMs: inOneMinute, ...changes });
  switch (random.below(8)) {
    case 0:
    case 1:
      return sign(context.secret, {});
    case 2:
      return sign(context.secret, { chunkId: fuzzChunkId(random) });
    case 3:
      return sign(context.secret, { generation: (grant.generation + 1n) % 2n ** 64n });
    case 4:
      return sign(context.secret, { operation: grant.operation === "read" ? "write" : "read" });
    case 5:
      return sign(context.secret, { expiresAtMs: Date.now() - 1 - random.below(100_000) });
    case 6:
      return sign(Buffer.from("another-cluster-secret-0123456789"), {});
    default:
      return hostileBytes(random, 1024);
  }
}

/**
 * A DataNode id from a bounded set: every registration of a new id adds a DataNode the
 * NameNode keeps (dead, after a while) and walks on each placement and report, so made-up
 * ids without end would measure the registry's size, not the daemon's robustness.
 */
function datanodeIdOf(random: SeededRandom, context: RequestContext): string {
  return random.chance(0.5)
    ? random.pick(hostileStrings).slice(0, 128)
    : random.chance(0.5) && context.extraStrings?.length
      ? random.pick(context.extraStrings).slice(0, 128)
      : `fuzz-dn-${random.below(16)}`;
}

/** A list length: mostly short, now and then the longest that fits the schema or near it. */
function listLength(random: SeededRandom, long: number): number {
  return random.chance(0.02) ? long : random.pick([0, 1, 3, 20]);
}

function generationOf(random: SeededRandom): bigint {
  return random.chance(0.5) ? 1n : hostileU64(random);
}

function fieldValue(
  field: Field,
  random: SeededRandom,
  context: RequestContext,
  body: Record<string, unknown>,
  name: MessageName,
): unknown {
  switch (field) {
    case "path":
      return hostileString(random, 64 * 1024, context);
    case "name":
      return hostileString(random, 256, context);
    case "datanodeId":
      return datanodeIdOf(random, context);
    case "address":
      return random.chance(0.5)
        ? random.pick(context.addresses)
        : hostileString(random, 300, context);
    case "reason":
      return hostileString(random, 1024, context);
    case "u64":
      return name === "WRITE_CHUNK" || name === "READ_CHUNK"
        ? generationOf(random)
        : hostileU64(random);
    case "uint":
      return hostileUint(random);
    case "boolean":
      return random.chance(0.5);
    case "zero":
      return 0;
    case "fuzzChunkId":
      return fuzzChunkId(random);
    case "token": {
      if (name !== "WRITE_CHUNK" && name !== "READ_CHUNK") return hostileBytes(random, 64);
      const operation =
        name === "READ_CHUNK" ? "read" : body.purpose === "replicate" ? "replicate" : "write";
      return hostileToken(random, context, {
        chunkId: body.chunkId as bigint,
        generation: body.generation as bigint,
        operation,
      });
    }
    case "purpose":
      return random.pick(["write", "replicate"]);
    case "datanodeRefs":
      return Array.from({ length: random.pick([0, 0, 1, 2, 64]) }, () => ({
        id: datanodeIdOf(random, context),
        address: random.pick(context.addresses),
      }));
    case "datanodeIds":
      return Array.from({ length: listLength(random, 1024) }, () => datanodeIdOf(random, context));
    case "tokens": {
      const downstream = (body.downstream as unknown[] | undefined) ?? [];
      return downstream.map(() =>
        hostileToken(random, context, {
          chunkId: body.chunkId as bigint,
          generation: body.generation as bigint,
          operation: "write",
        }),
      );
    }
    case "replicaReports":
      return Array.from({ length: listLength(random, 1000) }, () => ({
        id: fuzzChunkId(random),
        generation: hostileU64(random),
        size: hostileUint(random),
      }));
    case "chunkRefs":
      return Array.from({ length: listLength(random, 1000) }, () => ({
        id: fuzzChunkId(random),
        generation: hostileU64(random),
      }));
  }
}

/**
 * A hostile body for `name`. With `breakIt`, one field is of the wrong type or a required one
 * is missing, so the body must be refused by the decoder.
 */
export function hostileRequestBody(
  name: MessageName,
  random: SeededRandom,
  context: RequestContext,
  breakIt = false,
): unknown {
  const fields = Object.entries(requestFields[name]);
  const body: Record<string, unknown> = {};
  // Chunk id and generation first: the token is signed for them.
  fields.sort(([, a], [, b]) => Number(a.startsWith("token")) - Number(b.startsWith("token")));
  for (const [key, spec] of fields) {
    const optional = spec.endsWith("?");
    if (optional && random.chance(0.4)) continue;
    body[key] = fieldValue(spec.replace("?", "") as Field, random, context, body, name);
  }
  const required = fields.filter(([, spec]) => !spec.endsWith("?"));
  if (breakIt && required.length > 0) {
    const [key] = random.pick(required);
    if (random.chance(0.3)) delete body[key];
    else body[key] = wrongTypedValue(random);
  } else if (breakIt) {
    // No field to break: the body itself is not a map.
    return random.pick([null, 7, "a string", [body], random.bytes(8)]);
  }
  return body;
}

/** The wire opcode of a message. */
export function opcodeOf(name: MessageName): number {
  return Messages[name].opcode;
}
