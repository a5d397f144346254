/**
 * The results as a plain-text table for the terminal: one row per figure, with the ceiling
 * it is compared to, the ratio, and the target.
 */
import { formatRatio, formatValue } from "./format.js";
import type { BenchReport } from "./result.js";

const headings = ["scenario", "result", "value", "min–max", "ratio", "ceiling", "target"];

/** The rows of the table, as text cells. */
export function tableRows(report: BenchReport): string[][] {
  const rows: string[][] = [];
  for (const [scenario, scenarioReport] of Object.entries(report.scenarios)) {
    for (const result of Object.values(scenarioReport.results)) {
      rows.push([
        scenario,
        result.label,
        formatValue(result.value, result.unit),
        result.min === undefined || result.max === undefined || (result.samples?.length ?? 0) < 2
          ? ""
          : `${formatValue(result.min, result.unit)} – ${formatValue(result.max, result.unit)}`,
        result.ratio === undefined ? "" : formatRatio(result.ratio),
        result.ceiling === undefined
          ? ""
          : `${formatValue(result.ceiling.value, result.unit)} ${result.ceiling.label}`,
        result.target === undefined
          ? ""
          : result.targetMet === undefined
            ? `not judged at these settings: ${result.target}`
            : `${result.targetMet ? "met" : "MISSED"}: ${result.target}`,
      ]);
    }
    for (const note of scenarioReport.notes ?? []) rows.push([scenario, `NOTE: ${note}`]);
  }
  return rows;
}

/** The table, with a line about the machine above it. */
export function formatTable(report: BenchReport): string {
  const rows = [headings, ...tableRows(report)];
  const widths = headings.map((_, column) =>
    Math.max(...rows.filter((row) => row.length > 2).map((row) => (row[column] ?? "").length)),
  );
  const line = (row: string[]) =>
    row.length <= 2
      ? row.join("  ")
      : row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("  ")
          .trimEnd();
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  const { machine } = report;
  const header = `bigfs-bench on ${machine.cpus} × ${machine.cpuModel}, ${formatValue(machine.memoryBytes, "bytes")} RAM, Node.js ${machine.node} (${machine.platform})`;
  return [header, "", line(rows[0]!), rule, ...rows.slice(1).map(line), ""].join("\n");
}
