/**
 * The DataNode's link to the NameNode: registration with a full chunk report, heartbeats at
 * the interval the NameNode asks for, incremental chunk reports, corrupt-replica reports, and
 * the commands that come back, in heartbeat replies or as COMMANDS pushes.
 *
 * The link never gives up. When the NameNode cannot be reached, the connection breaks, or
 * three heartbeats in a row fail, it reconnects after a pause that doubles from
 * `reconnectDelayMsMin` up to `reconnectDelayMsMax`, each pause drawn at random from its upper
 * half so that DataNodes restarted together do not knock on the NameNode in step. Each new
 * connection registers again with a full report, which replaces any incremental report still
 * queued; a heartbeat answered `NOT_FOUND` (the NameNode no longer knows this DataNode, for
 * example after it restarted) registers again on the same connection. Corrupt replicas are
 * reported again after every registration until they are deleted, since a full report alone
 * would present them as healthy (see `_reports.ts`).
 *
 * Registration and heartbeats carry the space figures, the room left measured afresh each
 * time. {@linkcode NameNodeLink.heartbeatSoon} sends the next heartbeat at once instead of at
 * the end of the interval: when a write finds the disk full, the NameNode learns it before it
 * places more chunks here (heartbeats asked for while one is on its way make one more).
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Connection,
  dial,
  type HostPort,
  isBigFsError,
  type Logger,
  type PushOf,
} from "#protocol";
import { ReportQueue } from "./_reports.js";
import type { ReplicaInfo } from "./chunk_store.js";

/** A command from the NameNode, as HEARTBEAT replies and COMMANDS pushes carry it. */
export type DataNodeCommand = PushOf<"COMMANDS">["commands"][number];

/** What the link reports about the DataNode; the chunk store satisfies it. */
export interface ReplicaSource {
  readonly capacityBytes: number;
  readonly usedBytes: number;
  /** Room left for chunks, measured now. */
  remainingBytes(): Promise<number>;
  list(): IterableIterator<ReplicaInfo>;
}

/** Options for {@linkcode NameNodeLink}. */
export interface NameNodeLinkOptions {
  /** Where the NameNode listens. */
  namenode: HostPort;
  /** The cluster secret. */
  secret: Uint8Array;
  datanodeId: string;
  /** This DataNode's advertised `host:port`. */
  address: string;
  rack?: string;
  replicas: ReplicaSource;
  /** Transfers under way now, for heartbeats. */
  activeTransfers: () => number;
  /** Receives the NameNode's commands. */
  onCommands: (commands: DataNodeCommand[]) => void;
  logger: Logger;
  /** First pause before reconnecting; default 100 ms. */
  reconnectDelayMsMin?: number;
  /** Longest pause before reconnecting; default 10 s. */
  reconnectDelayMsMax?: number;
  /** How long incremental reports are gathered before they are sent; default 0 (see `_reports.ts`). */
  reportDelayMs?: number;
}

const heartbeatFailuresMax = 3;
const requestTimeoutMs = 10_000;

/** Waits for `connecting`, unless `signal` aborts first; a late connection is closed. */
function abortable(signal: AbortSignal, connecting: Promise<Connection>): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      connecting.then(
        (connection) => connection.close(),
        () => {},
      );
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    connecting.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Keeps a DataNode registered with its NameNode. */
export class NameNodeLink {
  readonly #options: NameNodeLinkOptions;
  readonly #stopping = new AbortController();
  readonly #reports: ReportQueue;
  #connection: Connection | undefined;
  #registered = false;
  #registrations = 0;
  #loop: Promise<void> | undefined;
  /** Set by {@linkcode heartbeatSoon}: the next pause between heartbeats is skipped. */
  #heartbeatWanted = false;
  /** Ends the pause between heartbeats early, while one runs. */
  #endPause: (() => void) | undefined;

