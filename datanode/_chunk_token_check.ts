/**
 * The chunk token check every DataNode service makes before touching a chunk. A refused token
 * means a forged or replayed token, one minted for another chunk or operation, an expired one
 * (or a clock far off), or a peer with another cluster secret: worth a warning with the peer's
 * address, exactly once per refused request, which is why the log is here and not in callers.
 */
import { type ChunkTokenExpectation, type Logger, verifyChunkToken } from "#protocol";
import { type DataNodeRef, namingDataNode } from "./_naming.js";

/** Options for {@linkcode checkChunkToken}. */
export interface ChunkTokenCheckOptions {
  /** The cluster secret, which tokens are checked against. */
  secret: Uint8Array;
  /** This DataNode, named in the error. */
  self: DataNodeRef;
  /** The requester's address, for the log. */
  remote: string;
  logger: Logger;
}

/**
 * Returns when `token` grants `expected`; otherwise logs the refusal and throws.
 *
 * @throws {BigFsError} `ACCESS_DENIED`, naming this DataNode and saying why.
 */
export function checkChunkToken(
  token: Uint8Array,
  expected: ChunkTokenExpectation,
  options: ChunkTokenCheckOptions,
): void {
  try {
    verifyChunkToken(options.secret, token, expected);
  } catch (error) {
    const refusal = namingDataNode(error, options.self);
    options.logger.warn(
      {
        remote: options.remote,
        chunkId: expected.chunkId,
        operation: expected.operation,
        err: refusal.message,
      },
      "chunk token refused",
    );
    throw refusal;
  }
}
