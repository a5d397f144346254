/**
 * Numbers as the table and the HTML page show them: in the result's unit, rounded for people.
 */
import { formatSize } from "#protocol";

const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

/** `value` in `unit`, such as `412.3 MiB/s`, `21,345 ops/s`, `1.2 MiB`, `845 ms`. */
export function formatValue(value: number, unit: string): string {
  if (unit === "bytes") return value < 0 ? `-${formatSize(-value)}` : formatSize(value);
  if (unit === "MiB/s") return `${oneDecimal.format(value)} ${unit}`;
  if (unit === "ms" && value >= 10_000) return `${oneDecimal.format(value / 1000)} s`;
  if (Math.abs(value) < 100) return `${oneDecimal.format(value)} ${unit}`;
  return `${grouped.format(value)} ${unit}`;
}

/** A ratio such as `0.42`. */
export function formatRatio(ratio: number): string {
  return ratio.toFixed(2);
}
