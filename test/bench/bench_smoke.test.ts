/**
 * The benchmark runner end to end, at tiny sizes: `bigfs-bench all --quick --json` starts its
 * own cluster of real processes, runs every scenario, stops and removes everything, and
 * prints one JSON document whose figures are all there and positive. No speed is asserted.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BenchReport, BenchResult } from "#bench";
import { distDir } from "../helpers/daemon.js";

const deadlineMs = 180_000;
const outputBytesMax = 4 * 1024 * 1024;

interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runBench(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [join(distDir, "bench/main.js"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      if (stdout.length < outputBytesMax) stdout += text;
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr = (stderr + text).slice(-outputBytesMax);
    });
    // SIGTERM lets the bench stop its cluster; SIGKILL if even that hangs.
    const term = setTimeout(() => child.kill("SIGTERM"), deadlineMs);
    const kill = setTimeout(() => child.kill("SIGKILL"), deadlineMs + 20_000);
    child.on("close", (code, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}

function assertPositive(where: string, value: unknown): void {
  assert.ok(
    typeof value === "number" && Number.isFinite(value) && value > 0,
    `${where} should be a positive number, is ${String(value)}`,
  );
}

function assertResult(where: string, result: BenchResult | undefined, positive = true): void {
  assert.ok(result !== undefined, `${where} is missing`);
  if (positive) assertPositive(`${where}.value`, result.value);
  else assert.ok(Number.isFinite(result.value), `${where}.value should be a number`);
  if (result.ceiling !== undefined) {
    assertPositive(`${where}.ceiling.value`, result.ceiling.value);
    assertPositive(`${where}.ratio`, result.ratio);
  }
  for (const [index, sample] of (result.samples ?? []).entries()) {
    assertPositive(`${where}.samples[${index}]`, sample);
  }
}

test("bigfs-bench all --quick --json completes and reports every scenario with positive numbers", async () => {
  const run = await runBench(["all", "--quick", "--json"]);
  assert.is(run.code, 0, `exit ${run.code ?? run.signal}; stderr:\n${run.stderr}`);
  const report = JSON.parse(run.stdout) as BenchReport;

  assertPositive("machine.cpus", report.machine.cpus);
  assertPositive("machine.memoryBytes", report.machine.memoryBytes);
  assert.ok(report.machine.cpuModel.length > 0);
  assert.ok(report.machine.node.length > 0);

  const expected: Record<string, string[]> = {
    limits: ["diskCopy", "loopback", "walAppends", "smallFileWrites"],
    write: ["throughput", "datanodeRss"],
    read: ["throughput"],
    memory: ["clientPut", "clientGet", "datanodePut", "putRate", "getRate"],
    small: ["put", "get"],
    meta: [
      ...["ping", "mkdir", "createComplete", "stat", "list", "rename", "delete"],
      ...["rssBefore", "rssAfter", "bytesPerFile", "replayRestart", "imageRestart"],
    ],
    recovery: ["detect", "reReplicate", "total", "rate"],
  };
  for (const [scenario, keys] of Object.entries(expected)) {
    const scenarioReport = report.scenarios[scenario as keyof BenchReport["scenarios"]];
    assert.ok(scenarioReport !== undefined, `scenario ${scenario} is missing`);
    for (const key of keys) {
      // Resident memory can shrink while files are added (a GC at the right moment), so the
      // growth per file is only checked to be a number; the memory figures themselves are > 0.
      assertResult(`${scenario}.${key}`, scenarioReport.results[key], key !== "bytesPerFile");
    }
    for (const [key, result] of Object.entries(scenarioReport.results)) {
      assertResult(`${scenario}.${key}`, result, key !== "bytesPerFile");
      // Only a figure with a target is judged against one.
      if (result.target === undefined) assert.is(result.targetMet, undefined);
    }
  }
  // (a′) is measured where the file system takes O_DIRECT, and then write and recovery are
  // shown against it as well; where it does not, a note says so.
  const limits = report.scenarios.limits!;
  if (limits.results.diskCopyDirect !== undefined) {
    assertResult("write.throughputDirect", report.scenarios.write?.results.throughputDirect, true);
    assertResult("recovery.rateDirect", report.scenarios.recovery?.results.rateDirect, true);
  } else {
    assert.match(limits.notes?.join("; ") ?? "", /O_DIRECT/);
  }
  // Each throughput figure and its ceiling say how many untimed runs came first; the samples
  // are the counted runs only.
  for (const scenario of ["limits", "write", "read"] as const) {
    const scenarioReport = report.scenarios[scenario]!;
    assert.is(scenarioReport.settings.warmup, 1, `${scenario}.settings.warmup`);
  }
  assert.is(report.scenarios.small!.settings.warmupFiles, 10, "small: a quarter of 40 files");
  assert.is(report.scenarios.write!.results.throughput!.samples?.length, 1);
  assert.is(report.scenarios.read!.results.throughput!.samples?.length, 1);
  // A target is judged only where the run's settings are the ones it is stated for: not the
  // quick run's 256 KiB write (stated for 1 GiB), always a DataNode's memory and recovery.
  assert.is(report.scenarios.write!.results.throughput!.targetMet, undefined);
  assert.type(report.scenarios.write!.results.datanodeRss!.targetMet, "boolean");
  assert.type(report.scenarios.recovery!.results.rate!.targetMet, "boolean");
  // The NameNode has a replication monitor, so a dead DataNode's chunks must come back.
  assert.is(
    report.scenarios.recovery?.recovered,
    true,
    `recovery did not complete: ${report.scenarios.recovery?.notes?.join("; ")}`,
  );
});

test.run();
