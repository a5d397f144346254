/**
 * What the NameNode serves DataNodes: registration with a full chunk report, heartbeats
 * (whose replies carry commands), incremental chunk reports and corrupt-replica reports.
 *
 * Replicas that must go (stale generation, or a chunk no file refers to any more) get a delete
 * command at once. Corrupt replicas are remembered and never handed to readers; deleting
 * them waits until good copies exist (the replication monitor's job). Every replica added or
 * removed is told to the replication monitor: it may finish a copy or a delete under way.
 *
 * A DataNode whose remaining bytes drop below the default chunk size is logged (and shown
 * among the recent events) as out of room, and again when a later heartbeat reports room:
 * placement passes it over meanwhile (see `placement.ts`).
 */
import { BigFsError, type Routes } from "#protocol";
import type { ReplicaProblem } from "./chunk_map.js";
import type { NamenodeParts } from "./namenode_parts.js";

/** Chunks named in the log line of one report's deletions; the count covers them all. */
const loggedChunksMax = 10;

/** The routes a NameNode serves to DataNodes. */
export function datanodeRoutes(parts: NamenodeParts): Routes {
  const { chunkMap, registry, logger } = parts;

  function actOn(datanodeId: string, problems: Iterable<ReplicaProblem>): void {
    const deleted: ReplicaProblem[] = [];
    for (const problem of problems) {
      if (problem.outcome === "stale" || problem.outcome === "orphan") {
        parts.deleteReplica(datanodeId, problem);
        deleted.push(problem);
      } else if (problem.outcome === "corrupt") {
        logger.warn({ datanode: datanodeId, chunkId: problem.id }, "corrupt replica reported");
        parts.events.add({
          timeMs: parts.now(),
          kind: "corrupt-replica",
          message: `Corrupt replica of chunk ${problem.id} reported by DataNode ${datanodeId}`,
          datanode: datanodeId,
          chunkId: problem.id,
        });
      }
    }
    if (deleted.length > 0) logDeletions(datanodeId, deleted);
  }

  /**
   * One line per report, not per replica: a DataNode back after a long absence may bring
   * thousands of stale replicas, and a report must not turn into thousands of log lines.
   */
  function logDeletions(datanodeId: string, deleted: ReplicaProblem[]): void {
    const count = (outcome: string) => deleted.filter((p) => p.outcome === outcome).length;
    logger.info(
      {
        datanode: datanodeId,
        replicas: deleted.length,
        stale: count("stale"),
        orphan: count("orphan"),
        chunks: deleted
          .slice(0, loggedChunksMax)
          .map(({ id, generation }) => `${id}@${generation}`),
      },
      deleted.length === 1 ? "replica scheduled for deletion" : "replicas scheduled for deletion",
    );
  }

  /** Logs a DataNode running out of room for a chunk, or having room again. */
  function noteRoom(datanodeId: string, remainingBeforeBytes: number | undefined): void {
    const view = registry.get(datanodeId);
    if (view === undefined) return;
    const chunkBytes = parts.config.chunkSize;
    const wasFull = remainingBeforeBytes !== undefined && remainingBeforeBytes < chunkBytes;
    const isFull = view.remainingBytes < chunkBytes;
    if (wasFull === isFull) return;
    const figures = {
      datanode: datanodeId,
      remainingBytes: view.remainingBytes,
      usedBytes: view.usedBytes,
      capacityBytes: view.capacityBytes,
    };
    if (isFull) {
      logger.warn(figures, "DataNode has no room for a chunk: no new chunks are placed on it");
    } else {
      logger.info(figures, "DataNode has room for chunks again");
    }
    parts.events.add({
      timeMs: parts.now(),
      kind: isFull ? "datanode-full" : "datanode-has-room",
      message: isFull
        ? `DataNode ${datanodeId} has no room for a chunk (${view.remainingBytes} bytes left): no new chunks go there`
        : `DataNode ${datanodeId} has room for chunks again (${view.remainingBytes} bytes left)`,
      datanode: datanodeId,
    });
  }

  function knownDatanode(datanodeId: string): void {
    if (registry.get(datanodeId) === undefined) {
      throw new BigFsError(
        "NOT_FOUND",
        `Cannot accept a report from DataNode ${datanodeId}: it must register first`,
      );
    }
  }

  return {
    PING: async () => ({ timeMs: parts.now() }),

    REGISTER: async (body) => {
      const remainingBefore = registry.get(body.datanodeId)?.remainingBytes;
      const outcome = registry.register(
        {
          datanodeId: body.datanodeId,
          address: body.address,
          capacityBytes: body.capacityBytes,
          usedBytes: body.usedBytes,
          ...(body.remainingBytes === undefined ? {} : { remainingBytes: body.remainingBytes }),
          ...(body.rack === undefined ? {} : { rack: body.rack }),
        },
        parts.now(),
      );
      const result = chunkMap.fullReport(body.datanodeId, body.chunks);
      actOn(body.datanodeId, result.problems);
      // Decommissioned before a restart: out of service again, in the same turn as its
      // registration, so before anything can be placed on it; its drain walks what it reported.
      parts.decommissions.registered(body.datanodeId);
      // A returning DataNode may bring back extra copies, or missing chunks; in safe mode the
      // rescan on leaving it looks at every chunk anyway.
      if (!parts.safeMode.active) {
        parts.replicationMonitor.checkAll(body.chunks.map((replica) => replica.id));
        parts.replicationMonitor.checkAll(
          result.problems.filter((problem) => problem.outcome === "removed").map(({ id }) => id),
        );
      }
      logger.info(
        {
          datanode: body.datanodeId,
          address: body.address,
          outcome,
          chunks: body.chunks.length,
          storedChunks: result.stored,
        },
        "DataNode registered",
      );
      if (outcome !== "reregistered") {
        parts.events.add({
          timeMs: parts.now(),
          kind: outcome === "new" ? "datanode-registered" : "datanode-returned",
          message: `DataNode ${body.datanodeId} at ${body.address} ${outcome === "new" ? "registered" : "returned"} with ${body.chunks.length} replicas`,
          datanode: body.datanodeId,
        });
      }
      noteRoom(body.datanodeId, remainingBefore);
      parts.updateSafeMode();
      return { heartbeatIntervalMs: parts.config.heartbeatInterval };
    },

    HEARTBEAT: async (body) => {
      const remainingBefore = registry.get(body.datanodeId)?.remainingBytes;
      const commands = registry.heartbeat(
        body.datanodeId,
        {
          capacityBytes: body.capacityBytes,
          usedBytes: body.usedBytes,
          ...(body.remainingBytes === undefined ? {} : { remainingBytes: body.remainingBytes }),
          activeTransfers: body.activeTransfers,
        },
        parts.now(),
      );
      if (commands === undefined) {
        throw new BigFsError(
          "NOT_FOUND",
          `Cannot take a heartbeat from DataNode ${body.datanodeId}: unknown or declared dead; register again`,
        );
      }
      noteRoom(body.datanodeId, remainingBefore);
      return { commands };
    },

    CHUNK_REPORT: async (body) => {
      knownDatanode(body.datanodeId);
      const problems: ReplicaProblem[] = [];
      for (const replica of body.added) {
        const outcome = chunkMap.reportReplica(body.datanodeId, replica);
        if (outcome !== "stored")
          problems.push({ id: replica.id, generation: replica.generation, outcome });
        if (outcome === "stored" || outcome === "corrupt") {
          parts.replicationMonitor.replicaAdded(body.datanodeId, replica.id);
        }
      }
      for (const replica of body.removed) {
        chunkMap.removeReplica(body.datanodeId, replica.id);
        parts.replicationMonitor.replicaRemoved(body.datanodeId, replica.id);
      }
      actOn(body.datanodeId, problems);
      parts.updateSafeMode();
      return {};
    },

    REPORT_CORRUPT: async (body) => {
      knownDatanode(body.datanodeId);
      parts.replicaCorrupt(body.datanodeId, body.chunkId, body.generation, body.reason);
      return {};
    },
  };
}