  constructor(options: NameNodeLinkOptions) {
    this.#options = options;
    this.#reports = new ReportQueue({
      datanodeId: options.datanodeId,
      logger: options.logger,
      ...(options.reportDelayMs === undefined ? {} : { delayMs: options.reportDelayMs }),
    });
  }

  /** True while registered over an open connection. */
  get registered(): boolean {
    return this.#registered;
  }

  /** Successful registrations so far. */
  get registrations(): number {
    return this.#registrations;
  }

  /** Starts connecting and registering in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Reports a new replica (batched briefly). */
  reportAdded(replica: ReplicaInfo): void {
    this.#reports.added(replica);
  }

  /** Reports a replica gone (batched briefly). */
  reportRemoved(chunk: { id: bigint; generation: bigint }): void {
    this.#reports.removed(chunk);
  }

  /** Reports a corrupt replica; again after each registration until it is removed. */
  reportCorrupt(chunkId: bigint, generation: bigint, reason: string): void {
    this.#reports.corrupt(chunkId, generation, reason);
  }

  /** Sends a heartbeat now (or right after the one on its way), not at the end of the interval. */
  heartbeatSoon(): void {
    this.#heartbeatWanted = true;
    this.#endPause?.();
  }

  /** Stops heartbeats and closes the connection. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#connection?.close();
    await this.#loop;
    await this.#reports.stop();
  }

  async #run(): Promise<void> {
    const { logger, namenode } = this.#options;
    const signal = this.#stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      let connection: Connection | undefined;
      try {
        connection = await abortable(
          signal,
          dial(namenode, {
            secret: this.#options.secret,
            role: "datanode",
            peerName: "namenode",
            connectTimeoutMs: 5_000,
            requestTimeoutMs,
            onPush: (name, body) => {
              if (name === "COMMANDS")
                this.#options.onCommands((body as PushOf<"COMMANDS">).commands);
            },
          }),
        );
        this.#connection = connection;
        if (signal.aborted) break;
        const heartbeatIntervalMs = await this.#register(connection);
        failures = 0;
        await this.#heartbeats(connection, heartbeatIntervalMs);
      } catch (error) {
        if (signal.aborted) break;
        const level = failures === 0 ? "warn" : "debug";
        logger[level](
          { err: error, namenode: `${namenode.host}:${namenode.port}` },
          "NameNode link down",
        );
      } finally {
        this.#registered = false;
        this.#connection = undefined;
        this.#reports.disconnected();
        connection?.close();
      }
      if (signal.aborted) break;
      await sleep(this.#backoffMs(failures++), undefined, { signal }).catch(() => {});
    }
  }

  #backoffMs(failures: number): number {
    const minMs = this.#options.reconnectDelayMsMin ?? 100;
    const maxMs = this.#options.reconnectDelayMsMax ?? 10_000;
    const ceilingMs = Math.min(maxMs, minMs * 2 ** Math.min(failures, 30));
    return Math.round(ceilingMs / 2 + (Math.random() * ceilingMs) / 2);
  }

  /** Waits `intervalMs`, or less when a heartbeat is wanted sooner, or until `signal` aborts. */
  async #pause(intervalMs: number, signal: AbortSignal): Promise<void> {
    if (!this.#heartbeatWanted) {
      const early = new AbortController();
      this.#endPause = () => early.abort();
      await sleep(intervalMs, undefined, { signal: AbortSignal.any([signal, early.signal]) }).catch(
        () => {},
      );
      this.#endPause = undefined;
    }
    this.#heartbeatWanted = false;
  }

  async #register(connection: Connection): Promise<number> {
    const { replicas, datanodeId, address, rack, logger } = this.#options;
    this.#registered = false;
    // The full report stands in for what is queued: the two happen in the same tick.
    const chunks = Array.from(replicas.list(), ({ id, generation, size }) => ({
      id,
      generation,
      size,
    }));
    this.#reports.snapshotTaken(connection);
    const remainingBytes = await replicas.remainingBytes();
    const response = await connection.request("REGISTER", {
      datanodeId,
      address,
      ...(rack === undefined ? {} : { rack }),
      capacityBytes: replicas.capacityBytes,
      usedBytes: replicas.usedBytes,
      remainingBytes,
      chunks,
    });
    this.#registered = true;
    this.#registrations += 1;
    logger.info(
      {
        datanode: datanodeId,
        address,
        chunks: chunks.length,
        heartbeatIntervalMs: response.heartbeatIntervalMs,
      },
      "registered with the NameNode",
    );
    this.#reports.registered();
    return Math.max(10, response.heartbeatIntervalMs);
  }

  async #heartbeats(connection: Connection, initialIntervalMs: number): Promise<void> {
    const { replicas, datanodeId, logger } = this.#options;
    const signal = this.#stopping.signal;
    let intervalMs = initialIntervalMs;
    let failures = 0;
    while (!signal.aborted && !connection.closed) {
      await this.#pause(intervalMs, signal);
      if (signal.aborted || connection.closed) return;
      try {
        const remainingBytes = await replicas.remainingBytes();
        const { commands } = await connection.request("HEARTBEAT", {
          datanodeId,
          capacityBytes: replicas.capacityBytes,
          usedBytes: replicas.usedBytes,
          remainingBytes,
          activeTransfers: this.#options.activeTransfers(),
        });
        failures = 0;
        if (commands.length > 0) this.#options.onCommands(commands);
      } catch (error) {
        if (connection.closed || signal.aborted) return;
        if (isBigFsError(error, "NOT_FOUND")) {
          logger.warn({ err: error }, "NameNode does not know this DataNode; registering again");
          intervalMs = await this.#register(connection);
          continue;
        }
        failures += 1;
        logger.warn({ err: error, failures }, "heartbeat failed");
        if (failures >= heartbeatFailuresMax) throw error;
      }
    }
  }
}
