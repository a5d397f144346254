/**
 * Typed error codes. Every failure that crosses the wire, or that a caller must tell apart,
 * is a {@linkcode BigFsError} with a stable `code`; the message is for people and says what
 * failed, then the detail after a colon.
 */

/** The error codes BigFS peers send each other; their numeric values are wire format. */
export const ErrorCode = {
  NOT_FOUND: 1,
  EXISTS: 2,
  NOT_EMPTY: 3,
  NOT_A_DIRECTORY: 4,
  IS_A_DIRECTORY: 5,
  INVALID_PATH: 6,
  INVALID_ARGUMENT: 7,
  NO_SPACE: 8,
  CHECKSUM_MISMATCH: 9,
  AUTH_FAILED: 10,
  ACCESS_DENIED: 11,
  SAFE_MODE: 12,
  LEASE_CONFLICT: 13,
  UNAVAILABLE: 14,
  PROTOCOL: 15,
  TIMEOUT: 16,
  BUSY: 17,
  STALE_GENERATION: 18,
  INTERNAL: 19,
} as const;

/** The name of an error code, such as `"NOT_FOUND"`. */
export type ErrorCodeName = keyof typeof ErrorCode;

const namesByNumber = new Map<number, ErrorCodeName>(
  Object.entries(ErrorCode).map(([name, value]) => [value, name as ErrorCodeName]),
);

/** Returns the code name for its wire number, or `undefined` for a number no code has. */
export function errorCodeName(value: number): ErrorCodeName | undefined {
  return namesByNumber.get(value);
}

/** Options for {@linkcode BigFsError}. */
export interface BigFsErrorOptions {
  /** The error that led to this one. */
  cause?: unknown;
}

/** An error with a stable code that callers can branch on and peers can send over the wire. */
export class BigFsError extends Error {
  /** The stable code, such as `"NOT_FOUND"`. */
  readonly code: ErrorCodeName;

  constructor(code: ErrorCodeName, message: string, options: BigFsErrorOptions = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.name = "BigFsError";
    this.code = code;
  }
}

/** True when `error` is a {@linkcode BigFsError}, optionally with the given code. */
export function isBigFsError(error: unknown, code?: ErrorCodeName): error is BigFsError {
  return error instanceof BigFsError && (code === undefined || error.code === code);
}
