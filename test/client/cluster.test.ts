/**
 * `bigfs-cluster` as a person runs it: a real process in a temp folder, its daemons real
 * processes on 127.0.0.1, driven with the real `bigfs` CLI and stopped with SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LocalCluster, nodeFlagsOf } from "../../client/local_cluster.js";
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

/** Runs `node dist/<script> ...args` in `cwd` to the end. */
function runNode(script: string, args: readonly string[], cwd: string, input?: Buffer) {
  return new Promise<Run>((resolve) => {
    const child = spawn(process.execPath, [join(distDir, script), ...args], {
      cwd,
      env: { ...process.env, BIGFS_NAMENODE: "", BIGFS_SECRET_FILE: "" },
    });
    running.add(child);
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (piece: Buffer) => out.push(piece));
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    child.stdin.end(input);
    child.on("close", (code, signal) => {
      running.delete(child);
      resolve({ code: code ?? signal ?? "unknown", stdout: Buffer.concat(out), stderr });
    });
  });
}

const bigfs = (cwd: string, ...args: string[]) => runNode("client/main.js", args, cwd);

interface Cluster {
  base: number;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exitCode: () => number | string | undefined;
  exited: Promise<number | string>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | string>;
}

function spawnCluster(cwd: string, base: number, args: readonly string[]): Cluster {
  const script = join(distDir, "client/cluster_main.js");
  const child = spawn(process.execPath, [script, "--base-port", String(base), ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    stdout += text;
  });
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  let exitCode: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.on("close", (code, signal) => {
      running.delete(child);
      exitCode = code ?? signal ?? "unknown";
      resolve(exitCode);
    });
  });
  return {
    base,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exitCode: () => exitCode,
    exited,
    async stop() {
      if (exitCode === undefined) child.kill("SIGTERM");
      return exited;
    },
  };
}

/**
 * Starts `bigfs-cluster` in `cwd` on a free block of ports; resolves once it says it is
 * running. A port taken by someone else between the check and the start means another try.
 */
async function startCluster(cwd: string, args: readonly string[] = []): Promise<Cluster> {
  for (let attempt = 1; ; attempt++) {
    const cluster = spawnCluster(cwd, await freeBasePort(), args);
    const state = await waitFor(
      () =>
        cluster.exitCode() !== undefined
          ? "exited"
          : cluster.stdout().includes("Ctrl-C to stop") && "running",
      40_000,
      { what: "bigfs-cluster to start", intervalMs: 50 },
    ).catch(async (error: Error) => {
      await cluster.stop();
      throw new Error(`${error.message}; stderr: ${cluster.stderr()}`);
    });
    if (state === "running") return cluster;
    if (attempt < 3 && cluster.stderr().includes("already in use")) continue;
    throw new Error(`bigfs-cluster exited ${cluster.exitCode()}: ${cluster.stderr()}`);
  }
}

async function withFolder(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "bigfs-cluster-test-"));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function liveDataNodes(cwd: string): Promise<number> {
  const result = await bigfs(cwd, "report", "--json");
  if (result.code !== 0) throw new Error(result.stderr);
  const report = JSON.parse(result.stdout.toString()) as { datanodes: { state: string }[] };
  return report.datanodes.filter((node) => node.state === "live").length;
}

test("the cluster starts, writes bigfs-cluster.json and a 0600 secret, and stops cleanly", async () => {
  await withFolder(async (dir) => {
    const cluster = await startCluster(dir);
    const { base } = cluster;
    try {
      const settings = JSON.parse(await readFile(join(dir, "bigfs-cluster.json"), "utf8"));
      assert.equal(settings, {
        namenode: `127.0.0.1:${base}`,
        secretFile: join(dir, ".bigfs", "secret"),
      });
      const secretInfo = await stat(settings.secretFile);
      assert.is(secretInfo.mode & 0o777, 0o600);
      assert.is(secretInfo.size, 32);
      assert.match(cluster.stdout(), `127.0.0.1:${base}`);
      assert.match(cluster.stdout(), `127.0.0.1:${base + 13}`);
      await waitFor(async () => (await liveDataNodes(dir)) === 3, 20_000, {
        what: "3 live DataNodes in bigfs report",
      });
      const logs = await readFile(join(dir, ".bigfs", "logs", "namenode.log"), "utf8");
      assert.match(logs, "NameNode listening");
      // Each DataNode runs with the Node.js flags its bin's first line gives.
      const flags = nodeFlagsOf(join(distDir, "datanode", "main.js"));
      assert.equal(flags, ["--initial-old-space-size=64"]);
      const datanodes = await commandLinesWith(join(distDir, "datanode", "main.js"), dir);
      assert.is(datanodes.length, 3);
      for (const argv of datanodes) assert.equal(argv.slice(1, 1 + flags.length), flags);
    } finally {
      assert.is(await cluster.stop(), 0);
    }
    assert.match(cluster.stdout(), "Stopped.");
  });
});

