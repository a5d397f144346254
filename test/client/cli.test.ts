/**
 * The `bigfs` CLI contract: every command's exit code and `--json` output, errors on stderr
 * as one `bigfs: ...` line, pipes in and out. Runs the real CLI as a process against a real
 * `bigfs-cluster` (one per file) on free loopback ports, from the cluster's folder so the CLI
 * finds it through `bigfs-cluster.json` with no flags.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sha256 } from "../helpers/bytes.js";
import { distDir } from "../helpers/daemon.js";
import { freeBasePort } from "../helpers/ports.js";
import { waitFor } from "../helpers/wait.js";

const running = new Set<ChildProcess>();
// SIGTERM, not SIGKILL: a cluster left running by a failed test stops its own daemons.
process.on("exit", () => {
  for (const child of running) child.kill("SIGTERM");
});

interface Run {
  code: number | string;
  stdout: Buffer;
  stderr: string;
}

interface RunOptions {
  cwd?: string;
  input?: Buffer;
  env?: Record<string, string>;
}

let clusterDir = "";
let cluster: ChildProcess | undefined;
let clusterOutput = "";
let clusterExited: Promise<number | string> | undefined;

/** Runs `bigfs ...args` to the end (in the cluster's folder unless told otherwise). */
function bigfs(args: readonly string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(distDir, "client/main.js"), ...args], {
      cwd: options.cwd ?? clusterDir,
      env: { ...process.env, BIGFS_NAMENODE: "", BIGFS_SECRET_FILE: "", ...options.env },
    });
    running.add(child);
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (piece: Buffer) => out.push(piece));
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    child.stdin.on("error", () => {});
    child.stdin.end(options.input);
    child.on("close", (code, signal) => {
      running.delete(child);
      resolve({ code: code ?? signal ?? "unknown", stdout: Buffer.concat(out), stderr });
    });
  });
}

/** Runs `bigfs` and parses its stdout as JSON, failing on a non-zero exit. */
async function bigfsJson<T>(args: readonly string[]): Promise<T> {
  const result = await bigfs(args);
  assert.is(result.code, 0, `bigfs ${args.join(" ")}: ${result.stderr}`);
  return JSON.parse(result.stdout.toString("utf8")) as T;
}

/** Starts `bigfs-cluster` in `clusterDir`; resolves true once it runs, false if it exited. */
async function tryStartCluster(base: number): Promise<boolean> {
  clusterOutput = "";
  const child = spawn(
    process.execPath,
    [join(distDir, "client/cluster_main.js"), "--base-port", String(base)],
    { cwd: clusterDir, stdio: ["ignore", "pipe", "pipe"] },
  );
  cluster = child;
  running.add(child);
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    clusterOutput += text;
  });
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    clusterOutput += text;
  });
  let exited = false;
  clusterExited = new Promise((resolve) => {
    child.on("close", (code, signal) => {
      running.delete(child);
      exited = true;
      resolve(code ?? signal ?? "unknown");
    });
  });
  const state = await waitFor(
    () => (exited ? "exited" : clusterOutput.includes("Ctrl-C to stop") && "running"),
    40_000,
    { what: "bigfs-cluster to start", intervalMs: 50 },
  );
  return state === "running";
}

test.before(async () => {
  clusterDir = await mkdtemp(join(tmpdir(), "bigfs-cli-test-"));
  // A port taken by someone else between the check and the start means another try.
  for (let attempt = 1; !(await tryStartCluster(await freeBasePort())); attempt++) {
    if (attempt === 3 || !clusterOutput.includes("already in use")) {
      throw new Error(`bigfs-cluster did not start: ${clusterOutput}`);
    }
  }
  await waitFor(
    async () => {
      const report = await bigfsJson<{ datanodes: { state: string }[] }>(["report", "--json"]);
      return report.datanodes.filter((node) => node.state === "live").length === 3;
    },
    20_000,
    { what: "3 live DataNodes" },
  );
});

test.after(async () => {
  try {
    if (cluster !== undefined) {
      cluster.kill("SIGTERM");
      assert.is(await clusterExited, 0, clusterOutput);
    }
  } finally {
    await rm(clusterDir, { recursive: true, force: true });
  }
});

const commandNames = [
  ...["ls", "list", "put", "upload", "get", "download", "rm", "delete", "mkdir"],
  ...["mv", "rename", "stat", "cat", "du", "report", "fsck", "setrep", "balance", "decommission"],
];

