#!/usr/bin/env -S node --initial-old-space-size=64
/**
 * `bigfs-bench <scenario> [flags]`: runs benchmarks and prints a table on stdout (progress on
 * stderr), or one JSON document with `--json`, and with `--report FILE` a self-contained HTML
 * page. Whatever it starts is stopped and removed at the end, on an error and on Ctrl-C.
 *
 * Exit codes: 0 after a run (a scenario that could not finish says so in its notes),
 * 1 when the run failed, 2 for a bad command line, 130 when interrupted.
 *
 * The first line gives Node.js the flag the `bigfs` CLI's has (see `client/main.ts`): the
 * bench process is the client of the write, read and small scenarios.
 */
import { writeFile } from "node:fs/promises";
import { ConfigError, formatUsage } from "#protocol";
import { benchFlags, parseBenchArgs, usageText } from "./options.js";
import { Progress } from "./progress.js";
import { formatHtml } from "./report_html.js";
import { formatTable } from "./report_table.js";
import { Cleanup, runBench } from "./runner.js";

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.length === 0) {
  process.stdout.write(`${usageText}\n\nFlags:\n${formatUsage(benchFlags)}\n`);
  process.exit(argv.length === 0 ? 2 : 0);
}

let settings: ReturnType<typeof parseBenchArgs>;
try {
  settings = parseBenchArgs(argv);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`bigfs-bench: ${error.message}\nRun bigfs-bench --help for the flags.\n`);
  process.exit(2);
}

const progress = new Progress({ quiet: settings.quiet });
const cleanup = new Cleanup();
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress.note(`${signal}: stopping the cluster and removing what the bench made`);
    cleanup.run().finally(() => process.exit(130));
  });
}

try {
  const report = await runBench(settings, progress, cleanup, `bigfs-bench ${argv.join(" ")}`);
  await cleanup.run();
  progress.clear();
  if (settings.report !== undefined) await writeFile(settings.report, formatHtml(report));
  process.stdout.write(
    settings.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report),
  );
  if (settings.report !== undefined && !settings.json) {
    process.stderr.write(`bigfs-bench: wrote ${settings.report}\n`);
  }
  process.exit(0);
} catch (error) {
  if (interrupted) await new Promise(() => {});
  progress.note(`failed: ${(error as Error).message}`);
  await cleanup.run();
  process.exit(1);
}
