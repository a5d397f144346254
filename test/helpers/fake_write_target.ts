/**
 * A stand-in for the first (or next) DataNode of a write: a real BigFS server that takes a
 * WRITE_CHUNK's frames as they come, so a test controls what the sender is told.
 */
import { BigFsError, type BigFsServer, type IncomingRequest, listen, xxh64 } from "#protocol";

/** What the fake DataNode does with a write. */
export interface FakeWriteTargetOptions {
  secret: Uint8Array;
  /** Acknowledge every frame but the last (`{ ackedBytes }`); default none. */
  acks?: boolean;
  /** Say this window before the first frame; default nothing. */
  windowBytes?: number;
  /** Fail with `NO_SPACE` once this many bytes came. */
  failAt?: number;
}

/** Starts one; `received` counts the DATA bytes taken so far. */
export async function fakeWriteTarget(
  options: FakeWriteTargetOptions,
): Promise<{ server: BigFsServer; address: string; received: () => number }> {
  let received = 0;
  const server = await listen({
    port: 0,
    secret: options.secret,
    role: "datanode",
    handler: async (request) => {
      const write = request as IncomingRequest<"WRITE_CHUNK">;
      if (options.windowBytes !== undefined) {
        await write.sendMessage({ ackedBytes: 0, windowBytes: options.windowBytes });
      }
      const pieces: Uint8Array[] = [];
      for await (const item of write.items) {
        if (item.kind !== 5) continue;
        received += item.byteLength;
        if (options.failAt !== undefined && received >= options.failAt) {
          throw new BigFsError("NO_SPACE", "the disk is full");
        }
        pieces.push(Buffer.concat(item.parts as Uint8Array[]));
        if (item.end) break;
        if (options.acks) await write.sendMessage({ ackedBytes: received });
      }
      return { stored: ["dn-fake"], size: received, xxh64: xxh64(Buffer.concat(pieces)) };
    },
  });
  const { host, port } = server.address;
  return { server, address: `${host}:${port}`, received: () => received };
}
