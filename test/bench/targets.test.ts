/**
 * A figure's target is judged against its value or its ratio to the ceiling, and the terminal
 * table and the HTML page say, for each figure with a target, whether this run met it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatHtml } from "../../bench/report_html.js";
import { tableRows } from "../../bench/report_table.js";
import { type BenchReport, type BenchResult, compared, withTarget } from "../../bench/result.js";

const ceiling = { label: "(a) disk copy", value: 400 };
const figure = (value: number): BenchResult => ({ label: "write", value, unit: "MiB/s" });

test("a ratio target is judged on value ÷ ceiling, bounds included", () => {
  const goal = { atLeast: 0.85, ofCeiling: true };
  assert.is(withTarget(compared(figure(340), ceiling), "≥ 0.85", goal).targetMet, true);
  assert.is(withTarget(compared(figure(339), ceiling), "≥ 0.85", goal).targetMet, false);
  // No ceiling, no ratio: the target is shown but not judged.
  const unjudged = withTarget(figure(339), "≥ 0.85", goal);
  assert.is(unjudged.target, "≥ 0.85");
  assert.is(unjudged.targetMet, undefined);
});

test("a target that does not apply to the run's settings is shown, not judged", () => {
  const result = withTarget(figure(10), "≥ 1,000 (16 clients)", { atLeast: 1_000, applies: false });
  assert.is(result.target, "≥ 1,000 (16 clients)");
  assert.is(result.targetMet, undefined);
});

test("a value target is judged on the value: at least, or at most", () => {
  assert.is(withTarget(figure(1_000), "≥ 1,000", { atLeast: 1_000 }).targetMet, true);
  assert.is(withTarget(figure(999), "≥ 1,000", { atLeast: 1_000 }).targetMet, false);
  assert.is(withTarget(figure(256), "≤ 256", { atMost: 256 }).targetMet, true);
  assert.is(withTarget(figure(257), "≤ 256", { atMost: 256 }).targetMet, false);
});

function reportOf(results: Record<string, BenchResult>): BenchReport {
  return {
    machine: { cpus: 2, cpuModel: "test", memoryBytes: 1, node: "20", platform: "linux x64" },
    startedAt: "2026-11-27T00:00:00.000Z",
    command: "bigfs-bench test",
    cluster: { owned: true, datanodes: 3, replication: 3 },
    scenarios: { write: { settings: {}, results } },
  };
}

test("the table and the page say met or MISSED, and colour the bar by it", () => {
  const report = reportOf({
    met: withTarget(compared(figure(380), ceiling), "≥ 0.85 of (a)", {
      atLeast: 0.85,
      ofCeiling: true,
    }),
    missed: withTarget(compared(figure(300), ceiling), "≥ 0.85 of (a)", {
      atLeast: 0.85,
      ofCeiling: true,
    }),
    free: compared(figure(100), ceiling),
    elsewhere: withTarget(compared(figure(300), ceiling), "≥ 0.85 of (a) at 1 GiB", {
      atLeast: 0.85,
      ofCeiling: true,
      applies: false,
    }),
  });
  const targets = tableRows(report).map((row) => row[6]);
  assert.equal(targets, [
    "met: ≥ 0.85 of (a)",
    "MISSED: ≥ 0.85 of (a)",
    "",
    "not judged at these settings: ≥ 0.85 of (a) at 1 GiB",
  ]);
  const html = formatHtml(report);
  assert.match(html, /target met: ≥ 0\.85 of \(a\)/);
  assert.match(html, /target MISSED: ≥ 0\.85 of \(a\)/);
  assert.match(html, /target \(not judged at these settings\): ≥ 0\.85 of \(a\) at 1 GiB/);
  // Green (met), red (missed), blue (no target; not judged), besides the grey ceilings.
  assert.is(html.match(/fill="#2e7d32"/g)?.length, 1);
  assert.is(html.match(/fill="#c62828"/g)?.length, 1);
  assert.is(html.match(/fill="#5c7cba"/g)?.length, 2);
});

test.run();
