/**
 * How a DataNode names itself and its peers in errors. A pipeline error must say which
 * DataNode failed or found bad bytes, so the client can rebuild the pipeline without it, and
 * ERROR frames carry only a code and a message; so every such message contains
 * `DataNode <id> (<host:port>)`, which {@linkcode dataNodeNamedIn} finds again.
 */
import { BigFsError, type ErrorCodeName, isBigFsError } from "#protocol";

/** A DataNode as peers reach it. */
export interface DataNodeRef {
  /** The DataNode's id, such as `dn-6f1c…`. */
  id: string;
  /** Its advertised `host:port`. */
  address: string;
}

/** `DataNode <id> (<address>)`, as it appears in error messages. */
export function describeDataNode(ref: DataNodeRef): string {
  return `DataNode ${ref.id} (${ref.address})`;
}

const namePattern = /DataNode (\S+) \(([^)\s]+)\)/;

/** The first DataNode an error message names, or `undefined` when it names none. */
export function dataNodeNamedIn(message: string): DataNodeRef | undefined {
  const match = namePattern.exec(message);
  return match === null ? undefined : { id: match[1]!, address: match[2]! };
}

/**
 * Returns `error` as a `BigFsError` whose message names `ref` (unless it names a DataNode
 * already), keeping its code; errors without a code become `fallbackCode`.
 */
export function namingDataNode(
  error: unknown,
  ref: DataNodeRef,
  fallbackCode: ErrorCodeName = "INTERNAL",
): BigFsError {
  const message = error instanceof Error ? error.message : String(error);
  const code = isBigFsError(error) ? error.code : fallbackCode;
  if (isBigFsError(error) && dataNodeNamedIn(message) !== undefined) return error;
  return new BigFsError(code, `${describeDataNode(ref)}: ${message}`, { cause: error });
}
