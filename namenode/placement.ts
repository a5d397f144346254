/**
 * Placement: which DataNodes get a new chunk's replicas, in pipeline order.
 *
 * - Only live DataNodes in normal service (not decommissioning), not excluded, with room for
 *   the chunk and at least `minFreeRatio` (default 5%) of their capacity still free after it,
 *   and whose disk has room for the chunk: their effective remaining bytes (what the DataNode
 *   last reported, less what was scheduled on it since) are at least the chunk size. A
 *   DataNode whose disk filled up (its heartbeat reports little remaining) gets nothing new
 *   until a heartbeat reports room again.
 * - Load is one score: the share of the disk in use plus `transferWeight` (default 0.05) per
 *   active transfer, so each transfer under way weighs like 5% of a disk. Both figures are
 *   the registry's effective ones, scheduled work included.
 * - Each replica goes to the better of two candidates drawn at random ("power of two
 *   choices"). With equal load the first replica rotates; a lightly used DataNode is favoured
 *   without every writer piling onto it between two heartbeats, as a strict minimum would.
 * - Racks, when given (a DataNode without one is on `/default-rack`), as HDFS's default
 *   policy: the second replica on another rack than the first, the third on the second's
 *   rack, the rest anywhere that keeps at most `(replication - 1) / racks + 2` per rack.
 *   Each rule is dropped for a replica when no candidate meets it. A chunk then survives the
 *   loss of a rack while crossing racks only once in the pipeline.
 * - Fewer than `replication` DataNodes come back when not enough qualify; the caller decides
 *   (none at all is `NO_SPACE` or `UNAVAILABLE`).
 */
import type { DatanodeView } from "./datanode_registry.js";

/** What placement looks at in a DataNode; the registry's views have it all. */
export type PlacementCandidate = Pick<
  DatanodeView,
  | "id"
  | "rack"
  | "state"
  | "capacityBytes"
  | "effectiveUsedBytes"
  | "effectiveRemainingBytes"
  | "activeTransfers"
>;

/** Options for {@linkcode choosePipeline}. */
export interface PipelineRequest {
  /** Replicas wanted. */
  replication: number;
  /** Room each replica needs. */
  chunkSizeBytes: number;
  /** DataNodes not to use (a writer's failed pipeline, or ones that hold the chunk already). */
  exclude?: ReadonlySet<string>;
  /** Returns a number in [0, 1); default `Math.random`. */
  random?: () => number;
  /** Share of capacity that must stay free after the chunk (default 0.05). */
  minFreeRatio?: number;
  /** Score added per active transfer, in shares of a disk (default 0.05). */
  transferWeight?: number;
}

/** The rack of DataNodes that do not name one. */
export const defaultRack = "/default-rack";

/** Chooses distinct DataNodes for a new chunk's pipeline, best first; see the module doc. */
export function choosePipeline<T extends PlacementCandidate>(
  candidates: readonly T[],
  request: PipelineRequest,
): T[] {
  const { replication, chunkSizeBytes } = request;
  if (!Number.isInteger(replication) || replication < 0) {
    throw new RangeError(`Cannot choose a pipeline: replication ${replication} is not a count`);
  }
  const random = request.random ?? Math.random;
  const minFreeRatio = request.minFreeRatio ?? 0.05;
  const transferWeight = request.transferWeight ?? 0.05;
  const seen = new Set<string>();
  const eligible: { node: T; rack: string; score: number }[] = [];
  for (const node of candidates) {
    if (node.state !== "live" || request.exclude?.has(node.id) || seen.has(node.id)) continue;
    seen.add(node.id);
    const freeAfterBytes = node.capacityBytes - node.effectiveUsedBytes - chunkSizeBytes;
    const reserveBytes = Math.max(0, minFreeRatio * node.capacityBytes);
    if (node.capacityBytes <= 0 || freeAfterBytes < reserveBytes) continue;
    if (node.effectiveRemainingBytes < chunkSizeBytes) continue;
    const score =
      node.effectiveUsedBytes / node.capacityBytes + transferWeight * node.activeTransfers;
    eligible.push({ node, rack: node.rack ?? defaultRack, score });
  }
  const rackCount = new Set(eligible.map((candidate) => candidate.rack)).size;
  const perRackMax = Math.floor((replication - 1) / Math.max(1, rackCount)) + 2;
  const chosen: typeof eligible = [];
  const perRack = new Map<string, number>();
  while (chosen.length < replication && eligible.length > 0) {
    const slot = chosen.length;
    const first = chosen[0]?.rack;
    const second = chosen[1]?.rack;
    const preferred = (rack: string): boolean =>
      slot === 1
        ? rack !== first
        : slot === 2
          ? rack === second
          : slot > 2
            ? (perRack.get(rack) ?? 0) < perRackMax
            : true;
    let pool = eligible.filter((candidate) => preferred(candidate.rack));
    if (pool.length === 0) pool = eligible;
    const pick = bestOfTwo(pool, random);
    chosen.push(pick);
    perRack.set(pick.rack, (perRack.get(pick.rack) ?? 0) + 1);
    eligible.splice(eligible.indexOf(pick), 1);
  }
  return chosen.map((candidate) => candidate.node);
}

function bestOfTwo<C extends { score: number }>(pool: readonly C[], random: () => number): C {
  const first = randomIndex(pool.length, random);
  if (pool.length === 1) return pool[first]!;
  let second = randomIndex(pool.length - 1, random);
  if (second >= first) second++;
  return pool[second]!.score < pool[first]!.score ? pool[second]! : pool[first]!;
}

function randomIndex(length: number, random: () => number): number {
  return Math.min(length - 1, Math.floor(random() * length));
}
