/**
 * The shape of what a benchmark run reports: per scenario, its settings and its results,
 * each result with the ceiling it is compared to. This is the `--json` document, and what the
 * terminal table and the HTML page are drawn from.
 */

/** The ceiling a result is compared to, measured in the same run, in the result's unit. */
export interface Ceiling {
  /** What was measured, such as `disk copy into 3 files (limits a)`. */
  label: string;
  value: number;
}

/** One measured figure. */
export interface BenchResult {
  /** What it is, such as `write 1 × 256 MiB, 1 stream`. */
  label: string;
  /** The median when repeated. */
  value: number;
  /** `MiB/s`, `files/s`, `ops/s`, `ms`, `bytes`, ... */
  unit: string;
  /** Smallest and largest sample when repeated. */
  min?: number;
  max?: number;
  samples?: number[];
  ceiling?: Ceiling;
  /** `value / ceiling.value`. */
  ratio?: number;
  /** The target for this figure, as text, such as `≥ 0.85 of ceiling`. */
  target?: string;
  /** Whether this run met `target`, judged by {@linkcode withTarget}. */
  targetMet?: boolean;
}

/** A target as numbers: the value, or its ratio to the ceiling, at least or at most a bound. */
export interface Goal {
  atLeast?: number;
  atMost?: number;
  /** Judge `ratio` rather than `value`. */
  ofCeiling?: boolean;
  /**
   * False when the run's settings are not those the target is stated for (a `--quick` run, a
   * 256 MiB write for a 1 GiB target): the target is then shown but not judged.
   */
  applies?: boolean;
}

/** What one scenario reports. */
export interface ScenarioReport {
  /** The sizes and counts it ran with. */
  settings: Record<string, number | string | boolean>;
  /** Its figures by key, such as `throughput`. */
  results: Record<string, BenchResult>;
  /** Why a figure is missing or what to know about one. */
  notes?: string[];
  /** Recovery only: whether every chunk came back to full replication in time. */
  recovered?: boolean;
}

/** The machine a run measured. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  platform: string;
}

/** The whole `--json` document. */
export interface BenchReport {
  machine: MachineInfo;
  /** When the run started, ISO 8601. */
  startedAt: string;
  command: string;
  cluster: { owned: boolean; datanodes: number; replication: number };
  scenarios: Partial<Record<ScenarioName, ScenarioReport>>;
}

/** Every scenario, in the order `all` runs them. */
export const scenarioNames = [
  "limits",
  "write",
  "read",
  "memory",
  "small",
  "meta",
  "recovery",
] as const;

/** A scenario's name. */
export type ScenarioName = (typeof scenarioNames)[number];

/** A result compared to its ceiling: fills in `ratio`. */
export function compared(result: Omit<BenchResult, "ratio">, ceiling?: Ceiling): BenchResult {
  if (ceiling === undefined || !(ceiling.value > 0)) return result;
  return { ...result, ceiling, ratio: result.value / ceiling.value };
}

/**
 * `result` with its target: the text shown, and whether the figure met `goal`. A goal that
 * does not apply to this run's settings, or a ratio goal on a result without a ceiling, is
 * not judged.
 */
export function withTarget(result: BenchResult, target: string, goal: Goal): BenchResult {
  const measured = goal.ofCeiling ? result.ratio : result.value;
  if (measured === undefined || goal.applies === false) return { ...result, target };
  const met =
    (goal.atLeast === undefined || measured >= goal.atLeast) &&
    (goal.atMost === undefined || measured <= goal.atMost);
  return { ...result, target, targetMet: met };
}
