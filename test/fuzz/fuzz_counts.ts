/**
 * What a fuzz run did, counted as it goes: printed at the end, and checked by the tests to
 * show that the inputs reached every part of the daemon they claim to.
 */

/** Counters shared by every lane of one run. */
export interface FuzzCounts {
  /** Inputs sent and taken in by the daemon: frames, handshake attempts, HTTP requests. */
  inputs: number;
  /** Protocol connections opened. */
  connections: number;
  /** Inputs sent in place of a handshake. */
  handshakeInputs: number;
  /** Batches that ended with a frame that breaks the protocol. */
  brokenFrames: number;
  /** Connections the daemon closed on us (after a broken frame, mostly). */
  closedByDaemon: number;
  /** RESPONSE frames received. */
  responses: number;
  /** PINGs after a batch that the daemon answered. */
  pingsAnswered: number;
  /** ERROR frames received, by code. */
  errorCodes: Record<string, number>;
  /** HTTP requests sent, and responses by status. */
  httpRequests: number;
  httpStatuses: Record<string, number>;
  /** Checks by a real client that passed while the fuzzer ran. */
  validChecks: number;
}

/** All zero. */
export function emptyCounts(): FuzzCounts {
  return {
    inputs: 0,
    connections: 0,
    handshakeInputs: 0,
    brokenFrames: 0,
    closedByDaemon: 0,
    responses: 0,
    pingsAnswered: 0,
    errorCodes: {},
    httpRequests: 0,
    httpStatuses: {},
    validChecks: 0,
  };
}
