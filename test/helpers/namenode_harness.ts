/**
 * An in-process NameNode for tests, and fake DataNodes that speak the DataNode side of the
 * protocol (REGISTER, HEARTBEAT, CHUNK_REPORT, REPORT_CORRUPT) with made-up ids and addresses
 * and keep every command a heartbeat reply hands them.
 *
 * A {@linkcode Harness} owns what a test starts (temp folders, NameNodes, connections, fake
 * DataNodes) and `cleanup()` stops and removes it all, so a test is `try { ... } finally {
 * await harness.cleanup(); }`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NameNode, parseNamenodeConfig } from "#namenode";
import {
  type BigFsError,
  type Connection,
  createLogger,
  dial,
  type RequestOf,
  type ResponseOf,
} from "#protocol";

/** The cluster secret every test NameNode and peer uses. */
export const testSecret = Buffer.from("namenode-server-test-secret-0123456789");

/** Flags every test NameNode gets before the test's own: fast heartbeats, deaths and leases. */
export const fastFlags = [
  "--port",
  "0",
  "--http-port",
  "0",
  "--heartbeat-interval",
  "100ms",
  "--dead-after",
  "500ms",
  "--lease-timeout",
  "500ms",
  // Fake DataNodes report replicas only when a test says so; tests of the wait set their own.
  "--complete-wait",
  "0ms",
] as const;

/** What a fake DataNode has been told to delete, chunk id → generations. */
export type DeleteLog = Map<bigint, bigint[]>;

/** A replica as a DataNode reports it. */
export type Replica = RequestOf<"REGISTER">["chunks"][number];

/** Options for {@linkcode Harness.datanode}. */
export interface FakeDatanodeOptions {
  /** Replicas in the registration's full report; default none. */
  chunks?: Replica[];
  capacityBytes?: number;
  usedBytes?: number;
  rack?: string;
  /** The address it registers with; default `<id>.invalid:9866`. */
  address?: string;
  /** Heartbeat every this many ms after registering; 0 for none. Default 100. */
  heartbeatIntervalMs?: number;
}

/** A DataNode played by the test: one connection, a heartbeat timer, the commands received. */
export class FakeDatanode {
  readonly id: string;
  readonly address: string;
  readonly connection: Connection;
  /** Every delete command chunk received in heartbeat replies. */
  readonly deletes: DeleteLog = new Map();
  /** Every command received, in order. */
  readonly commands: ResponseOf<"HEARTBEAT">["commands"] = [];
  /** Heartbeats answered so far. */
  heartbeats = 0;
  /** When the last registration or heartbeat was sent: the NameNode counts silence from it. */
  lastContactSentMs = 0;
  /** The last error a heartbeat got (such as NOT_FOUND after being declared dead). */
  lastHeartbeatError: BigFsError | undefined;
  capacityBytes: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(id: string, connection: Connection, capacityBytes: number, address?: string) {
    this.id = id;
    this.address = address ?? `${id}.invalid:9866`;
    this.connection = connection;
    this.capacityBytes = capacityBytes;
  }

  /** Registers with a full report. */
  register(options: FakeDatanodeOptions = {}): Promise<ResponseOf<"REGISTER">> {
    this.lastContactSentMs = Date.now();
    return this.connection.request("REGISTER", {
      datanodeId: this.id,
      address: this.address,
      capacityBytes: options.capacityBytes ?? this.capacityBytes,
      usedBytes: options.usedBytes ?? 0,
      chunks: options.chunks ?? [],
      ...(options.rack === undefined ? {} : { rack: options.rack }),
    });
  }

  /** Sends one heartbeat and records the commands in its reply. */
  async heartbeat(): Promise<ResponseOf<"HEARTBEAT">["commands"]> {
    this.lastContactSentMs = Date.now();
    const { commands } = await this.connection.request("HEARTBEAT", {
      datanodeId: this.id,
      capacityBytes: this.capacityBytes,
      usedBytes: 0,
      activeTransfers: 0,
    });
    this.heartbeats++;
    for (const command of commands) {
      this.commands.push(command);
      if (command.action !== "delete") continue;
      for (const chunk of command.chunks) {
        const generations = this.deletes.get(chunk.id) ?? [];
        generations.push(chunk.generation);
        this.deletes.set(chunk.id, generations);
      }
    }
    return commands;
  }

  /** Heartbeats every `intervalMs` until {@linkcode stopHeartbeats}. */
  startHeartbeats(intervalMs = 100): void {
    this.stopHeartbeats();
    this.#timer = setInterval(() => {
      this.heartbeat().then(
        () => {
          this.lastHeartbeatError = undefined;
        },
        (error: BigFsError) => {
          this.lastHeartbeatError = error;
        },
      );
    }, intervalMs);
  }

  /** Goes silent (the NameNode will declare it dead after `--dead-after`). */
  stopHeartbeats(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reports replicas added and removed since the full report. */
  report(added: Replica[], removed: { id: bigint; generation: bigint }[] = []): Promise<unknown> {
    return this.connection.request("CHUNK_REPORT", { datanodeId: this.id, added, removed });
  }

  close(): void {
    this.stopHeartbeats();
    this.connection.close();
  }
}

/** One JSON log line. */
export type LogLine = Record<string, unknown>;

