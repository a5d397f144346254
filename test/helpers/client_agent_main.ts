/**
 * A `BigFsClient` in a process of its own, driven over stdin and stdout, so a test can use the
 * client library from wherever it starts this process: inside another host's network
 * namespace, say. `client_agent.ts` starts and drives it.
 *
 * Usage: `node client_agent_main.js <namenode host:port> <secret file>`
 *
 * Each stdin line is a JSON request `{ id, op, ... }`; each answer is one stdout line
 * `{ reply: id, result }` or `{ reply: id, error }`, bigints written as strings. The client's
 * own log (pino JSON lines, warnings and up) goes to stdout too. Requests:
 *
 * - `report`, `fsck { path }`, `stat { path }`: as the client methods of those names;
 * - `pausedRead { path, stallTimeoutMs }`: reads the file through a client of its own, one chunk
 *   in flight, and stops after the first piece with `{ paused: id, bytes }` until a
 *   `resume { of: id }` request; then answers `{ size, sha256, replicaFailures }`, where
 *   `replicaFailures` are the DataNodes the read gave up on (the client's "replica read
 *   failed" warnings).
 */
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { BigFsClient } from "#client";
import { createLogger, loadSecret, parseHostPort } from "#protocol";

interface Request {
  id: number;
  op: string;
  path?: string;
  stallTimeoutMs?: number;
  of?: number;
}

const [namenodeArgument, secretFile] = process.argv.slice(2);
const namenode = parseHostPort(namenodeArgument ?? "");
if (namenode === undefined || secretFile === undefined) {
  process.stderr.write("Usage: client_agent_main.js <namenode host:port> <secret file>\n");
  process.exit(2);
}
const secret = await loadSecret(secretFile);
const logger = createLogger({ name: "client-agent", level: "warn", destination: process.stdout });
const client = await BigFsClient.connect({ namenode, secret, logger });
/** Paused reads by request id: resolving one lets that read go on. */
const resumers = new Map<number, () => void>();

function send(message: Record<string, unknown>): void {
  const text = JSON.stringify(message, (_key, value: unknown) =>
    typeof value === "bigint" ? value.toString() : value,
  );
  process.stdout.write(`${text}\n`);
}

async function pausedRead(request: Request): Promise<unknown> {
  const replicaFailures: { datanode: string; err: string }[] = [];
  const readLogger = createLogger({
    name: "client-agent-read",
    level: "warn",
    destination: {
      write(line: string) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === "replica read failed") {
          replicaFailures.push({ datanode: String(entry.datanode), err: String(entry.err) });
        }
        process.stdout.write(line);
      },
    },
  });
  const reader = await BigFsClient.connect({
    namenode: namenode!,
    secret,
    logger: readLogger,
    chunksInFlight: 1,
    stallTimeoutMs: request.stallTimeoutMs ?? 30_000,
  });
  try {
    const hash = createHash("sha256");
    let size = 0;
    for await (const piece of reader.createReadStream(request.path ?? "")) {
      const bytes = piece as Buffer;
      hash.update(bytes);
      size += bytes.byteLength;
      if (size === bytes.byteLength) {
        const resumed = new Promise<void>((resolve) => resumers.set(request.id, resolve));
        send({ paused: request.id, bytes: size });
        await resumed;
      }
    }
    return { size, sha256: hash.digest("hex"), replicaFailures };
  } finally {
    await reader.close();
  }
}

async function answer(request: Request): Promise<unknown> {
  switch (request.op) {
    case "report":
      return client.report();
    case "fsck":
      return client.fsck(request.path ?? "/");
    case "stat":
      return client.stat(request.path ?? "");
    case "pausedRead":
      return pausedRead(request);
    case "resume": {
      const resume = resumers.get(request.of ?? -1);
      if (resume === undefined) throw new Error(`Cannot resume read ${request.of}: not paused`);
      resumers.delete(request.of!);
      resume();
      return {};
    }
    default:
      throw new Error(`Cannot answer: no op ${request.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const request = JSON.parse(line) as Request;
  answer(request).then(
    (result) => send({ reply: request.id, result }),
    (error: unknown) =>
      send({ reply: request.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
// The test closed our stdin (it is done with us, or it died): stop.
lines.on("close", () => {
  client.close().finally(() => process.exit(0));
});