test("--help works for bigfs and for every command and alias", async () => {
  const overall = await bigfs(["--help"]);
  assert.is(overall.code, 0);
  for (const name of ["ls", "put", "get", "rm", "mkdir", "mv", "stat", "cat", "du", "fsck"]) {
    assert.match(overall.stdout.toString(), `  ${name}`);
  }
  const results = await Promise.all(commandNames.map((name) => bigfs([name, "--help"])));
  results.forEach((result, index) => {
    assert.is(result.code, 0, `${commandNames[index]} --help: ${result.stderr}`);
    assert.match(result.stdout.toString(), /^Usage: bigfs [a-z]+ /);
  });
  assert.match((await bigfs(["put", "--help"])).stdout.toString(), "--chunk-size");
});

test("usage errors exit 2 with one line naming the problem", async () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /^bigfs: Unknown command "frobnicate"/],
    [["ls", "--frobnicate"], /^bigfs: Unknown flag --frobnicate/],
    [["rm", "-x", "/a"], /^bigfs: Unknown flag -x/],
    [["stat"], /^bigfs: Missing argument <path>/],
    [["put", "local-only"], /^bigfs: Missing argument <remote>/],
    [["mv", "/a", "/b", "/c"], /^bigfs: Too many arguments/],
    [["put", "x", "/x", "--replication", "zero"], /--replication: "zero"/],
    [["put", "x", "/x", "--chunk-size", "64MB"], /--chunk-size/],
    [["balance", "--threshold", "200"], /--threshold/],
    [["get", "/x", "-", "--json"], /--json/],
  ];
  const results = await Promise.all(cases.map(([args]) => bigfs(args)));
  results.forEach((result, index) => {
    const [args, pattern] = cases[index]!;
    assert.is(result.code, 2, `bigfs ${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
    assert.not.match(result.stderr, /\n\s+at /, "no stack trace");
  });
});

test("with no settings anywhere, the CLI says how to point it at a cluster (exit 2)", async () => {
  const empty = await mkdtemp(join(tmpdir(), "bigfs-cli-nowhere-"));
  try {
    const result = await bigfs(["ls", "/"], { cwd: empty });
    assert.is(result.code, 2);
    assert.match(result.stderr, "bigfs-cluster.json");
    assert.match(result.stderr, "--namenode");
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test("the settings are found from a subfolder, and flags or env work from anywhere", async () => {
  const deeper = join(clusterDir, "sub", "deeper");
  await mkdir(deeper, { recursive: true });
  assert.is((await bigfs(["ls", "/"], { cwd: deeper })).code, 0);

  const settings = JSON.parse(await readFile(join(clusterDir, "bigfs-cluster.json"), "utf8"));
  const elsewhere = tmpdir();
  const flags = ["--namenode", settings.namenode, "--secret-file", settings.secretFile];
  const byFlags = await bigfs(["ls", ...flags, "/"], { cwd: elsewhere });
  assert.is(byFlags.code, 0, byFlags.stderr);
  const env = { BIGFS_NAMENODE: settings.namenode, BIGFS_SECRET_FILE: settings.secretFile };
  assert.is((await bigfs(["ls", "/"], { cwd: elsewhere, env })).code, 0);
  const bad = await bigfs(["ls", "--namenode", "nowhere", "/"]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, "host:port");
});

test("mkdir -p, ls --json, mv, du --json and rm -r work and exit 0", async () => {
  assert.is((await bigfs(["mkdir", "-p", "/tree/a/b"])).code, 0);
  assert.is((await bigfs(["mkdir", "-p", "/tree/a/b"])).code, 0, "mkdir -p on an existing dir");
  assert.is(
    (await bigfs(["put", "-", "/tree/a/b/f.txt"], { input: Buffer.from("hello") })).code,
    0,
  );
  const entries = await bigfsJson<{ name: string; path: string; type: string; size: number }[]>([
    "ls",
    "--json",
    "/tree/a/b",
  ]);
  assert.equal(
    entries.map(({ name, path, type, size }) => ({ name, path, type, size })),
    [{ name: "f.txt", path: "/tree/a/b/f.txt", type: "file", size: 5 }],
  );
  const human = await bigfs(["ls", "/tree/a"]);
  assert.is(human.code, 0);
  assert.match(human.stdout.toString(), /NAME\n.*b\/\n$/);

  assert.is((await bigfs(["mv", "/tree/a/b/f.txt", "/tree/g.txt"])).code, 0);
  const moved = await bigfsJson<{ name: string }[]>(["ls", "--json", "/tree"]);
  assert.equal(moved.map((entry) => entry.name).sort(), ["a", "g.txt"]);

  const usage = await bigfsJson<{
    path: string;
    bytes: number;
    spaceConsumedBytes: number;
    files: number;
    directories: number;
  }>(["du", "--json", "/tree"]);
  // The cluster's default replication, 3: three replicas of 5 bytes.
  assert.equal(usage, {
    path: "/tree",
    files: 1,
    directories: 3,
    bytes: 5,
    spaceConsumedBytes: 5 * 3,
  });
  const text = await bigfs(["du", "/tree"]);
  assert.is(text.code, 0);
  assert.match(
    text.stdout.toString(),
    `5 B  15 B with all replicas  (5 bytes, 1 file, 3 directories)  /tree`,
  );

  assert.is((await bigfs(["rm", "-r", "/tree"])).code, 0);
  const missing = await bigfs(["ls", "/tree"]);
  assert.is(missing.code, 1);
});

test("put, stat --json, get, cat and fsck --json agree on a file of several chunks", async () => {
  const content = randomBytes(200 * 1024 + 3);
  const local = join(clusterDir, "several.bin");
  await writeFile(local, content);
  const put = await bigfs([
    "put",
    local,
    "/several.bin",
    "--chunk-size",
    "64KiB",
    "--replication",
    "2",
  ]);
  assert.is(put.code, 0, put.stderr);
  assert.is(put.stderr, "", "no progress bar when stderr is not a terminal");

  interface Stat {
    path: string;
    type: string;
    size: number;
    replication: number;
    chunks: { id: string; size: number; replicas: string[] }[];
  }
  const stat = await waitFor(
    async () => {
      const found = await bigfsJson<Stat>(["stat", "--json", "/several.bin"]);
      return found.chunks.every((chunk) => chunk.replicas.length === 2) ? found : undefined;
    },
    10_000,
    { what: "every chunk to have 2 reported replicas" },
  );
  assert.equal(
    [stat.path, stat.type, stat.size, stat.replication],
    ["/several.bin", "file", content.length, 2],
  );
  assert.equal(
    stat.chunks.map((chunk) => chunk.size),
    [65_536, 65_536, 65_536, 8_195],
  );
  for (const chunk of stat.chunks) assert.match(chunk.id, /^\d+$/);
  assert.is((await bigfs(["stat", "/several.bin"])).code, 0);

  const copy = join(clusterDir, "copy.bin");
  const get = await bigfs(["get", "/several.bin", copy]);
  assert.is(get.code, 0, get.stderr);
  assert.is(sha256(await readFile(copy)), sha256(content));
  const again = await bigfs(["get", "/several.bin", copy]);
  assert.is(again.code, 1, "an existing local file is not replaced without --overwrite");
  assert.match(again.stderr, "--overwrite");
  assert.is((await bigfs(["get", "/several.bin", copy, "--overwrite"])).code, 0);
  // A device is written to, not replaced: no --overwrite needed.
  const toDevice = await bigfs(["get", "/several.bin", "/dev/null"]);
  assert.is(toDevice.code, 0, toDevice.stderr);

  const cat = await bigfs(["cat", "/several.bin"]);
  assert.is(cat.code, 0);
  assert.is(sha256(cat.stdout), sha256(content));

  const fsck = await bigfsJson<Record<string, number>>(["fsck", "--json", "/"]);
  for (const field of [
    "files",
    "chunks",
    "healthy",
    "underReplicated",
    "overReplicated",
    "corrupt",
    "missing",
  ]) {
    assert.type(fsck[field], "number", field);
  }
  assert.ok(fsck.files! >= 1 && fsck.chunks! >= 4);
  assert.is(fsck.corrupt, 0);
  assert.is(fsck.missing, 0);
  assert.is((await bigfs(["fsck"])).code, 0);
});

test("put - and get - move bytes through pipes unchanged", async () => {
  const content = randomBytes(150 * 1024 + 1);
  const put = await bigfs(["put", "-", "/piped.bin", "--chunk-size", "64KiB"], { input: content });
  assert.is(put.code, 0, put.stderr);
  const get = await bigfs(["get", "/piped.bin", "-"]);
  assert.is(get.code, 0, get.stderr);
  assert.is(sha256(get.stdout), sha256(content));
  const existing = await bigfs(["put", "-", "/piped.bin"], { input: content });
  assert.is(existing.code, 1);
  assert.match(existing.stderr, "/piped.bin");
  const replaced = await bigfs(["put", "-", "/piped.bin", "--overwrite", "--json"], {
    input: Buffer.from("new"),
  });
  assert.is(replaced.code, 0, replaced.stderr);
  assert.equal(JSON.parse(replaced.stdout.toString()), { path: "/piped.bin", size: 3, chunks: 1 });
});

test("cat into a reader that stops early ends quietly with exit code 0", async () => {
  const content = randomBytes(1024 * 1024);
  assert.is((await bigfs(["put", "-", "/big.bin"], { input: content })).code, 0);
  const child = spawn(process.execPath, [join(distDir, "client/main.js"), "cat", "/big.bin"], {
    cwd: clusterDir,
  });
  running.add(child);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  const code = await new Promise<number | string>((resolve) => {
    child.stdout.once("data", () => child.stdout.destroy());
    child.on("close", (exitCode, signal) => {
      running.delete(child);
      resolve(exitCode ?? signal ?? "unknown");
    });
  });
  assert.is(code, 0, stderr);
  assert.is(stderr, "");
});

test("failed operations exit 1 with one line naming the path and the reason", async () => {
  assert.is((await bigfs(["mkdir", "-p", "/errs/dir"])).code, 0);
  assert.is((await bigfs(["put", "-", "/errs/f"], { input: Buffer.from("x") })).code, 0);
  const cases: [string[], RegExp[]][] = [
    [
      ["stat", "/errs/missing"],
      [/\/errs\/missing/, /no such file or directory/],
    ],
    [["ls", "/errs/missing"], [/\/errs\/missing/]],
    [["cat", "/errs/missing"], [/\/errs\/missing/]],
    [
      ["mv", "/errs/f", "/errs/dir"],
      [/\/errs\/dir/, /exists/],
    ],
    [
      ["mkdir", "/errs/../x"],
      [/\.\./, /not allowed/],
    ],
    [
      ["rm", "/errs"],
      [/\/errs/, /not empty/],
    ],
    [["put", join(clusterDir, "no-such-local"), "/errs/y"], [/no-such-local/]],
    [
      ["mkdir", "/errs/dir"],
      [/\/errs\/dir/, /exists/],
    ],
  ];
  const results = await Promise.all(cases.map(([args]) => bigfs(args)));
  results.forEach((result, index) => {
    const [args, patterns] = cases[index]!;
    const what = `bigfs ${args.join(" ")}: ${result.stderr}`;
    assert.is(result.code, 1, what);
    assert.match(result.stderr, /^bigfs: [^\n]+\n$/, what);
    for (const pattern of patterns) assert.match(result.stderr, pattern, what);
  });
});

test("report --json lists every DataNode with the documented fields", async () => {
  const report = await bigfsJson<{ datanodes: Record<string, unknown>[] }>(["report", "--json"]);
  assert.is(report.datanodes.length, 3);
  for (const node of report.datanodes) {
    for (const field of [
      "id",
      "address",
      "state",
      "capacityBytes",
      "usedBytes",
      "remainingBytes",
      "chunks",
      "lastHeartbeatMsAgo",
    ]) {
      assert.ok(field in node, field);
    }
    assert.is(node.state, "live");
  }
  const human = await bigfs(["report"]);
  assert.is(human.code, 0);
  assert.match(human.stdout.toString(), "3 live");
});

test("setrep, balance and decommission: the cluster follows, or the NameNode's reason is given", async () => {
  const local = join(clusterDir, "setrep.bin");
  await writeFile(local, Buffer.alloc(5000, 7));
  const put = await bigfs(["put", local, "/setrep.bin", "--replication", "2"]);
  assert.is(put.code, 0, `put failed: ${put.stderr}`);
  const setrep = await bigfs(["setrep", "/setrep.bin", "3"]);
  assert.is(setrep.code, 0, `setrep failed: ${setrep.stderr}`);
  const stat = await bigfsJson<{ replication: number }>(["stat", "/setrep.bin", "--json"]);
  assert.is(stat.replication, 3);
  assert.is((await bigfs(["setrep", "/setrep.bin", "zero"])).code, 2);
  const missing = await bigfs(["setrep", "/no-such-file", "2"]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /^bigfs: [^\n]*no-such-file[^\n]*\n$/);

  const balance = await bigfsJson<{ balanced: boolean; movedCount: number }>(["balance", "--json"]);
  assert.is(typeof balance.balanced, "boolean");
  assert.is(typeof balance.movedCount, "number");

  const unknown = await bigfs(["decommission", "dn-none"]);
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /^bigfs: [^\n]*dn-none[^\n]*\n$/);
  assert.is((await bigfs(["decommission"])).code, 2);

  // Last, as it takes a DataNode out of service: with replication 3 on three DataNodes its
  // chunks have nowhere to go, so it stays draining and report shows what still depends on it.
  const { datanodes } = await bigfsJson<{ datanodes: { id: string }[] }>(["report", "--json"]);
  const draining = datanodes[0]!.id;
  assert.is((await bigfs(["decommission", draining])).code, 0);
  await waitFor(
    async () => {
      const human = (await bigfs(["report"])).stdout.toString();
      return /decommissioning \(\d+ chunks left\)/.test(human);
    },
    // The first full pass over the DataNode's chunks comes within seconds; the margin is for
    // a loaded 2-core machine, where it once took longer than 20 s.
    60_000,
    { what: "report to show the decommission progress" },
  );
});

test.run();