/** Options for {@linkcode Harness.start}. */
export interface StartOptions {
  /** Collect the NameNode's log lines here (at level info) instead of discarding them. */
  logLines?: LogLine[];
}

/** Everything one test starts, stopped and removed by {@linkcode cleanup}. */
export class Harness {
  readonly #folders: string[] = [];
  readonly #namenodes: NameNode[] = [];
  readonly #connections: Connection[] = [];
  readonly #datanodes: FakeDatanode[] = [];

  /** A fresh temp folder, removed at cleanup. */
  async folder(): Promise<string> {
    const folder = await mkdtemp(join(tmpdir(), "bigfs-nn-test-"));
    this.#folders.push(folder);
    return folder;
  }

  /** Starts a NameNode on `dataDir` with {@linkcode fastFlags} and then `flags`. */
  async start(
    dataDir: string,
    flags: readonly string[] = [],
    options: StartOptions = {},
  ): Promise<NameNode> {
    // A flag the test gives replaces the fast default of the same name.
    const defaults = fastFlags.filter(
      (flag, index) => !flags.includes(flag) && !flags.includes(fastFlags[index - 1] ?? ""),
    );
    const config = parseNamenodeConfig(["--data-dir", dataDir, ...defaults, ...flags]);
    const lines = options.logLines;
    const logger =
      lines === undefined
        ? createLogger({ name: "namenode", level: "silent" })
        : createLogger({
            name: "namenode",
            level: "info",
            destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
          });
    const namenode = await NameNode.start(config, { logger, secret: testSecret });
    this.#namenodes.push(namenode);
    return namenode;
  }

  /** A client connection to `namenode`. */
  async client(namenode: NameNode): Promise<Connection> {
    const connection = await dial(namenode.address, { secret: testSecret, role: "client" });
    this.#connections.push(connection);
    return connection;
  }

  /** A fake DataNode connected to `namenode`, registered and (by default) heartbeating. */
  async datanode(
    namenode: NameNode,
    id: string,
    options: FakeDatanodeOptions = {},
  ): Promise<FakeDatanode> {
    const connection = await dial(namenode.address, { secret: testSecret, role: "datanode" });
    const datanode = new FakeDatanode(
      id,
      connection,
      options.capacityBytes ?? 1024 ** 4,
      options.address,
    );
    this.#datanodes.push(datanode);
    await datanode.register(options);
    const intervalMs = options.heartbeatIntervalMs ?? 100;
    if (intervalMs > 0) datanode.startHeartbeats(intervalMs);
    return datanode;
  }

  /** Stops everything this harness started and removes its folders. */
  async cleanup(): Promise<void> {
    for (const datanode of this.#datanodes) datanode.close();
    for (const connection of this.#connections) connection.close();
    await Promise.allSettled(this.#namenodes.map((namenode) => namenode.stop()));
    await Promise.all(this.#folders.map((folder) => rm(folder, { recursive: true, force: true })));
  }
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<BigFsError> {
  try {
    await promise;
  } catch (error) {
    return error as BigFsError;
  }
  throw new Error("expected the request to fail");
}

/** A chunk to write with {@linkcode writeFile}: its committed size and xxh64. */
export interface ChunkContent {
  size: number;
  xxh64: bigint;
}

/** What {@linkcode writeFile} did. */
export interface WrittenFile {
  fileId: bigint;
  chunks: { id: bigint; generation: bigint; size: number; xxh64: bigint; pipeline: string[] }[];
}

/** Options for {@linkcode writeFile}. */
export interface WriteFileOptions {
  clientName?: string;
  replication?: number;
  overwrite?: boolean;
  /** Leave the file under construction (no COMPLETE). */
  complete?: boolean;
  /** Fake DataNodes to report each chunk's replica from, as a pipeline would. */
  reportFrom?: FakeDatanode[];
}

/**
 * Runs the write path over the wire without moving bytes: CREATE, then ADD_CHUNK and
 * COMMIT_CHUNK per chunk (the replicas reported by `reportFrom`), then COMPLETE.
 */
export async function writeFile(
  client: Connection,
  path: string,
  contents: readonly ChunkContent[],
  options: WriteFileOptions = {},
): Promise<WrittenFile> {
  const clientName = options.clientName ?? "writer";
  const { fileId } = await client.request("CREATE", {
    path,
    clientName,
    chunkSizeBytes: 64 * 1024,
    ...(options.replication === undefined ? {} : { replication: options.replication }),
    ...(options.overwrite === undefined ? {} : { overwrite: options.overwrite }),
  });
  const chunks: WrittenFile["chunks"] = [];
  for (const content of contents) {
    const added = await client.request("ADD_CHUNK", { path, fileId, clientName });
    for (const datanode of options.reportFrom ?? []) {
      await datanode.report([
        { id: added.chunkId, generation: added.generation, size: content.size },
      ]);
    }
    await client.request("COMMIT_CHUNK", {
      path,
      fileId,
      clientName,
      chunkId: added.chunkId,
      generation: added.generation,
      size: content.size,
      xxh64: content.xxh64,
    });
    chunks.push({
      id: added.chunkId,
      generation: added.generation,
      size: content.size,
      xxh64: content.xxh64,
      pipeline: added.pipeline.map((datanode) => datanode.id),
    });
  }
  if (options.complete ?? true) await client.request("COMPLETE", { path, fileId, clientName });
  return { fileId, chunks };
}
