/**
 * The NameNode status page, in the spirit of the HDFS NameNode UI: a summary, the DataNodes
 * with their state and a capacity bar each, chunk health, replication work and recent events.
 *
 * One self-contained HTML document: inline CSS, one inline script and no other asset, so it
 * works on a machine with no internet access. The script re-fetches the page every few
 * seconds and swaps the `#status` element (a `<noscript>` refresh does the same without
 * script). Every piece of text is escaped: DataNode ids, addresses and racks come from the
 * network. Elements carry ids and `data-` attributes so that tests can find them.
 */
import { createHash } from "node:crypto";
import { formatSize } from "#protocol";
import type { NamenodeStatus } from "./http_status.js";

/** How often the page refreshes itself. */
export const refreshMs = 3_000;

const script = `(() => {
  const refresh = async () => {
    try {
      const response = await fetch(location.pathname, { cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const next = page.getElementById("status");
      const current = document.getElementById("status");
      if (next && current) current.replaceWith(document.adoptNode(next));
      document.body.dataset.stale = "false";
    } catch {
      document.body.dataset.stale = "true";
    }
    setTimeout(refresh, ${refreshMs});
  };
  setTimeout(refresh, ${refreshMs});
})();`;

const scriptHash = createHash("sha256").update(script).digest("base64");

