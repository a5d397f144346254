/**
 * The results as one self-contained HTML page (inline CSS and SVG, nothing fetched): per
 * scenario, a bar for each figure drawn against a bar for its ceiling, and the figures
 * without a ceiling in a table.
 */
import { formatRatio, formatValue } from "./format.js";
import type { BenchReport, BenchResult } from "./result.js";

const escapes: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => escapes[character]!);
}

const chartWidth = 640;
const labelWidth = 0;
const barHeight = 18;

/** Green for a target met, red for one missed, blue for a figure with no target judged. */
function colourOf(result: BenchResult): string {
  if (result.targetMet === undefined) return "#5c7cba";
  return result.targetMet ? "#2e7d32" : "#c62828";
}

/** The target's text, saying whether this run met it. */
function targetText(result: BenchResult): string {
  if (result.target === undefined) return "";
  if (result.targetMet === undefined)
    return `target (not judged at these settings): ${result.target}`;
  return `target ${result.targetMet ? "met" : "MISSED"}: ${result.target}`;
}

/** Two bars: the ceiling in grey, the result in colour, on one scale. */
function barChart(result: BenchResult): string {
  const ceiling = result.ceiling!;
  const scale = Math.max(result.value, ceiling.value);
  const width = (value: number) => Math.max(1, (value / scale) * (chartWidth - labelWidth - 10));
  const ratio = result.ratio ?? 0;
  const colour = colourOf(result);
  const bar = (y: number, value: number, fill: string, text: string) =>
    `<rect x="${labelWidth}" y="${y}" width="${width(value).toFixed(1)}" height="${barHeight}" fill="${fill}" rx="2"/>` +
    `<text x="${labelWidth + 6}" y="${y + 13}" class="bar-text">${escapeHtml(text)}</text>`;
  return `<svg width="${chartWidth}" height="${barHeight * 2 + 8}" role="img" aria-label="${escapeHtml(result.label)}">${bar(0, ceiling.value, "#cfd8dc", `ceiling: ${formatValue(ceiling.value, result.unit)} — ${ceiling.label}`)}${bar(barHeight + 4, result.value, colour, `${formatValue(result.value, result.unit)} = ${formatRatio(ratio)} of ceiling`)}</svg>`;
}

function resultBlock(result: BenchResult): string {
  const spread =
    result.min !== undefined && result.max !== undefined && (result.samples?.length ?? 0) > 1
      ? ` <span class="muted">(min ${formatValue(result.min, result.unit)}, max ${formatValue(result.max, result.unit)}, ${result.samples!.length} runs)</span>`
      : "";
  const target = result.target
    ? ` <span class="muted">${escapeHtml(targetText(result))}</span>`
    : "";
  return `<div class="result"><div><strong>${escapeHtml(result.label)}</strong>${spread}${target}</div>${barChart(result)}</div>`;
}

/** The whole page. */
export function formatHtml(report: BenchReport): string {
  const { machine } = report;
  const sections = Object.entries(report.scenarios).map(([name, scenario]) => {
    const results = Object.values(scenario.results);
    const charted = results.filter((result) => result.ceiling !== undefined);
    const plain = results.filter((result) => result.ceiling === undefined);
    const rows = plain
      .map(
        (result) =>
          `<tr><td>${escapeHtml(result.label)}</td><td class="num">${escapeHtml(formatValue(result.value, result.unit))}</td><td class="muted">${escapeHtml(targetText(result))}</td></tr>`,
      )
      .join("");
    const notes = (scenario.notes ?? [])
      .map((note) => `<p class="note">${escapeHtml(note)}</p>`)
      .join("");
    const settings = Object.entries(scenario.settings)
      .map(([key, value]) => `${escapeHtml(key)}=${escapeHtml(String(value))}`)
      .join(", ");
    return `<section><h2>${escapeHtml(name)}</h2><p class="muted">${settings}</p>${notes}${charted.map(resultBlock).join("")}${rows ? `<table>${rows}</table>` : ""}</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bigfs-bench ${escapeHtml(report.startedAt)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:760px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.muted{color:#666;font-size:.9em}.note{background:#fff3e0;padding:.4em .6em;border-left:3px solid #ef6c00}
.result{margin:.8em 0}.bar-text{font:12px system-ui,sans-serif;fill:#111}
table{border-collapse:collapse;margin-top:.6em}td{padding:.15em .8em .15em 0}.num{text-align:right;font-variant-numeric:tabular-nums}
</style></head><body>
<h1>bigfs-bench</h1>
<p>${escapeHtml(`${machine.cpus} × ${machine.cpuModel}, ${formatValue(machine.memoryBytes, "bytes")} RAM, Node.js ${machine.node}, ${machine.platform}`)}<br>
<span class="muted">${escapeHtml(report.command)} — started ${escapeHtml(report.startedAt)}. Each figure is drawn against its ceiling, measured on this machine in the same run: green where this run met the figure's target, red where it missed it, blue where the figure has no target or this run's settings are not those its target is stated for.</span></p>
${sections.join("\n")}
</body></html>
`;
}
