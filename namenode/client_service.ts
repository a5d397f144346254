/**
 * What the NameNode serves clients: the namespace, the write path (create, addChunk,
 * commitChunk, complete, abandon, leases) and the read path (open: where each chunk's
 * replicas are, with read tokens), plus reports (DataNodes, fsck) and administration
 * (replication changes, balancing, decommissioning).
 *
 * Every change goes through {@linkcode NamenodeParts.commit}: checked against safe mode,
 * applied, logged, and answered only once durable.
 */

import type { locatedChunk, ResponseOf } from "#protocol";
import { BigFsError, mintChunkToken, type Routes, type schema } from "#protocol";
import type { NamenodeParts } from "./namenode_parts.js";

type LocatedChunk = schema.Infer<typeof locatedChunk>;
type ChunkGrant = ResponseOf<"ADD_CHUNK">;

const chunkSizeBytesMin = 4 * 1024;
const chunkSizeBytesMax = 1024 * 1024 * 1024;
/** Under a client's default request deadline (30 s), so a plain BALANCE gets its answer. */
const balanceWaitMsDefault = 20_000;
const balanceWaitMsMax = 10 * 60_000;

/** The answer of a change that returns nothing. */
function emptyResponse(): Record<string, never> {
  return {};
}

/** The routes a NameNode serves to clients. */
export function clientRoutes(parts: NamenodeParts): Routes {
  const { namespace } = parts.store;

  /** A file under construction, if `clientName` holds its lease; else a clear refusal. */
  function leasedFile(fileId: bigint, clientName: string, path: string) {
    const file = namespace.file(fileId);
    if (file === undefined) {
      throw new BigFsError(
        "NOT_FOUND",
        `Cannot write ${path}: no file under construction with id ${fileId} (its lease may have expired)`,
      );
    }
    const holder = parts.leases.holder(fileId);
    if (holder !== clientName) {
      throw new BigFsError(
        "LEASE_CONFLICT",
        `Cannot write ${file.path}: the lease is held by ${holder ?? "nobody"}, not ${clientName}`,
      );
    }
    parts.leases.renew(clientName, parts.now());
    return file;
  }

  /**
   * Waits (bounded) until every chunk has a replica reported by a DataNode, as HDFS's
   * complete does: a reader that opens the file right after finds somewhere to read. The
   * DataNodes report a chunk moments after its pipeline acked, and the report itself wakes
   * the wait; when a report never comes (its DataNodes died just after), the file completes
   * anyway and the chunk shows as missing until a holder returns.
   */
  async function waitForReplicas(chunkIds: bigint[]): Promise<void> {
    const completeWaitMs = parts.config.completeWait;
    const waiting = await parts.replicaWaiters.wait(
      chunkIds,
      (id) => parts.chunkMap.liveReplicas(id).length > 0,
      completeWaitMs,
    );
    if (waiting.length > 0) {
      parts.logger.warn(
        { chunks: waiting.map(String), waitedMs: completeWaitMs },
        "completing a file with chunks no DataNode has reported yet",
      );
    }
  }

  /**
   * Adds a chunk to `file` with a pipeline for it, applied at once; `durable` settles when its
   * record is. Undefined when no DataNode can take it. Applied without waiting, so a CREATE
   * that asks for its first chunk logs both records in one group commit.
   */
  function startChunk(
    file: { fileId: bigint; replication: number; chunkSizeBytes: number },
    excludeDatanodes: readonly string[],
    replaces: bigint,
  ): { grant: ChunkGrant; durable: Promise<unknown> } | undefined {
    const pipeline = parts.choosePipeline({
      replication: file.replication,
      chunkSizeBytes: file.chunkSizeBytes,
      exclude: new Set(excludeDatanodes),
    });
    if (pipeline.length === 0) return undefined;
    const chunkId = namespace.highestChunkId + 1n;
    const generation = namespace.highestGeneration + 1n;
    const durable = parts.commit(
      "add a chunk",
      { op: "addChunk", fileId: file.fileId, chunkId, generation, replaces },
      () => {
        parts.chunkMap.addChunk({ id: chunkId, generation, expectedReplication: file.replication });
        for (const datanode of pipeline) {
          parts.registry.noteChunkScheduled(datanode.id, file.chunkSizeBytes);
        }
      },
    );
    const token = mintChunkToken(parts.secret, {
      chunkId,
      generation,
      operation: "write",
      expiresAtMs: parts.now() + parts.tokenLifetimeMs,
    });
    return { grant: { chunkId, generation, pipeline, token }, durable };
  }

  return {
    PING: async () => ({ timeMs: parts.now() }),

    // The busiest changes answer through `then`, without an async function's frame each.
    MKDIR: (body) =>
      parts
        .commit("create a directory", {
          op: "mkdir",
          path: body.path,
          parents: body.parents ?? false,
          mtimeMs: parts.now(),
        })
        .then(emptyResponse),

    LIST: async (body) => ({ entries: namespace.list(body.path) }),

    STAT: async (body) => {
      const { entry, chunks } = namespace.stat(body.path);
      return {
        entry,
        chunks: chunks.map((chunk) => ({
          id: chunk.id,
          generation: chunk.generation,
          size: chunk.size,
          xxh64: chunk.xxh64,
          replicas: parts.chunkMap.liveReplicas(chunk.id),
        })),
      };
    },

    CREATE: async (body) => {
      const replication = body.replication ?? parts.config.replication;
      const chunkSizeBytes = body.chunkSizeBytes ?? parts.config.chunkSize;
      if (chunkSizeBytes < chunkSizeBytesMin || chunkSizeBytes > chunkSizeBytesMax) {
        throw new BigFsError(
          "INVALID_ARGUMENT",
          `Cannot create ${body.path}: chunk size ${chunkSizeBytes} is outside ${chunkSizeBytesMin}..${chunkSizeBytesMax} bytes`,
        );
      }
      const fileId = namespace.highestFileId + 1n;
      const creating = parts.commit(
        "create a file",
        {
          op: "create",
          path: body.path,
          fileId,
          clientName: body.clientName,
          replication,
          chunkSizeBytes,
          overwrite: body.overwrite ?? false,
          mtimeMs: parts.now(),
        },
        () => parts.leases.add(body.clientName, fileId, parts.now()),
      );
      // The first chunk rides along: both records go to disk in one group commit. When no
      // DataNode can take it yet, the client asks again with ADD_CHUNK, which it can retry.
      const first =
        body.firstChunk && namespace.file(fileId) !== undefined
          ? startChunk({ fileId, replication, chunkSizeBytes }, [], 0n)
          : undefined;
      await Promise.all([creating, first?.durable]);
      return { fileId, replication, chunkSizeBytes, ...(first ? { chunk: first.grant } : {}) };
    },

    ADD_CHUNK: async (body) => {
      parts.safeMode.check(`add a chunk to ${body.path}`);
      const file = leasedFile(body.fileId, body.clientName, body.path);
      const excluded = body.excludeDatanodes ?? [];
      const started = startChunk(file, excluded, body.replacesChunkId ?? 0n);
      if (started === undefined) {
        // The client leaves out DataNodes that failed it: say so, or this reads as a full disk.
        const others = excluded.length > 0 ? ` other than the ${excluded.length} left out` : "";
        throw new BigFsError(
          "NO_SPACE",
          `Cannot add a chunk to ${file.path}: no live DataNode${others} has room for ${file.chunkSizeBytes} bytes`,
        );
      }
      await started.durable;
      return started.grant;
    },

    COMMIT_CHUNK: async (body) => {
      leasedFile(body.fileId, body.clientName, body.path);
      await parts.commit(
        "commit a chunk",
        {
          op: "commitChunk",
          fileId: body.fileId,
          chunkId: body.chunkId,
          generation: body.generation,
          size: body.size,
          xxh64: body.xxh64,
        },
        () => parts.chunkMap.commitChunk(body.chunkId, body.size),
      );
      return {};
    },

    COMPLETE: async (body) => {
      const file = leasedFile(body.fileId, body.clientName, body.path);
      await waitForReplicas(file.chunks.map((chunk) => chunk.id));
      const last = body.lastChunk;
      // The last chunk's commit rides along: both records go to disk in one group commit.
      const committing = last
        ? parts.commit("commit a chunk", { op: "commitChunk", fileId: body.fileId, ...last }, () =>
            parts.chunkMap.commitChunk(last.chunkId, last.size),
          )
        : undefined;
      const completing = parts.commit("complete a file", {
        op: "complete",
        fileId: body.fileId,
        mtimeMs: parts.now(),
      });
      await Promise.all([committing, completing]);
      return {};
    },

    ABANDON: async (body) => {
      leasedFile(body.fileId, body.clientName, body.path);
      await parts.commit("abandon a file", { op: "abandon", fileId: body.fileId });
      return {};
    },

    DELETE: (body) =>
      parts
        .commit("delete", {
          op: "delete",
          path: body.path,
          recursive: body.recursive ?? false,
          mtimeMs: parts.now(),
        })
        .then(emptyResponse),

    RENAME: (body) =>
      parts
        .commit("rename", {
          op: "rename",
          source: body.source,
          destination: body.destination,
          mtimeMs: parts.now(),
        })
        .then(emptyResponse),

    RENEW_LEASE: async (body) => {
      parts.leases.renew(body.clientName, parts.now());
      return {};
    },

    OPEN: async (body, request) => {
      const { entry, chunks } = namespace.stat(body.path);
      if (entry.type !== "file") {
        throw new BigFsError("IS_A_DIRECTORY", `Cannot open ${body.path}: it is a directory`);
      }
      const expiresAtMs = parts.now() + parts.tokenLifetimeMs;
      let offset = 0;
      const located: LocatedChunk[] = chunks.map((chunk) => {
        const item: LocatedChunk = {
          id: chunk.id,
          generation: chunk.generation,
          offset,
          size: chunk.size,
          xxh64: chunk.xxh64,
          replicas: parts.readReplicas(chunk.id, request.remote),
          token: mintChunkToken(parts.secret, {
            chunkId: chunk.id,
            generation: chunk.generation,
            operation: "read",
            expiresAtMs,
          }),
        };
        offset += chunk.size;
        return item;
      });
      return { size: entry.size, chunks: located };
    },

    REPORT_BAD_REPLICA: async (body) => {
      parts.replicaCorrupt(
        body.datanodeId,
        body.chunkId,
        body.generation,
        `client: ${body.reason}`,
      );
      return {};
    },

    DATANODE_REPORT: async () => ({
      datanodes: parts.registry
        .list(parts.now(), (id) => parts.chunkMap.replicaCountOf(id))
        .map((entry) => {
          if (entry.state === "live" || entry.state === "dead") return entry;
          const remaining = parts.decommissions.remaining(entry.id);
          return remaining === undefined ? entry : { ...entry, decommissionRemaining: remaining };
        }),
    }),

    SET_REPLICATION: async (body) => {
      await parts.commit(`set the replication of ${body.path}`, {
        op: "setReplication",
        path: body.path,
        replication: body.replication,
      });
      return {};
    },

    BALANCE: async (body) => {
      parts.safeMode.check("balance");
      const thresholdPercent = body.thresholdPercent ?? 10;
      if (thresholdPercent < 1 || thresholdPercent > 100) {
        throw new BigFsError(
          "INVALID_ARGUMENT",
          `Cannot balance: threshold ${thresholdPercent}% is outside 1..100`,
        );
      }
      const waitMs = Math.min(body.waitMs ?? balanceWaitMsDefault, balanceWaitMsMax);
      return parts.balancer.balance(thresholdPercent, waitMs);
    },

    DECOMMISSION: async (body) => {
      await parts.decommissions.start(body.datanodeId);
      return {};
    },

    FSCK: async (body) => parts.fsck(body.path),

    CONTENT_SUMMARY: async (body) => namespace.contentSummary(body.path),
  };
}
