/**
 * The seeded fuzzer for one daemon: many protocol lanes and a few HTTP lanes at once against
 * its two ports, and a valid client's work run over and over alongside, until enough inputs
 * were sent or the time is up. Any lane's failure, a failed valid request, or the process
 * gone, stops the run with an error that names the seed.
 */
import { connect } from "node:net";
import { initiateHandshake } from "#protocol";
import type { Emphasis } from "./frame_inputs.js";
import { emptyCounts, type FuzzCounts } from "./fuzz_counts.js";
import { HttpLane } from "./http_lane.js";
import { FuzzFailure, ProtocolLane } from "./protocol_lane.js";
import type { RequestContext } from "./request_bodies.js";
import { SeededRandom } from "./seeded_random.js";

/** The daemon under fuzz. */
export interface DaemonFuzzTarget {
  /** For messages: "NameNode", "DataNode". */
  name: string;
  protocol: { host: string; port: number };
  http: { host: string; port: number };
  /** True while the daemon's process runs. */
  alive: () => boolean;
}

/** Options for {@linkcode fuzzDaemon}. */
export interface DaemonFuzzOptions {
  seed: number;
  /** Stop once this many inputs were sent... */
  inputs: number;
  /** ...or once this long has passed, whichever comes first. Default: no time limit. */
  durationMs?: number;
  context: RequestContext;
  emphasis: Emphasis;
  /** Connections fuzzing the protocol port at once; default 12. */
  protocolLanes?: number;
  /** Connections fuzzing the HTTP port at once; default 2. */
  httpLanes?: number;
  /** Longest wait for an answer, or for a close after hanging up; default 15 s. */
  deadlineMs?: number;
  /** A valid client's work; it must succeed every time it runs. */
  validCheck: () => Promise<void>;
  /** Inputs between two valid checks; default 5,000. */
  checkEvery?: number;
  /** Told the counts after each valid check. */
  onProgress?: (counts: FuzzCounts) => void;
  /**
   * Handshake inputs and HTTP requests the run makes at least (defaults 3,000 and 6,000; with
   * `durationMs`, the time may end the run first). The lanes that make them stop there, and
   * the run does not end before them, so how the inputs split between the kinds is the same
   * on a fast machine and a slow one.
   */
  handshakeInputs?: number;
  httpRequests?: number;
}

/**
 * Fuzzes the target until `inputs` were sent (or `durationMs` passed).
 *
 * @throws {Error} naming the seed and what failed: the daemon crashed, hung, broke the
 * protocol, or failed a valid client.
 */
export async function fuzzDaemon(
  target: DaemonFuzzTarget,
  options: DaemonFuzzOptions,
): Promise<FuzzCounts> {
  const counts = emptyCounts();
  const startedMs = Date.now();
  const deadlineMs = options.deadlineMs ?? 15_000;
  let failure: Error | undefined;
  const fail = (error: Error) => {
    failure ??= error;
  };
  const handshakeQuota = options.handshakeInputs ?? 3_000;
  const httpQuota = options.httpRequests ?? 6_000;
  const stopped = () =>
    failure !== undefined ||
    (options.durationMs !== undefined && Date.now() - startedMs >= options.durationMs);
  const handshakesDone = () => stopped() || counts.handshakeInputs >= handshakeQuota;
  const httpDone = () => stopped() || counts.httpRequests >= httpQuota;
  const done = () =>
    stopped() ||
    (counts.inputs >= options.inputs &&
      counts.handshakeInputs >= handshakeQuota &&
      counts.httpRequests >= httpQuota);
  const checkAlive = () => {
    if (!target.alive()) fail(new FuzzFailure(`the ${target.name} process exited`));
  };

  const replay = await recordHandshake(target.protocol, options.context.secret);
  const protocolLanes = Array.from({ length: options.protocolLanes ?? 12 }, (_, index) => {
    const lane = new ProtocolLane(
      SeededRandom.derive(options.seed, index),
      {
        address: target.protocol,
        secret: options.context.secret,
        context: options.context,
        emphasis: options.emphasis,
        deadlineMs,
        replay,
        // Two lanes spend every connection on the handshake, which one input ends.
        ...(index < 2 ? { handshakeShare: 1 } : {}),
      },
      counts,
    );
    const laneDone = index < 2 ? handshakesDone : done;
    return repeat(
      laneDone,
      () => lane.runConnection(laneDone),
      (error) => {
        checkAlive();
        fail(error instanceof FuzzFailure ? error : lane.failure(String(error)));
      },
    );
  });
  const httpLanes = Array.from({ length: options.httpLanes ?? 2 }, (_, index) => {
    const lane = new HttpLane(
      SeededRandom.derive(options.seed, 1_000 + index),
      { address: target.http, deadlineMs },
      counts,
    );
    return repeat(
      httpDone,
      () => lane.runConnection(),
      (error) => {
        checkAlive();
        fail(error);
      },
    );
  });
  const checks = (async () => {
    const checkEvery = options.checkEvery ?? 5_000;
    let nextCheckAt = 0;
    while (!done()) {
      if (counts.inputs >= nextCheckAt) {
        nextCheckAt = counts.inputs + checkEvery;
        checkAlive();
        try {
          await options.validCheck();
          counts.validChecks++;
          options.onProgress?.(counts);
        } catch (error) {
          checkAlive();
          fail(
            new FuzzFailure(`a valid client's request failed: ${String(error)}`, { cause: error }),
          );
        }
      }
      // Polling a counter, not waiting for time to pass: the lanes move it.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  await Promise.all([...protocolLanes, ...httpLanes, checks]);
  checkAlive();
  if (failure !== undefined) {
    throw new Error(
      `Fuzzing the ${target.name} failed (seed ${options.seed}, after ${counts.inputs} inputs): ${failure.message}`,
      { cause: failure },
    );
  }
  return counts;
}

async function repeat(
  done: () => boolean,
  body: () => Promise<void>,
  onError: (error: Error) => void,
): Promise<void> {
  while (!done()) {
    try {
      await body();
    } catch (error) {
      onError(error instanceof Error ? error : new Error(String(error)));
      return;
    }
  }
}

/** The bytes a genuine client sends in one handshake: preface and proof, to replay later. */
async function recordHandshake(
  address: { host: string; port: number },
  secret: Uint8Array,
): Promise<Buffer> {
  const socket = connect({ host: address.host, port: address.port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  const sent: Buffer[] = [];
  const write = socket.write.bind(socket);
  socket.write = ((bytes: Uint8Array) => {
    sent.push(Buffer.from(bytes));
    return write(bytes);
  }) as typeof socket.write;
  try {
    await initiateHandshake(socket, { secret, role: "client" });
  } finally {
    socket.destroy();
  }
  return Buffer.concat(sent);
}
