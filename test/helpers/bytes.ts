/**
 * Byte helpers shared by tests: a content digest to compare files by, and a byte flipped on
 * disk to play a corrupted replica.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

/** The sha256 of `bytes`, in hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Flips every bit of one byte of a file in place, and syncs it. */
export async function flipByte(path: string, offset: number): Promise<void> {
  const handle = await open(path, "r+");
  try {
    const byte = Buffer.alloc(1);
    const { bytesRead } = await handle.read(byte, 0, 1, offset);
    if (bytesRead !== 1) throw new Error(`Cannot flip byte ${offset} of ${path}: past its end`);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