/** Headers for the page: it may run its own script and fetch itself, nothing else. */
export const statusPageHeaders: Readonly<Record<string, string>> = {
  "content-security-policy": [
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    `script-src 'sha256-${scriptHash}'`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
};

const style = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2530;background:#f4f6f8}
header{background:#22313f;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header h1{font-size:18px;margin:0}
main{padding:10px 20px}
section{background:#fff;border:1px solid #d7dde3;border-radius:4px;margin:10px 0;padding:10px 15px}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e9ed;white-space:nowrap}
td.num,th.num{text-align:right}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}
dt{color:#56606b}dd{margin:0}
.bar{display:inline-block;width:140px;height:10px;background:#e6e9ed;border-radius:2px;vertical-align:middle;margin-right:6px}
.bar>span{display:block;height:100%;background:#3b82c4;border-radius:2px}
.bar.high>span{background:#d9822b}
.state-live{color:#23823a}.state-dead{color:#c0392b;font-weight:bold}
.state-decommissioning,.state-decommissioned{color:#b7791f}
.badge{padding:1px 8px;border-radius:8px;background:#23823a;color:#fff}
.badge.safe-mode{background:#c0392b}
.problem{color:#c0392b;font-weight:bold}
body[data-stale="true"] #updated::after{content:" (NameNode unreachable)";color:#ffb3a7}
ol{margin:0;padding-left:20px}
`;

/** Escapes text for HTML content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** Renders the whole page. */
export function renderStatusPage(status: NamenodeStatus): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>BigFS NameNode</title>
<noscript><meta http-equiv="refresh" content="${refreshMs / 1000}"></noscript>
<style>${style}</style>
</head>
<body data-stale="false">
<div id="status" data-generated-at-ms="${status.generatedAtMs}">
${header(status)}
<main>
${summary(status)}
${datanodes(status)}
${chunkHealth(status)}
${replication(status)}
${events(status)}
</main>
</div>
<script>${script}</script>
</body>
</html>
`;
}

function header(status: NamenodeStatus): string {
  const mode = status.safeMode
    ? `<span id="safe-mode" class="badge safe-mode" data-safe-mode="true">Safe mode</span>`
    : `<span id="safe-mode" class="badge" data-safe-mode="false">In service</span>`;
  const failed =
    status.editLogFailure === undefined
      ? ""
      : `<span id="edit-log-failed" class="badge safe-mode" title="${escapeHtml(status.editLogFailure)}">Edit log failed: read-only until restarted</span>`;
  return `<header><h1>BigFS NameNode</h1>${mode}${failed}<span id="updated">Updated ${clock(status.generatedAtMs)} UTC</span></header>`;
}

function summary({ summary: figures }: NamenodeStatus): string {
  const { live, dead, decommissioning, decommissioned } = figures.datanodes;
  const rows: [string, string, string][] = [
    ["files", "Files", count(figures.files)],
    ["files-under-construction", "Files being written", count(figures.filesUnderConstruction)],
    ["directories", "Directories", count(figures.directories)],
    ["chunks", "Chunks", count(figures.chunks)],
    ["capacity", "Capacity (alive DataNodes)", size(figures.capacityBytes)],
    ["used", "Used", usage(figures.usedBytes, figures.capacityBytes)],
    ["remaining", "Remaining", size(figures.remainingBytes)],
    [
      "datanode-counts",
      "DataNodes",
      `${live} live, ${dead} dead, ${decommissioning} decommissioning, ${decommissioned} decommissioned`,
    ],
  ];
  const items = rows
    .map(([key, label, value]) => `<dt>${label}</dt><dd data-summary="${key}">${value}</dd>`)
    .join("");
  return `<section id="summary"><h2>Summary</h2><dl>${items}</dl></section>`;
}

function datanodes(status: NamenodeStatus): string {
  const rows = status.datanodes.map((datanode) => {
    const state = escapeHtml(datanode.state);
    return `<tr data-datanode-id="${escapeHtml(datanode.id)}" data-state="${state}">
<td class="datanode-id">${escapeHtml(datanode.id)}</td>
<td>${escapeHtml(datanode.address)}</td>
<td>${escapeHtml(datanode.rack ?? "")}</td>
<td class="datanode-state state-${state}">${state}</td>
<td>${usage(datanode.usedBytes, datanode.capacityBytes)}</td>
<td class="num" data-remaining-bytes="${datanode.remainingBytes}">${size(datanode.remainingBytes)}</td>
<td class="num">${count(datanode.chunks)}</td>
<td class="num">${count(datanode.activeTransfers)}</td>
<td class="num">${(datanode.lastHeartbeatMsAgo / 1000).toFixed(1)} s ago</td>
</tr>`;
  });
  const empty = `<tr><td colspan="9">No DataNode has registered yet.</td></tr>`;
  return `<section id="datanodes"><h2>DataNodes</h2><table>
<thead><tr><th>Id</th><th>Address</th><th>Rack</th><th>State</th><th>Used of capacity</th><th class="num">Room left</th><th class="num">Replicas</th><th class="num">Transfers</th><th class="num">Last heartbeat</th></tr></thead>
<tbody>${rows.length > 0 ? rows.join("") : empty}</tbody></table></section>`;
}

function chunkHealth({ chunkHealth: health }: NamenodeStatus): string {
  const rows: [string, string, number][] = [
    ["healthy", "Healthy", health.healthy],
    ["under-replicated", "Under-replicated", health.underReplicated],
    ["over-replicated", "Over-replicated", health.overReplicated],
    ["corrupt", "Corrupt", health.corrupt],
    ["missing", "Missing", health.missing],
  ];
  const items = rows
    .map(([key, label, value]) => {
      const problem = key !== "healthy" && value > 0 ? ` class="problem"` : "";
      return `<dt>${label}</dt><dd data-chunk-status="${key}"${problem}>${count(value)}</dd>`;
    })
    .join("");
  return `<section id="chunk-health"><h2>Chunk health (committed chunks: ${count(health.chunks)})</h2><dl>${items}</dl></section>`;
}

function replication({ replication: work }: NamenodeStatus): string {
  const figures: [string, string, number][] = [
    ["waiting-0", "Waiting, at most one replica left", work.waiting[0]],
    ["waiting-1", "Waiting, others", work.waiting[1]],
    ["attention", "Waiting to be examined", work.attention],
    ["copies", "Copies under way", work.pendingReplications],
    ["deletes", "Deletes under way", work.pendingDeletes],
    ["scheduled", "Copies scheduled since start", work.scheduled],
    ["completed", "Copies completed since start", work.completed],
    ["timed-out", "Copies timed out since start", work.timedOut],
  ];
  const items = figures
    .map(
      ([key, label, value]) =>
        `<dt>${label}</dt><dd data-replication="${key}">${count(value)}</dd>`,
    )
    .join("");
  const copies = work.copies.map(
    (copy) =>
      `<tr data-chunk-id="${copy.chunkId}"><td>${copy.chunkId}</td><td>${escapeHtml(copy.source)}</td><td>${escapeHtml(copy.target)}</td><td class="num">${size(copy.sizeBytes)}</td></tr>`,
  );
  const table =
    copies.length === 0
      ? ""
      : `<table><thead><tr><th>Chunk</th><th>From</th><th>To</th><th class="num">Size</th></tr></thead><tbody>${copies.join("")}</tbody></table>`;
  return `<section id="replication"><h2>Replication work</h2><dl>${items}</dl>${table}</section>`;
}

function events({ events: recent }: NamenodeStatus): string {
  const items = recent.map(
    (event) =>
      `<li data-event-kind="${escapeHtml(event.kind)}"><time datetime="${new Date(event.timeMs).toISOString()}">${clock(event.timeMs)}</time> ${escapeHtml(event.message)}</li>`,
  );
  const list = items.length > 0 ? `<ol>${items.join("")}</ol>` : "<p>None since start-up.</p>";
  return `<section id="events"><h2>Recent events</h2>${list}</section>`;
}

function usage(usedBytes: number, capacityBytes: number): string {
  const percent = capacityBytes > 0 ? Math.min(100, (100 * usedBytes) / capacityBytes) : 0;
  const high = percent >= 90 ? " high" : "";
  return `<span class="bar${high}" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${percent.toFixed(1)}"><span style="width:${percent.toFixed(1)}%"></span></span>${size(usedBytes)} of ${size(capacityBytes)} (${percent.toFixed(1)}%)`;
}

function size(bytes: number): string {
  return formatSize(Math.max(0, bytes));
}

function count(value: number): string {
  return value.toLocaleString("en-US");
}

function clock(timeMs: number): string {
  return new Date(timeMs).toISOString().slice(11, 19);
}
