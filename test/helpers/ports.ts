/**
 * Ports for tests that start daemons as processes, chosen at run time.
 */
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";

/** True when `port` on 127.0.0.1 can be bound now. */
export function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port that was free a moment ago: bound on port 0, then released. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A base port whose `bigfs-cluster` ports (base..base+40, base+870..base+880) are all free now.
 * Bases are drawn below the kernel's ephemeral range: outgoing connections take their local
 * ports from that range, so on a busy machine a block there is rarely free for long.
 */
export async function freeBasePort(): Promise<number> {
  const range = await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8").catch(() => "");
  const ephemeralLow = Number(range.trim().split(/\s+/)[0]) || 32_768;
  const top = Math.max(ephemeralLow, 12_000) - 900;
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * (top - 10_000));
    const ports = [
      ...Array.from({ length: 41 }, (_, index) => base + index),
      ...Array.from({ length: 11 }, (_, index) => base + 870 + index),
    ];
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error("Cannot find a free block of ports for a test cluster");
}
