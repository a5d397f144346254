/**
 * `npm run fuzz`: the fuzzer of the test suite, run longer. Each run draws a new seed unless
 * one is given, prints it first, and exits non-zero naming it when a daemon fails.
 *
 * Usage: `npm run fuzz -- [--target namenode|datanode|all] [--inputs N] [--duration 10m]
 * [--seed S]`. Defaults: every target, 2,000,000 inputs each, no time limit.
 */
import { parseArgs } from "node:util";
import { parseDuration } from "#protocol";
import { type FuzzTargetName, runClusterFuzz } from "./cluster_fuzz.js";
import { fuzzSeed } from "./fuzz_seed.js";

const usage =
  "Usage: npm run fuzz -- [--target namenode|datanode|all] [--inputs N] [--duration 10m] [--seed S]";

function fail(message: string): never {
  process.stderr.write(`fuzz: ${message}\n${usage}\n`);
  process.exit(2);
}

function parseCommandLine(argv: string[]) {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        target: { type: "string", default: "all" },
        inputs: { type: "string", default: "2000000" },
        duration: { type: "string" },
        seed: { type: "string" },
        help: { type: "boolean" },
      },
    });
  } catch (error) {
    fail((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const target = String(values.target);
  const targets: FuzzTargetName[] =
    target === "all"
      ? ["namenode", "datanode"]
      : target === "namenode" || target === "datanode"
        ? [target]
        : fail(`--target must be namenode, datanode or all, not ${JSON.stringify(target)}`);
  const inputs = Number(values.inputs);
  if (!Number.isSafeInteger(inputs) || inputs < 1) {
    fail(`--inputs must be a positive integer, not ${JSON.stringify(values.inputs)}`);
  }
  let durationMs: number | undefined;
  if (values.duration !== undefined) {
    try {
      durationMs = parseDuration(String(values.duration));
    } catch (error) {
      fail(`--duration: ${(error as Error).message}`);
    }
  }
  let seed: number;
  try {
    seed = fuzzSeed(values.seed === undefined ? undefined : String(values.seed));
  } catch (error) {
    fail(`--seed: ${(error as Error).message}`);
  }
  return { targets, inputs, durationMs, seed };
}

async function main(): Promise<void> {
  const { targets, inputs, durationMs, seed } = parseCommandLine(process.argv.slice(2));
  process.stdout.write(`fuzz seed ${seed} (replay with --seed ${seed})\n`);
  for (const target of targets) {
    const startedMs = Date.now();
    process.stdout.write(`fuzzing the ${target}: ${inputs} inputs\n`);
    try {
      const counts = await runClusterFuzz({
        target,
        seed,
        inputs,
        ...(durationMs === undefined ? {} : { durationMs }),
        checkEvery: 20_000,
        onProgress: (progress) => {
          const seconds = (Date.now() - startedMs) / 1000;
          process.stdout.write(
            `  ${target}: ${progress.inputs} inputs in ${seconds.toFixed(0)} s, ${progress.validChecks} valid client checks passed\n`,
          );
        },
      });
      const seconds = (Date.now() - startedMs) / 1000;
      process.stdout.write(
        `${target}: survived ${counts.inputs} inputs in ${seconds.toFixed(1)} s\n${JSON.stringify(counts)}\n`,
      );
    } catch (error) {
      process.stderr.write(`fuzz: the ${target} failed with seed ${seed}: ${String(error)}\n`);
      process.exitCode = 1;
      return;
    }
  }
}

await main();
