/**
 * {@linkcode BigFsClient}: the namespace operations, answered by the NameNode, and uploads and
 * downloads, whose bytes move straight between this process and the DataNodes.
 */
import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import {
  ConnectionPool,
  createLogger,
  type Logger,
  ReceiveBuffers,
  type ResponseOf,
} from "#protocol";
import { FileReader } from "./file_reader.js";
import { type UploadContext, uploadFile } from "./file_writer.js";
import { LeaseRenewer } from "./lease_renewer.js";
import { asBuffer, openSource, writeDestination, writeLocalFile } from "./local_io.js";
import { NamenodeClient } from "./namenode_client.js";
import {
  type BigFsClientOptions,
  clientDefaults,
  type FileEntry,
  type GetDestination,
  type GetOptions,
  type GetResult,
  type PutOptions,
  type PutResult,
  type PutSource,
  type ReadStreamOptions,
  type WriteStreamOptions,
} from "./options.js";
import { createRangeStream } from "./read_stream.js";
import { createUploadStream } from "./write_stream.js";

/** Receive slabs shared by every client of this process: one pool of free slabs, not one each. */
const receiveBuffers = new ReceiveBuffers();

/**
 * A connection to a BigFS cluster.
 *
 * @example
 * ```ts
 * const client = await BigFsClient.connect({ namenode: { host: "127.0.0.1", port: 9000 }, secret });
 * await client.put("./data.bin", "/data/data.bin", { replication: 3 });
 * await client.get("/data/data.bin", "./copy.bin");
 * await client.close();
 * ```
 */
export class BigFsClient {
  /** The name this client's leases are held under. */
  readonly clientName: string;
  readonly #namenode: NamenodeClient;
  readonly #pool: ConnectionPool;
  readonly #leases: LeaseRenewer;
  readonly #logger: Logger;
  readonly #settings: Required<
    Pick<
      BigFsClientOptions,
      "chunksInFlight" | "bufferBytesMax" | "stallTimeoutMs" | "attemptsPerChunk"
    >
  >;

