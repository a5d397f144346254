/**
 * The NameNode's own Prometheus metrics, read from its parts when `/metrics` is scraped (the
 * request metrics and process figures come with {@linkcode DaemonMetrics}). Gauges hold what
 * is true now; the `_total` counters mirror the parts' own running totals.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { readGauge } from "#protocol";
import type { ChunkHealth } from "./chunk_map.js";
import type { DatanodeState } from "./datanode_registry.js";
import type { NamenodeParts } from "./namenode_parts.js";

/** What the metrics read. */
export interface NamenodeMetricsSource {
  readonly parts: NamenodeParts;
  /** Chunk health, recomputed at most about once a second (it is O(chunks)). */
  health(): ChunkHealth;
}

const healthStatuses = [
  ["healthy", "healthy"],
  ["under_replicated", "underReplicated"],
  ["over_replicated", "overReplicated"],
  ["corrupt", "corrupt"],
  ["missing", "missing"],
] as const satisfies readonly (readonly [string, keyof ChunkHealth])[];

const datanodeStates: readonly DatanodeState[] = [
  "live",
  "dead",
  "decommissioning",
  "decommissioned",
];

/** Registers the NameNode's metrics in `registry`. */
export function registerNamenodeMetrics(registry: Registry, source: NamenodeMetricsSource): void {
  const registers = [registry];
  const { parts } = source;
  const gauge = (name: string, help: string, read: () => number) =>
    readGauge(registry, name, help, read);
  // A running total kept by a part, shown as a counter so that rate() works on it.
  const total = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const labelled = <L extends string>(
    name: string,
    help: string,
    labelName: L,
    read: () => Iterable<readonly [string, number]>,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: [labelName],
      registers,
      collect() {
        // Reset first: a label that is gone must not linger with its last value.
        this.reset();
        for (const [label, value] of read()) this.set({ [labelName]: label } as never, value);
      },
    });

  gauge("bigfs_namenode_safe_mode", "1 while the NameNode is in safe mode", () =>
    parts.safeMode.active ? 1 : 0,
  );
  gauge("bigfs_namenode_files", "Complete files", () => parts.store.namespace.fileCount);
  gauge(
    "bigfs_namenode_files_under_construction",
    "Files being written",
    () => parts.store.namespace.underConstructionCount,
  );
  gauge(
    "bigfs_namenode_directories",
    "Directories, the root included",
    () => parts.store.namespace.directoryCount,
  );
  gauge(
    "bigfs_namenode_chunks",
    "Chunks in the namespace, of complete files and of files being written",
    () => parts.store.namespace.chunkCount,
  );
  labelled(
    "bigfs_namenode_chunks_by_status",
    "Committed chunks by health: healthy, under_replicated, over_replicated, corrupt, missing",
    "status",
    () => {
      const health = source.health();
      return healthStatuses.map(([label, key]) => [label, health[key]] as const);
    },
  );
  labelled("bigfs_namenode_datanodes", "DataNodes by state", "state", () => {
    const counts = new Map<string, number>(datanodeStates.map((state) => [state, 0]));
    for (const view of parts.registry.views()) {
      counts.set(view.state, (counts.get(view.state) ?? 0) + 1);
    }
    return counts;
  });
  const inService = () => parts.registry.views().filter((view) => view.state !== "dead");
  gauge("bigfs_namenode_capacity_bytes", "Capacity of the DataNodes that are alive", () =>
    inService().reduce((sum, view) => sum + view.capacityBytes, 0),
  );
  gauge("bigfs_namenode_used_bytes", "Bytes used on the DataNodes that are alive", () =>
    inService().reduce((sum, view) => sum + view.usedBytes, 0),
  );
  labelled(
    "bigfs_namenode_datanode_heartbeat_age_seconds",
    "Seconds since each DataNode's last heartbeat",
    "datanode",
    () => {
      const nowMs = parts.now();
      return parts.registry
        .views()
        .map((view) => [view.id, Math.max(0, nowMs - view.lastHeartbeatMs) / 1000] as const);
    },
  );
  labelled("bigfs_namenode_datanode_capacity_bytes", "Each DataNode's capacity", "datanode", () =>
    parts.registry.views().map((view) => [view.id, view.capacityBytes] as const),
  );
  labelled(
    "bigfs_namenode_datanode_used_bytes",
    "Bytes used on each DataNode, as last reported",
    "datanode",
    () => parts.registry.views().map((view) => [view.id, view.usedBytes] as const),
  );
  total(
    "bigfs_namenode_edit_log_syncs_total",
    "Edit log fdatasyncs made by appends (group commit shares one among many changes)",
    () => parts.store.syncCount,
  );
  gauge("bigfs_namenode_edit_log_txid", "The newest change's transaction id", () =>
    Number(parts.store.lastTxid),
  );
  gauge(
    "bigfs_namenode_edit_log_failed",
    "1 once an edit-log write or sync failed: every change is refused until a restart",
    () => (parts.store.failure === undefined ? 0 : 1),
  );
  const stats = () => parts.replicationMonitor.stats();
  labelled(
    "bigfs_namenode_replication_queue_chunks",
    "Under-replicated chunks waiting for a copy, by priority (0: at most one replica counts)",
    "priority",
    () => stats().waiting.map((count, priority) => [String(priority), count] as const),
  );
  gauge(
    "bigfs_namenode_replication_attention_chunks",
    "Chunks waiting to be examined by the replication monitor",
    () => stats().attention,
  );
  labelled(
    "bigfs_namenode_replication_in_flight",
    "Replica copies and deletes sent to DataNodes and not yet reported done",
    "work",
    () => {
      const { pendingReplications, pendingDeletes } = stats();
      return [
        ["copy", pendingReplications],
        ["delete", pendingDeletes],
      ] as const;
    },
  );
  total(
    "bigfs_namenode_replications_scheduled_total",
    "Replica copies scheduled",
    () => stats().scheduled,
  );
  total(
    "bigfs_namenode_replications_completed_total",
    "Replica copies completed",
    () => stats().completed,
  );
  total(
    "bigfs_namenode_replications_timed_out_total",
    "Replica copies that timed out and were scheduled again",
    () => stats().timedOut,
  );
}
