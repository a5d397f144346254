/**
 * Decommissioning (HDFS's DatanodeAdminManager): a DataNode taken out of service takes no new
 * chunks, its replicas stop counting toward their chunks' targets (so the replication monitor
 * copies them elsewhere, and may copy *from* it), and it becomes `decommissioned` once no chunk
 * depends on it.
 *
 * A chunk depends on the DataNode while it is not committed yet, or while the DataNode holds a
 * good replica and fewer than `min(expected, DataNodes in service)` (at least one) good
 * replicas count elsewhere. The check walks the DataNode's chunks at most `checksPerTick` per
 * tick (over every DataNode being decommissioned), in passes; a pass that finds nothing
 * depending ends it. `remaining` is the count from the last full pass, for DATANODE_REPORT.
 *
 * Which DataNodes were decommissioned survives a restart (`decommission_list.ts`, HDFS's
 * excludes file): the list on disk has a DataNode before DECOMMISSION is answered, and one on
 * it that registers with a restarted NameNode is taken out of service again at once, before
 * it can be given a chunk. Its drain starts over; it is `decommissioned` again after a pass
 * that finds nothing depending on it.
 */
import { BigFsError, type Logger } from "#protocol";
import type { ChunkMap } from "./chunk_map.js";
import type { DatanodeRegistry } from "./datanode_registry.js";
import type { DecommissionList } from "./decommission_list.js";
import type { ReplicationMonitor } from "./replication_monitor.js";

/** What the tracker works with; a NameNode has it all. */
export interface DecommissionParts {
  readonly chunkMap: ChunkMap;
  readonly registry: DatanodeRegistry;
  readonly replicationMonitor: ReplicationMonitor;
  readonly logger: Logger;
}

/** Options for {@linkcode DecommissionTracker}. */
export interface DecommissionOptions {
  /** Chunks checked per tick, over all DataNodes being decommissioned (default 20,000). */
  checksPerTick?: number;
}

interface Draining {
  pass: IterableIterator<bigint>;
  dependingInPass: number;
  /** As of the last full pass; `undefined` before the first one ends. */
  remaining: number | undefined;
}

/** DataNodes being decommissioned and how far along they are. */
export class DecommissionTracker {
  readonly #parts: DecommissionParts;
  readonly #list: DecommissionList;
  readonly #checksPerTick: number;
  readonly #draining = new Map<string, Draining>();

  constructor(parts: DecommissionParts, list: DecommissionList, options: DecommissionOptions = {}) {
    this.#parts = parts;
    this.#list = list;
    this.#checksPerTick = options.checksPerTick ?? 20_000;
  }

  /**
   * Starts decommissioning a DataNode, once the list on disk has it (again for one already
   * decommissioning or done: nothing changes).
   *
   * @throws {BigFsError} `NOT_FOUND` for a DataNode never registered; `INTERNAL` when the list
   * cannot be written (the DataNode then stays in service).
   */
  async start(datanodeId: string): Promise<void> {
    if (this.#parts.registry.adminState(datanodeId) === undefined) {
      throw new BigFsError(
        "NOT_FOUND",
        `Cannot decommission DataNode ${datanodeId}: no such DataNode has registered`,
      );
    }
    try {
      await this.#list.add(datanodeId);
    } catch (error) {
      throw new BigFsError(
        "INTERNAL",
        `Cannot decommission DataNode ${datanodeId}: cannot record it in ${this.#list.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#begin(datanodeId);
  }

  /**
   * A DataNode registered: one on the list (decommissioned before a restart) is taken out of
   * service again, before it can be given a chunk.
   */
  registered(datanodeId: string): void {
    if (this.#list.has(datanodeId)) this.#begin(datanodeId);
  }

  /** Takes a registered DataNode in normal service out of it and starts its drain. */
  #begin(datanodeId: string): void {
    const { registry, chunkMap, replicationMonitor, logger } = this.#parts;
    if (registry.adminState(datanodeId) !== "normal") return;
    registry.setAdminState(datanodeId, "decommissioning");
    this.#draining.set(datanodeId, {
      pass: chunkMap.chunksOn(datanodeId),
      dependingInPass: 0,
      remaining: undefined,
    });
    replicationMonitor.checkAll(chunkMap.chunksOn(datanodeId));
    logger.info(
      { datanode: datanodeId, replicas: chunkMap.replicaCountOf(datanodeId) },
      "decommissioning a DataNode",
    );
  }

  /** Chunks that still depend on a DataNode being decommissioned, as of the last pass. */
  remaining(datanodeId: string): number | undefined {
    if (this.#parts.registry.adminState(datanodeId) === "decommissioned") return 0;
    return this.#draining.get(datanodeId)?.remaining;
  }

  /** Checks the next chunks of each DataNode being decommissioned. */
  tick(): void {
    if (this.#draining.size === 0) return;
    const { registry, logger } = this.#parts;
    let inService = 0;
    for (const view of registry.views()) if (view.state === "live") inService++;
    let budget = this.#checksPerTick;
    for (const [datanodeId, draining] of this.#draining) {
      while (budget > 0) {
        budget--;
        const next = draining.pass.next();
        if (!next.done) {
          if (this.#dependsOn(next.value, datanodeId, inService)) draining.dependingInPass++;
          continue;
        }
        draining.remaining = draining.dependingInPass;
        if (draining.remaining === 0) {
          this.#draining.delete(datanodeId);
          registry.setAdminState(datanodeId, "decommissioned");
          logger.info({ datanode: datanodeId }, "DataNode decommissioned: no chunk depends on it");
        } else {
          draining.pass = this.#parts.chunkMap.chunksOn(datanodeId);
          draining.dependingInPass = 0;
        }
        break;
      }
    }
  }

  #dependsOn(chunkId: bigint, datanodeId: string, inService: number): boolean {
    const { chunkMap, registry, replicationMonitor } = this.#parts;
    const chunk = chunkMap.get(chunkId);
    if (chunk === undefined) return false;
    if (!chunk.committed) return true;
    const good = chunkMap.liveReplicas(chunkId);
    if (!good.includes(datanodeId)) return false;
    const deleting = replicationMonitor.deletingOn(chunkId);
    let elsewhere = 0;
    for (const id of good) {
      if (id !== datanodeId && registry.isWritable(id) && !deleting.has(id)) elsewhere++;
    }
    return elsewhere < Math.max(1, Math.min(chunk.expectedReplication, inService));
  }
}
