/**
 * The namespace's operations and their wire form in the edit log: one CBOR map per op with
 * exactly the op's fields, each checked for its type when encoded and when decoded.
 *
 * @module
 */
import { cbor, encodeCbor } from "#protocol";
import { u64Max } from "./_namespace_nodes.js";
import { type FieldKind, type OpFieldLists, readOp } from "./_op_cbor_reader.js";

/** Makes a directory, and with `parents` its missing parents too (`mkdir -p`). */
export interface MkdirOp {
  op: "mkdir";
  path: string;
  parents: boolean;
  mtimeMs: number;
}
/** Starts a file under construction; makes missing parent directories. */
export interface CreateOp {
  op: "create";
  path: string;
  fileId: bigint;
  clientName: string;
  replication: number;
  chunkSizeBytes: number;
  overwrite: boolean;
  mtimeMs: number;
}
/**
 * Adds an uncommitted chunk to a file under construction: appended, or (when `replaces` is
 * a chunk id, not `0n`) in place of an uncommitted chunk whose pipeline failed. Several
 * chunks may be uncommitted at once: a client keeps several in flight.
 */
export interface AddChunkOp {
  op: "addChunk";
  fileId: bigint;
  chunkId: bigint;
  generation: bigint;
  /** The uncommitted chunk this one replaces, or `0n` to append. */
  replaces: bigint;
}
/** Records a chunk's final size and checksum. */
export interface CommitChunkOp {
  op: "commitChunk";
  fileId: bigint;
  chunkId: bigint;
  generation: bigint;
  size: number;
  xxh64: bigint;
}
/** Makes a file under construction visible at its path. */
export interface CompleteOp {
  op: "complete";
  fileId: bigint;
  mtimeMs: number;
}
/** Drops a file under construction. */
export interface AbandonOp {
  op: "abandon";
  fileId: bigint;
}
/** Deletes a file or a directory. */
export interface DeleteOp {
  op: "delete";
  path: string;
  recursive: boolean;
  mtimeMs: number;
}
/** Moves a file or a directory. */
export interface RenameOp {
  op: "rename";
  source: string;
  destination: string;
  mtimeMs: number;
}
/** Changes a complete file's replication. */
export interface SetReplicationOp {
  op: "setReplication";
  path: string;
  replication: number;
}

/** Every change to the namespace, as the edit log records it. */
export type NamespaceOp =
  | MkdirOp
  | CreateOp
  | AddChunkOp
  | CommitChunkOp
  | CompleteOp
  | AbandonOp
  | DeleteOp
  | RenameOp
  | SetReplicationOp;

const opFields = {
  mkdir: { path: "string", parents: "boolean", mtimeMs: "uint" },
  create: {
    path: "string",
    fileId: "u64",
    clientName: "string",
    replication: "uint",
    chunkSizeBytes: "uint",
    overwrite: "boolean",
    mtimeMs: "uint",
  },
  addChunk: { fileId: "u64", chunkId: "u64", generation: "u64", replaces: "u64" },
  commitChunk: { fileId: "u64", chunkId: "u64", generation: "u64", size: "uint", xxh64: "u64" },
  complete: { fileId: "u64", mtimeMs: "uint" },
  abandon: { fileId: "u64" },
  delete: { path: "string", recursive: "boolean", mtimeMs: "uint" },
  rename: { source: "string", destination: "string", mtimeMs: "uint" },
  setReplication: { path: "string", replication: "uint" },
} as const satisfies {
  [K in NamespaceOp["op"]]: {
    [F in Exclude<keyof Extract<NamespaceOp, { op: K }>, "op">]-?: FieldKind;
  };
};

function fieldValue(value: unknown, kind: FieldKind, where: string): unknown {
  switch (kind) {
    case "string":
      if (typeof value === "string") return value;
      break;
    case "boolean":
      if (typeof value === "boolean") return value;
      break;
    case "uint":
      if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
      break;
    case "u64":
      if (typeof value === "bigint" && value >= 0n && value <= u64Max) return value;
      // A CBOR encoder may send a small 64-bit value as a plain integer.
      if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
        return BigInt(value);
      }
      break;
  }
  const shown = typeof value === "bigint" ? `${value}n` : JSON.stringify(value);
  throw new Error(
    `${where} must be ${kind === "u64" ? "a 64-bit unsigned integer" : `a ${kind}`}, not ${shown}`,
  );
}

/** Each op's fields as a list, made once: replay checks millions of ops. */
const fieldLists: OpFieldLists = new Map<string, readonly (readonly [string, FieldKind])[]>(
  Object.entries(opFields).map(([kind, fields]) => [kind, Object.entries(fields)]),
);

/** Checks a plain value's shape and returns it as a fresh op with its fields in a fixed order. */
function toOp(value: unknown, action: string): NamespaceOp {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(
      `${action}: expected a map, got ${Array.isArray(value) ? "an array" : typeof value}`,
    );
  }
  const record = value as Record<string, unknown>;
  const kind = record.op;
  const fields = typeof kind === "string" ? fieldLists.get(kind) : undefined;
  if (fields === undefined) {
    throw new Error(`${action}: unknown op ${JSON.stringify(kind)}`);
  }
  const op: Record<string, unknown> = { op: kind };
  for (const [field, fieldKind] of fields) {
    if (!Object.hasOwn(record, field)) throw new Error(`${action}: ${kind} has no field ${field}`);
    op[field] = fieldValue(record[field], fieldKind, `${action}: ${kind}.${field}`);
  }
  // Every field is there, so any extra key is an unknown one.
  const keys = Object.keys(record);
  if (keys.length !== fields.length + 1) {
    const unknown = keys.find(
      (field) => field !== "op" && !fields.some(([name]) => name === field),
    );
    throw new Error(`${action}: ${kind} has an unknown field ${unknown}`);
  }
  return op as unknown as NamespaceOp;
}

/**
 * Encodes an operation as one CBOR map for the edit log, with exactly the op's fields.
 *
 * @throws {Error} when a field is missing, unknown or of the wrong type (a bug in the caller).
 */
export function encodeOp(op: NamespaceOp): Uint8Array {
  const checked = toOp(op, "Cannot encode namespace operation");
  return encodeCbor(checked);
}

/**
 * Decodes an operation from {@linkcode encodeOp} bytes, checking its shape (not its
 * meaning: {@linkcode Namespace.apply} does that).
 *
 * @throws {Error} naming what is wrong.
 */
export function decodeOp(bytes: Uint8Array): NamespaceOp {
  const action = "Cannot decode namespace operation";
  // The fast reader takes the records encodeOp writes; anything else goes to cbor-x.
  const fast = readOp(bytes, fieldLists);
  if (fast !== undefined) return fast as unknown as NamespaceOp;
  let value: unknown;
  try {
    value = cbor.decode(bytes);
  } catch (error) {
    throw new Error(`${action}: not valid CBOR: ${(error as Error).message}`, { cause: error });
  }
  return toOp(value, action);
}
