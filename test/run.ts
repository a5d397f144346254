/**
 * The test runner behind `npm test`.
 *
 * Every `*.test.js` file under `dist/test` runs in its own Node.js process, so a cluster test
 * that crashes or leaks a handle cannot take the rest of the suite with it. uvu prints its own
 * totals per process but no closing line across files, so this runner reads each file's
 * `Total:`/`Passed:`/`Skipped:` lines, adds them up, and ends with `N passed, N failed`.
 * A file that exits non-zero, times out, or prints no totals counts as at least one failure.
 *
 * Usage: `node dist/test/run.js [filter ...]` runs only files whose path contains a filter.
 * `BIGFS_TEST_CONCURRENCY` sets how many files run at once (default 2: CI has two cores).
 */
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const fileTimeoutMs = 8 * 60_000;

interface FileResult {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  output: string;
  durationMs: number;
}

async function findTestFiles(folder: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) found.push(...(await findTestFiles(path)));
    else if (entry.name.endsWith(".test.js")) found.push(path);
  }
  return found.sort();
}

function countOf(output: string, label: string): number | undefined {
  const match = new RegExp(`^\\s*${label}:\\s+(\\d+)`, "m").exec(output);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function runFile(file: string): Promise<FileResult> {
  const startedMs = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--enable-source-maps", file], {
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const pieces: Buffer[] = [];
    child.stdout.on("data", (piece: Buffer) => pieces.push(piece));
    child.stderr.on("data", (piece: Buffer) => pieces.push(piece));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The test file leads its own process group, so its daemons die with it.
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL");
      } catch {}
    }, fileTimeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let output = Buffer.concat(pieces).toString("utf8");
      const total = countOf(output, "Total");
      const passed = countOf(output, "Passed") ?? 0;
      const skipped = countOf(output, "Skipped") ?? 0;
      let failed = total === undefined ? 0 : Math.max(0, total - passed);
      const clean = code === 0 && signal === null && total !== undefined;
      if (!clean && failed === 0) {
        failed = 1;
        const why = timedOut
          ? `timed out after ${fileTimeoutMs} ms`
          : `exited with ${signal ?? `code ${code}`}${total === undefined ? " before uvu printed its totals" : ""}`;
        output += `\n  FAIL ${relative(here, file)}: ${why}\n`;
      }
      resolve({ file, passed, failed, skipped, output, durationMs: Date.now() - startedMs });
    });
  });
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const files = (await findTestFiles(here)).filter(
    (file) => filters.length === 0 || filters.some((filter) => file.includes(filter)),
  );
  const concurrency = Math.max(1, Number(process.env.BIGFS_TEST_CONCURRENCY ?? 2));
  const results: FileResult[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < files.length) {
      const file = files[next++]!;
      const result = await runFile(file);
      results.push(result);
      const name = relative(here, file);
      process.stdout.write(
        `\n=== ${name} — ${result.passed} passed, ${result.failed} failed (${result.durationMs} ms)\n`,
      );
      process.stdout.write(`${result.output.trimEnd()}\n`);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));

  const passed = results.reduce((sum, result) => sum + result.passed, 0);
  let failed = results.reduce((sum, result) => sum + result.failed, 0);
  const skipped = results.reduce((sum, result) => sum + result.skipped, 0);
  if (files.length === 0) {
    process.stdout.write("\nNo test files matched.\n");
    failed += 1;
  }
  const failing = results.filter((result) => result.failed > 0).map((r) => relative(here, r.file));
  if (failing.length > 0) process.stdout.write(`\nFailing files: ${failing.join(", ")}\n`);
  process.stdout.write(
    `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`,
  );
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
