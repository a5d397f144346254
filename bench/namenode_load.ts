/**
 * Load on a NameNode straight over the protocol, without the client library: a few
 * authenticated connections shared by many requests in flight, timed per operation kind.
 * This measures the NameNode, not the client.
 */
import { type Connection, dial, type HostPort, type PeerRoleName } from "#protocol";
import { elapsedMs, perSecond, runPool } from "./stats.js";

/** A few connections to one NameNode, handed out round robin. */
export class NamenodeConnections {
  readonly #connections: Connection[];

  private constructor(connections: Connection[]) {
    this.#connections = connections;
  }

  /** Dials `count` connections in the given role. */
  static async open(
    address: HostPort,
    options: { secret: Uint8Array; count: number; role?: PeerRoleName },
  ): Promise<NamenodeConnections> {
    const connections: Connection[] = [];
    try {
      for (let index = 0; index < options.count; index++) {
        connections.push(
          await dial(address, {
            secret: options.secret,
            role: options.role ?? "client",
            peerName: "namenode",
            // Requests queue behind each other under load; their deadline is the run's.
            requestTimeoutMs: 120_000,
          }),
        );
      }
    } catch (error) {
      for (const connection of connections) connection.close();
      throw error;
    }
    return new NamenodeConnections(connections);
  }

  /** The connection for the `index`-th operation. */
  for(index: number): Connection {
    return this.#connections[index % this.#connections.length]!;
  }

  close(): void {
    for (const connection of this.#connections) connection.close();
  }
}

/** Runs `operation(0..count-1)`, `concurrency` in flight; operations per second. */
export async function timedOps(
  count: number,
  concurrency: number,
  operation: (index: number) => Promise<unknown>,
  onProgress?: (done: number) => void,
): Promise<number> {
  const startMs = performance.now();
  // The operation itself is the pool's task: the load generator shares the machine with the
  // NameNode it measures, so it adds no promise or async frame of its own per operation.
  await runPool(count, concurrency, operation, (done) => {
    if (onProgress && done % 64 === 0) onProgress(done);
  });
  return perSecond(count, elapsedMs(startMs));
}

/**
 * PING round trips per second: the NameNode answering requests that do nothing, the
 * ceiling of every request that reads the namespace.
 */
export function pingRate(
  connections: NamenodeConnections,
  count: number,
  concurrency: number,
): Promise<number> {
  return timedOps(count, concurrency, (index) => connections.for(index).request("PING", {}));
}
