/**
 * Bytes in parts: chunk bytes as one view or as several views to be taken in order as one, the
 * way they come off a socket. Code that hashes, writes or forwards bytes takes either, so a
 * frame that arrived in several reads is never joined just to be passed on.
 *
 * @module
 */

/** Chunk bytes to send or store: one view, or several to be taken in order as one. */
export type ByteParts = Uint8Array | readonly Uint8Array[];

/** The number of bytes in `bytes`. */
export function bytePartsLength(bytes: ByteParts): number {
  if (bytes instanceof Uint8Array) return bytes.byteLength;
  let total = 0;
  for (const part of bytes) total += part.byteLength;
  return total;
}

/** `bytes` as a list of views (no copy). */
export function bytePartsList(bytes: ByteParts): readonly Uint8Array[] {
  return bytes instanceof Uint8Array ? [bytes] : bytes;
}

/** `bytes` as one view: the view itself, or the parts joined (one copy) when there are several. */
export function joinByteParts(bytes: ByteParts): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes.length === 1) return bytes[0]!;
  return Buffer.concat(bytes as Uint8Array[]);
}
