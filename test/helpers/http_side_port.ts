/**
 * Reading a daemon's HTTP side port in tests: fetch a path, and parse the Prometheus text of
 * `/metrics` into samples that can be looked up by name and labels.
 */

/** One sample line of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a `/metrics` page, with the `# TYPE` of each metric family. */
export interface Metrics {
  samples: Sample[];
  types: Map<string, string>;
  /** The value of the one sample with this name and (at least) these labels; throws otherwise. */
  value(name: string, labels?: Record<string, string>): number;
  /** Every sample with this name. */
  all(name: string): Sample[];
}

const samplePattern = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text format (the subset prom-client writes). */
export function parseMetrics(text: string): Metrics {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const match = samplePattern.exec(line);
    if (match === null) throw new Error(`Cannot parse metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? "").matchAll(labelPattern)) {
      labels[key!] = raw!.replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  const all = (name: string) => samples.filter((sample) => sample.name === name);
  return {
    samples,
    types,
    all,
    value(name, wanted = {}) {
      const found = all(name).filter((sample) =>
        Object.entries(wanted).every(([key, value]) => sample.labels[key] === value),
      );
      if (found.length !== 1) {
        throw new Error(`Expected one ${name} ${JSON.stringify(wanted)}, found ${found.length}`);
      }
      return found[0]!.value;
    },
  };
}

/** GETs `path` from a side port; returns the status, headers and body text. */
export async function fetchText(
  address: { host: string; port: number },
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  const response = await fetch(`http://${host}:${address.port}${path}`, init);
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** Fetches and parses `/metrics`. */
export async function fetchMetrics(address: { host: string; port: number }): Promise<Metrics> {
  const { status, body } = await fetchText(address, "/metrics");
  if (status !== 200) throw new Error(`GET /metrics answered ${status}`);
  return parseMetrics(body);
}
