/**
 * `bigfs-bench`: throughput, metadata and recovery benchmarks, each measured against this
 * machine's own ceilings in the same run.
 *
 * - `limits.ts`: the ceilings (disk copy into R files, loopback socket, WAL appends, durable
 *   small files).
 * - `throughput.ts` (`write`, `read`), `client_memory.ts` (`memory`: the `bigfs` CLI in a
 *   process of its own, with `peak_rss_on_exit.ts` preloaded), `small_files.ts` (`small`),
 *   `metadata.ts` and `namenode_memory.ts` (`meta`), `recovery.ts` (`recovery`).
 * - `memory_sampler.ts`: peak resident memory of processes while a transfer runs.
 * - `local_cluster.ts` and `daemon_process.ts`: the cluster of real processes a run starts.
 * - `report_table.ts`, `report_html.ts`: the terminal table and the HTML page; `result.ts`
 *   is the shape of the `--json` document.
 * - `main.ts` is the `bigfs-bench` command.
 *
 * @module
 */
export { DaemonProcess } from "./daemon_process.js";
export { type Limits, type LimitsOptions, measureLimits } from "./limits.js";
export { BenchCluster, type BenchClusterOptions } from "./local_cluster.js";
export { type BenchSettings, benchFlags, parseBenchArgs } from "./options.js";
export { Progress, type ProgressOptions } from "./progress.js";
export { formatHtml } from "./report_html.js";
export { formatTable } from "./report_table.js";
export {
  type BenchReport,
  type BenchResult,
  type Ceiling,
  type MachineInfo,
  type ScenarioName,
  type ScenarioReport,
  scenarioNames,
} from "./result.js";
export { Cleanup, runBench } from "./runner.js";
export { type Spread, spreadOf } from "./stats.js";
