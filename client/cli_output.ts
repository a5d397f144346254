/**
 * How `bigfs` prints: one JSON document for `--json` (bigint ids as decimal strings, so no
 * reader rounds them), and plain aligned columns for people, with human sizes and times.
 */
import { formatSize } from "#protocol";

/** `value` as one JSON document and a newline; bigints become decimal strings. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, item) => (typeof item === "bigint" ? item.toString() : item), 2)}\n`;
}

/** Options for {@linkcode formatTable}. */
export interface TableOptions {
  /** Column indexes aligned to the right (numbers, sizes). */
  rightAligned?: readonly number[];
}

/**
 * Rows as aligned columns, two spaces apart, the first row a header. The last column is not
 * padded, so names with spaces read as they are.
 */
export function formatTable(rows: readonly (readonly string[])[], options: TableOptions = {}) {
  const right = new Set(options.rightAligned ?? []);
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, cell.length);
    });
  }
  const lines = rows.map((row) =>
    row
      .map((cell, index) => {
        if (index === row.length - 1 && !right.has(index)) return cell;
        const width = widths[index] ?? 0;
        return right.has(index) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join("  ")
      .trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}

/** A size for people: `512 B`, `1.5 MiB`. */
export function humanSize(bytes: number): string {
  return formatSize(bytes);
}

const pad2 = (value: number) => String(value).padStart(2, "0");

/** A time for people, in the local zone: `2024-05-01 14:03`. */
export function humanTime(timeMs: number): string {
  const date = new Date(timeMs);
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

/** A duration ago for people: `400 ms`, `3 s`, `5 min`, `2 h`. */
export function humanAgo(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

/** A chunk checksum as 16 hex digits. */
export function hex64(value: bigint): string {
  return value.toString(16).padStart(16, "0");
}

/** `dir` and `name` joined as a BigFS path. */
export function joinRemote(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** The last name of a BigFS path (`/` for the root). */
export function remoteBaseName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed.slice(trimmed.lastIndexOf("/") + 1);
}