test("nodeFlagsOf reads a bin's Node.js flags from its first line, and none without them", async () => {
  await withFolder(async (dir) => {
    const plain = join(dir, "plain.js");
    const flagged = join(dir, "flagged.js");
    await writeFile(plain, "#!/usr/bin/env node\nconsole.log(1);\n");
    await writeFile(flagged, "#!/usr/bin/env -S node --a=1  --b\nconsole.log(1);\n");
    assert.equal(nodeFlagsOf(plain), []);
    assert.equal(nodeFlagsOf(flagged), ["--a=1", "--b"]);
  });
});

/** The command lines (argv) of this machine's processes that run `script` with `folder`. */
async function commandLinesWith(script: string, folder: string): Promise<string[][]> {
  const found: string[][] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = await readFile(`/proc/${pid}/cmdline`, "utf8").then(
      (text) => text.split("\0").filter((arg) => arg !== ""),
      (): string[] => [],
    );
    if (argv.includes(script) && argv.some((arg) => arg.startsWith(folder))) found.push(argv);
  }
  return found;
}

test("a file put before a restart of the whole cluster is still there and reads back exact", async () => {
  await withFolder(async (dir) => {
    const args = ["--datanodes", "2", "--data-dir", "cluster-data"];
    const content = randomBytes(300 * 1024 + 17);
    const first = await startCluster(dir, args);
    let secret: Buffer;
    try {
      await writeFile(join(dir, "local.bin"), content);
      const put = await bigfs(dir, "put", "local.bin", "/kept.bin", "--chunk-size", "64KiB");
      assert.is(put.code, 0, put.stderr);
      secret = await readFile(join(dir, "cluster-data", "secret"));
    } finally {
      assert.is(await first.stop(), 0);
    }
    const second = await startCluster(dir, args);
    try {
      assert.equal(await readFile(join(dir, "cluster-data", "secret")), secret);
      const cat = await bigfs(dir, "cat", "/kept.bin");
      assert.is(cat.code, 0, cat.stderr);
      const digest = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
      assert.is(digest(cat.stdout), digest(content));
    } finally {
      assert.is(await second.stop(), 0);
    }
  });
});

test("a port already in use gives a clear error naming the port and exit code 1", async () => {
  await withFolder(async (dir) => {
    const base = await freeBasePort();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(base + 12, "127.0.0.1", resolve));
    try {
      const result = await runNode("client/cluster_main.js", ["--base-port", String(base)], dir);
      assert.is(result.code, 1);
      assert.match(result.stderr, `port ${base + 12}`);
      assert.match(result.stderr, "already in use");
      assert.match(result.stderr, "DataNode 2");
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});

test("a daemon's own start-up error is surfaced, and nothing is left running", async () => {
  await withFolder(async (dir) => {
    // A stand-in NameNode that fails the way a real one does when it loses a port race.
    await mkdir(join(dir, "dist", "namenode"), { recursive: true });
    await writeFile(
      join(dir, "dist", "namenode", "main.js"),
      `process.stderr.write("bigfs-namenode: Cannot listen on 127.0.0.1:1: the port is already in use\\n");
process.exit(1);
`,
    );
    const base = await freeBasePort();
    const error = await LocalCluster.start({
      dataDir: join(dir, "data"),
      basePort: base,
      settingsFile: join(dir, "bigfs-cluster.json"),
      distDir: join(dir, "dist"),
    }).then(
      () => undefined,
      (failure: Error) => failure,
    );
    assert.ok(error, "start-up fails");
    assert.match(error.message, "namenode exited during start-up");
    assert.match(error.message, "Cannot listen on 127.0.0.1:1: the port is already in use");
    assert.not.ok(existsSync(join(dir, "bigfs-cluster.json")), "no settings for a dead cluster");
  });
});

test("a daemon that dies stops the others, says so loudly, and exits 1", async () => {
  await withFolder(async (dir) => {
    const cluster = await startCluster(dir, ["--datanodes", "1"]);
    try {
      const log = await readFile(join(dir, ".bigfs", "logs", "datanode-1.log"), "utf8");
      const pid = Number((JSON.parse(log.split("\n")[0]!) as { pid: number }).pid);
      process.kill(pid, "SIGKILL");
      assert.is(await cluster.exited, 1);
      assert.match(cluster.stderr(), "datanode-1 EXITED UNEXPECTEDLY");
      assert.match(cluster.stderr(), "SIGKILL");
    } finally {
      await cluster.stop();
    }
  });
});

test("a bad flag exits 2 naming it", async () => {
  const result = await runNode("client/cluster_main.js", ["--datanodes", "0"], tmpdir());
  assert.is(result.code, 2);
  assert.match(result.stderr, "--datanodes");
});

test.run();