  private constructor(options: BigFsClientOptions, namenode: NamenodeClient) {
    this.clientName = options.clientName ?? `bigfs-client-${randomBytes(6).toString("hex")}`;
    this.#namenode = namenode;
    this.#logger = options.logger ?? createLogger({ name: "bigfs-client", level: "silent" });
    this.#pool = new ConnectionPool({
      secret: options.secret,
      role: "client",
      logger: this.#logger,
      // A download releases each frame once written to its file: DataNodes' bytes land in
      // reused buffers, not a fresh ArrayBuffer per socket read (`receive_buffers.ts`).
      receiveBuffers,
    });
    this.#leases = new LeaseRenewer({
      intervalMs: options.leaseRenewIntervalMs ?? clientDefaults.leaseRenewIntervalMs,
      renew: () => namenode.request("RENEW_LEASE", { clientName: this.clientName }),
      logger: this.#logger,
    });
    this.#settings = {
      chunksInFlight: positive(
        options.chunksInFlight,
        clientDefaults.chunksInFlight,
        "chunksInFlight",
      ),
      bufferBytesMax: positive(
        options.bufferBytesMax,
        clientDefaults.bufferBytesMax,
        "bufferBytesMax",
      ),
      stallTimeoutMs: options.stallTimeoutMs ?? clientDefaults.stallTimeoutMs,
      attemptsPerChunk: positive(
        options.attemptsPerChunk,
        clientDefaults.attemptsPerChunk,
        "attemptsPerChunk",
      ),
    };
  }

  /**
   * Connects and authenticates to the NameNode.
   *
   * @throws {BigFsError} `UNAVAILABLE` when it cannot be reached, `AUTH_FAILED` for a wrong secret.
   */
  static async connect(options: BigFsClientOptions): Promise<BigFsClient> {
    const namenode = await NamenodeClient.connect(options.namenode, {
      secret: options.secret,
      ...(options.requestTimeoutMs === undefined
        ? {}
        : { requestTimeoutMs: options.requestTimeoutMs }),
    });
    try {
      return new BigFsClient(options, namenode);
    } catch (error) {
      namenode.close();
      throw error;
    }
  }

  /** The entries of a directory. */
  async list(path: string): Promise<FileEntry[]> {
    return (await this.#namenode.request("LIST", { path })).entries;
  }

  /** A file's or directory's entry, and for a file each chunk with its live replicas. */
  stat(path: string): Promise<ResponseOf<"STAT">> {
    return this.#namenode.request("STAT", { path });
  }

  /** Makes a directory; with `parents`, its missing parents too and no error if it exists. */
  async mkdir(path: string, options: { parents?: boolean } = {}): Promise<void> {
    await this.#namenode.request("MKDIR", {
      path,
      ...(options.parents === undefined ? {} : { parents: options.parents }),
    });
  }

  /** Renames a file or directory, atomically; never overwrites. */
  async rename(source: string, destination: string): Promise<void> {
    await this.#namenode.request("RENAME", { source, destination });
  }

  /** Deletes a file, or with `recursive` a directory and everything below it. */
  async delete(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.#namenode.request("DELETE", {
      path,
      ...(options.recursive === undefined ? {} : { recursive: options.recursive }),
    });
  }

  /** Files, directories and bytes below a path. */
  contentSummary(path: string): Promise<ResponseOf<"CONTENT_SUMMARY">> {
    return this.#namenode.request("CONTENT_SUMMARY", { path });
  }

  /**
   * Uploads a local file or a stream to `remotePath`. The file becomes visible only once
   * complete; on failure nothing is left at the path.
   *
   * @throws {BigFsError} naming the path and the reason (`EXISTS`, `LEASE_CONFLICT`,
   * `NO_SPACE`, `UNAVAILABLE`, ...); the signal's reason when aborted.
   */
  async put(source: PutSource, remotePath: string, options: PutOptions = {}): Promise<PutResult> {
    const opened = await openSource(source, remotePath);
    try {
      return await uploadFile(this.#uploadContext(), remotePath, opened.source, options);
    } finally {
      await opened.close();
    }
  }

  /**
   * Downloads `remotePath` to a local file or a stream, every byte verified. A local file
   * appears only once complete.
   *
   * @throws {BigFsError} naming the path and, when no replica of a chunk can be read, the chunk.
   */
  async get(
    remotePath: string,
    destination: GetDestination,
    options: GetOptions = {},
  ): Promise<GetResult> {
    options.signal?.throwIfAborted();
    const reader = await FileReader.open(this.#downloadContext(), remotePath);
    const total = reader.size;
    if (typeof destination === "string") {
      // A local file is filled chunk by chunk in place, so no chunk is held to keep bytes in order.
      let done = 0;
      const filled = await writeLocalFile(destination, (write) =>
        reader.readInto(write, {
          ...(options.signal ? { signal: options.signal } : {}),
          onChunk: (bytes) => {
            done += bytes;
            options.onProgress?.(done, total);
          },
        }),
      );
      if (filled) return { size: total };
    }
    const size = await writeDestination(reader.read(0, total, options.signal), destination, {
      ...(options.onProgress
        ? { onBytes: (done: number) => options.onProgress?.(done, total) }
        : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { size };
  }

  /** A stream of the file's bytes, or of `start..end` (inclusive), every byte verified. */
  createReadStream(path: string, options: ReadStreamOptions = {}): Readable {
    return createRangeStream(
      () => FileReader.open(this.#downloadContext(), path),
      options,
      asBuffer,
    );
  }

  /**
   * A stream that uploads what is written to it to `path`. `finish` comes only once the file
   * is complete and durable; `error` when the upload fails.
   */
  createWriteStream(path: string, options: WriteStreamOptions = {}): Writable {
    return createUploadStream((source, signal) =>
      uploadFile(this.#uploadContext(), path, source, {
        ...options,
        signal: options.signal ? anySignal(options.signal, signal) : signal,
      }),
    );
  }

  /** Every DataNode the NameNode knows, with its state and use. */
  report(): Promise<ResponseOf<"DATANODE_REPORT">> {
    return this.#namenode.request("DATANODE_REPORT", {});
  }

  /** Changes a file's replication; the NameNode adds or removes copies to follow. */
  async setReplication(path: string, replication: number): Promise<void> {
    await this.#namenode.request("SET_REPLICATION", { path, replication });
  }

  /**
   * Starts (or joins) the NameNode's balancer and waits up to `waitMs` (default 20 s) for it;
   * `running` in the answer says whether it goes on. Call again to follow it.
   */
  balance(
    options: { thresholdPercent?: number; waitMs?: number } = {},
  ): Promise<ResponseOf<"BALANCE">> {
    return this.#namenode.request("BALANCE", {
      ...(options.thresholdPercent === undefined
        ? {}
        : { thresholdPercent: options.thresholdPercent }),
      ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
    });
  }

  /** Starts draining a DataNode; `report()` shows its progress until it is `decommissioned`. */
  async decommission(datanodeId: string): Promise<void> {
    await this.#namenode.request("DECOMMISSION", { datanodeId });
  }

  /** Chunk health below `path` (default `/`). */
  fsck(path = "/"): Promise<ResponseOf<"FSCK">> {
    return this.#namenode.request("FSCK", { path });
  }

  /** Closes every connection. Uploads still running fail; their leases expire. */
  async close(): Promise<void> {
    this.#leases.stop();
    this.#pool.close();
    this.#namenode.close();
  }

  #uploadContext(): UploadContext {
    return {
      namenode: this.#namenode,
      pool: this.#pool,
      leases: this.#leases,
      clientName: this.clientName,
      logger: this.#logger,
      ...this.#settings,
    };
  }

  #downloadContext() {
    return {
      namenode: this.#namenode,
      pool: this.#pool,
      logger: this.#logger,
      chunksInFlight: this.#settings.chunksInFlight,
      bufferBytesMax: this.#settings.bufferBytesMax,
      stallTimeoutMs: this.#settings.stallTimeoutMs,
    };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new RangeError(
      `Cannot create a BigFS client: ${name} ${value} must be a positive integer`,
    );
  }
  return value;
}

/** A signal that aborts when either does. */
function anySignal(first: AbortSignal, second: AbortSignal): AbortSignal {
  const controller = new AbortController();
  for (const signal of [first, second]) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}
