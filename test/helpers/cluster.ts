/**
 * An in-process cluster for client tests: one NameNode and N DataNodes in this process, on
 * port 0 and temp folders, and clients connected to it. `stop()` stops everything and removes
 * the folders, so a test is `const cluster = await Cluster.start(); try { ... } finally {
 * await cluster.stop(); }`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BigFsClient, type BigFsClientOptions } from "#client";
import { DataNode, parseDataNodeConfig } from "#datanode";
import { NameNode, parseNamenodeConfig } from "#namenode";
import { createLogger } from "#protocol";
import { flipByte } from "./bytes.js";
import { type ReplicaOnDisk, replicasOnDisk } from "./stored_replicas.js";
import { waitFor } from "./wait.js";

/** The secret every test cluster and client shares. */
export const clusterSecret = Buffer.from("client-test-cluster-secret-0123456789abcdef");

/** Options for {@linkcode Cluster.start}. */
export interface ClusterOptions {
  /** DataNodes to start; default 3. */
  datanodes?: number;
  /** NameNode flags after the defaults (fast heartbeats, 64 KiB chunks). */
  namenodeFlags?: readonly string[];
}

/** A running in-process cluster. */
export class Cluster {
  readonly namenode: NameNode;
  /** DataNodes by index; a stopped one stays in the list. */
  readonly datanodes: DataNode[] = [];
  /** Each DataNode's data folder, by index. */
  readonly datanodeDirs: string[] = [];
  readonly #root: string;
  readonly #clients: BigFsClient[] = [];

  private constructor(root: string, namenode: NameNode) {
    this.#root = root;
    this.namenode = namenode;
  }

  /** Starts a NameNode and the DataNodes, and waits until every DataNode is registered. */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const root = await mkdtemp(join(tmpdir(), "bigfs-client-test-"));
    let cluster: Cluster | undefined;
    try {
      const config = parseNamenodeConfig([
        "--data-dir",
        join(root, "namenode"),
        "--port",
        "0",
        "--http-port",
        "0",
        "--heartbeat-interval",
        "100ms",
        "--dead-after",
        "1s",
        "--chunk-size",
        "64KiB",
        ...(options.namenodeFlags ?? []),
      ]);
      const namenode = await NameNode.start(config, {
        logger: createLogger({ name: "namenode", level: "silent" }),
        secret: clusterSecret,
      });
      cluster = new Cluster(root, namenode);
      const count = options.datanodes ?? 3;
      for (let index = 0; index < count; index++) await cluster.addDatanode();
      return cluster;
    } catch (error) {
      if (cluster) await cluster.stop();
      else await rm(root, { recursive: true, force: true });
      throw error;
    }
  }

  /** Starts one more DataNode and waits until the NameNode counts it live. */
  async addDatanode(): Promise<DataNode> {
    const index = this.datanodes.length;
    const dataDir = join(this.#root, `datanode-${index}`);
    const { host, port } = this.namenode.address;
    const config = parseDataNodeConfig([
      "--data-dir",
      dataDir,
      "--port",
      "0",
      "--http-port",
      "0",
      "--namenode",
      `${host}:${port}`,
      "--scrub-rate",
      "0",
    ]);
    const datanode = await DataNode.start(config, {
      secret: clusterSecret,
      logger: createLogger({ name: `datanode-${index}`, level: "silent" }),
      reconnectDelayMsMax: 200,
    });
    this.datanodes.push(datanode);
    this.datanodeDirs.push(dataDir);
    await waitFor(() => this.namenode.registry.isLive(datanode.id), 10_000, {
      what: `DataNode ${index} to register`,
    });
    return datanode;
  }

  /** A client of this cluster, closed by {@linkcode stop}. */
  async client(options: Partial<BigFsClientOptions> = {}): Promise<BigFsClient> {
    const client = await BigFsClient.connect({
      namenode: this.namenode.address,
      secret: clusterSecret,
      ...options,
    });
    this.#clients.push(client);
    return client;
  }

  /** The index of the DataNode with this id. */
  indexOf(datanodeId: string): number {
    const index = this.datanodes.findIndex((datanode) => datanode.id === datanodeId);
    if (index < 0) throw new Error(`No DataNode ${datanodeId} in this cluster`);
    return index;
  }

  /** The replicas of chunk `chunkId` on DataNode `index`: files, or records in containers. */
  async replicasOf(index: number, chunkId: bigint): Promise<ReplicaOnDisk[]> {
    const all = await replicasOnDisk(this.datanodeDirs[index]!);
    return all.filter((replica) => replica.chunkId === chunkId);
  }

  /** Flips every bit of one byte of a file, in place. */
  static flipByte = flipByte;

  /** Closes the clients, stops every DataNode and the NameNode, removes the folders. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#clients.map((client) => client.close()));
    await Promise.allSettled(this.datanodes.map((datanode) => datanode.stop()));
    await this.namenode.stop().catch(() => {});
    await rm(this.#root, { recursive: true, force: true });
  }
}
