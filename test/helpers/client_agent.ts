/**
 * Drives `client_agent_main.ts`: a BigFS client in its own process, started through a launcher
 * (such as `ip netns exec <namespace>`, to put the client on another host), asked for reports
 * and reads over its stdin and stdout. Answers come back as JSON, bigint ids as strings.
 */
import { type Daemon, startDaemon } from "./daemon.js";

/** Options for {@linkcode ClientAgent.start}. */
export interface ClientAgentOptions {
  /** The NameNode's `host:port`. */
  namenode: string;
  secretFile: string;
  /** Runs `node` for the agent, such as `VirtualHosts.launcher(host)`; none: directly. */
  launcher?: readonly string[];
}

/** `report()` as JSON. */
export interface AgentReport {
  datanodes: {
    id: string;
    address: string;
    state: string;
    chunks: number;
    lastHeartbeatMsAgo: number;
  }[];
}

/** `fsck()` as JSON. */
export interface AgentFsck {
  files: number;
  chunks: number;
  healthy: number;
  underReplicated: number;
  overReplicated: number;
  corrupt: number;
  missing: number;
}

/** `stat()` as JSON: chunk ids and generations as decimal strings. */
export interface AgentStat {
  entry: { size: number; replication: number };
  chunks: { id: string; generation: string; size: number; replicas: string[] }[];
}

/** What a paused read delivered, and the DataNodes it gave up on on the way. */
export interface PausedReadResult {
  size: number;
  sha256: string;
  replicaFailures: { datanode: string; err: string }[];
}

/** A read stopped after its first piece; see {@linkcode ClientAgent.pausedRead}. */
export interface PausedRead {
  /** Resolves with the bytes delivered once the read has paused. */
  paused: Promise<number>;
  /** Lets the read go on. */
  resume(): Promise<void>;
  /** Resolves when the read has ended. */
  done: Promise<PausedReadResult>;
}

/** A client process; see the module doc. */
export class ClientAgent {
  readonly #process: Daemon;
  #nextId = 1;

  private constructor(process: Daemon) {
    this.#process = process;
  }

  /** Starts the agent and waits until its client has connected to the NameNode. */
  static async start(options: ClientAgentOptions): Promise<ClientAgent> {
    const process = startDaemon(
      "test/helpers/client_agent_main.js",
      [options.namenode, options.secretFile],
      {},
      { stdin: true, ...(options.launcher ? { launcher: options.launcher } : {}) },
    );
    const agent = new ClientAgent(process);
    try {
      await agent.report();
    } catch (error) {
      await process.kill();
      throw error;
    }
    return agent;
  }

  /** The client's log lines so far (warnings and up). */
  get logLines(): Record<string, unknown>[] {
    return this.#process.lines.filter((line) => typeof line.msg === "string");
  }

  report(): Promise<AgentReport> {
    return this.#ask({ op: "report" }) as Promise<AgentReport>;
  }

  fsck(path = "/"): Promise<AgentFsck> {
    return this.#ask({ op: "fsck", path }) as Promise<AgentFsck>;
  }

  stat(path: string): Promise<AgentStat> {
    return this.#ask({ op: "stat", path }) as Promise<AgentStat>;
  }

  /**
   * Reads `path` through a client of its own with one chunk in flight, pausing after the first
   * piece until `resume()`; a chunk read that gets no data for `stallTimeoutMs` fails over.
   */
  pausedRead(path: string, stallTimeoutMs: number, timeoutMs = 60_000): PausedRead {
    const id = this.#nextId++;
    const done = this.#ask({ op: "pausedRead", path, stallTimeoutMs }, id, timeoutMs);
    const paused = Promise.race([
      this.#process.waitForLine((line) => line.paused === id, timeoutMs),
      done.then(() => {
        throw new Error(`The read of ${path} ended without pausing`);
      }),
    ]).then((line) => Number(line.bytes));
    done.catch(() => {});
    paused.catch(() => {});
    return {
      paused,
      resume: async () => {
        await this.#ask({ op: "resume", of: id });
      },
      done: done as Promise<PausedReadResult>,
    };
  }

  /** Closes its stdin (the agent then exits); SIGTERM, then SIGKILL, if it lingers. */
  async stop(): Promise<void> {
    this.#process.child.stdin?.end();
    await this.#process.stop(5_000);
  }

  async #ask(
    request: Record<string, unknown>,
    id = this.#nextId++,
    timeoutMs = 20_000,
  ): Promise<unknown> {
    const answered = this.#process.waitForLine((line) => line.reply === id, timeoutMs);
    this.#process.child.stdin!.write(`${JSON.stringify({ ...request, id })}\n`);
    const line = await answered;
    if (typeof line.error === "string") {
      throw new Error(`Client agent: ${String(request.op)} failed: ${line.error}`);
    }
    return line.result;
  }
}
