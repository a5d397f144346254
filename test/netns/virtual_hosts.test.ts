/**
 * The virtual hosts of `helpers/netns.ts` (network namespaces on a private bridge; root only):
 * hosts reach each other and nothing else, the faults cut what they claim to cut, and every
 * namespace and process goes away: on destroy, on SIGTERM, and, left by a run that died, at
 * the next build.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { distDir } from "../helpers/daemon.js";
import { ipCommand, VirtualHosts } from "../helpers/netns.js";
import { waitFor } from "../helpers/wait.js";

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A process started with `argv`, its output, and its end. */
function run(argv: readonly string[]) {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    output += text;
  });
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    output += text;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? "unknown");
    });
  });
  return { child, output: () => output, exited };
}

/** Resolves once `pid` runs inside the namespace `name` (`ip netns exec` enters it first). */
async function inside(name: string, pid: number | undefined): Promise<void> {
  await waitFor(
    () => {
      const pids = execFileSync(ipCommand(), ["netns", "pids", name], { encoding: "utf8" });
      return pids.split(/\s+/).includes(String(pid));
    },
    10_000,
    { what: `process ${pid} inside ${name}` },
  );
}

/** True when `pid` has ended (a zombie waiting for its parent to reap it counts as ended). */
function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Node running `code` on `host`. */
function node(hosts: VirtualHosts, host: string, code: string) {
  return run([...hosts.launcher(host), process.execPath, "-e", code]);
}

/** On `host`, listens on its address, port 7000, and closes every connection at once. */
async function listenOn(hosts: VirtualHosts, host: string) {
  const server = node(
    hosts,
    host,
    `require("net").createServer((s) => s.end()).listen(7000, "${hosts.address(host)}", () => console.log("listening"))`,
  );
  await waitFor(() => server.output().includes("listening"), 10_000, { what: "the server" });
  return server;
}

/** From `from`, "connected" or why not, trying `to`'s port 7000 for at most a second. */
async function connect(hosts: VirtualHosts, from: string, to: string): Promise<string> {
  const probe = node(
    hosts,
    from,
    `const s = require("net").connect(7000, "${hosts.address(to)}");
     const done = (what) => { console.log(what); process.exit(0); };
     s.on("connect", () => done("connected"));
     s.on("error", (e) => done(e.code));
     setTimeout(() => done("timed out"), 1000);`,
  );
  await probe.exited;
  return probe.output().trim();
}

/** The namespaces named for `pid` that exist now. */
function namespacesOf(pid = process.pid): string[] {
  const listing = execFileSync(ipCommand(), ["netns", "list"], { encoding: "utf8" });
  return listing
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(`bigfs${pid}-`));
}

test("hosts reach each other over the bridge; the machine's own network gets none of it", async () => {
  const hosts = await VirtualHosts.create(["a", "b"]);
  try {
    const server = await listenOn(hosts, "a");
    assert.is(await connect(hosts, "b", "a"), "connected");
    const root = [
      execFileSync(ipCommand(), ["-o", "addr", "show"], { encoding: "utf8" }),
      execFileSync(ipCommand(), ["route", "show", "table", "all"], { encoding: "utf8" }),
    ].join("\n");
    assert.not.ok(root.includes(`${hosts.subnet}.`), root);
    server.child.kill("SIGKILL");
  } finally {
    hosts.destroy();
  }
});

test("a blocked route stops traffic between two hosts only; a link down cuts a host off", async () => {
  const hosts = await VirtualHosts.create(["a", "b", "c"]);
  try {
    const servers = [await listenOn(hosts, "a"), await listenOn(hosts, "c")];
    await hosts.setBlocked("b", "a", true);
    assert.is.not(await connect(hosts, "b", "a"), "connected");
    assert.is(await connect(hosts, "b", "c"), "connected", "b still reaches c");
    assert.is(await connect(hosts, "c", "a"), "connected", "c still reaches a");
    await hosts.setBlocked("b", "a", false);
    assert.is(await connect(hosts, "b", "a"), "connected");

    await hosts.setLink("a", "down");
    assert.is.not(await connect(hosts, "b", "a"), "connected");
    assert.is.not(await connect(hosts, "c", "a"), "connected");
    assert.is(await connect(hosts, "b", "c"), "connected", "the others still talk");
    await hosts.setLink("a", "up");
    assert.is(await connect(hosts, "b", "a"), "connected");
    for (const server of servers) server.child.kill("SIGKILL");
  } finally {
    hosts.destroy();
  }
});

test("destroy kills what runs inside the hosts and deletes every namespace", async () => {
  const hosts = await VirtualHosts.create(["a", "b"]);
  const sleeper = node(hosts, "a", "setInterval(() => {}, 1000)");
  await inside(`bigfs${process.pid}-a`, sleeper.child.pid);
  hosts.destroy();
  assert.is(await sleeper.exited, "SIGKILL");
  assert.equal(namespacesOf(), []);
  hosts.destroy();
});

test("leftovers of a run that died, and of an earlier run with this pid, are removed by the next build", async () => {
  const ip = ipCommand();
  // A pid that is gone: a process that has exited.
  const finished = run([process.execPath, "-e", ""]);
  await finished.exited;
  const deadPid = finished.child.pid!;
  const leftovers = [`bigfs${deadPid}-lan`, `bigfs${deadPid}-a`, `bigfs${process.pid}-lan`];
  for (const name of leftovers) execFileSync(ip, ["netns", "add", name]);
  const orphan = run([
    ip,
    "netns",
    "exec",
    `bigfs${deadPid}-a`,
    process.execPath,
    "-e",
    "setInterval(() => {}, 1000)",
  ]);
  try {
    await inside(`bigfs${deadPid}-a`, orphan.child.pid);
    const hosts = await VirtualHosts.create(["a"]);
    try {
      assert.is(await orphan.exited, "SIGKILL", "the process left inside was killed");
      assert.equal(namespacesOf(deadPid), []);
      assert.equal(namespacesOf().sort(), [`bigfs${process.pid}-a`, `bigfs${process.pid}-lan`]);
    } finally {
      hosts.destroy();
    }
  } finally {
    orphan.child.kill("SIGKILL");
    for (const name of leftovers) {
      try {
        execFileSync(ip, ["netns", "delete", name], { stdio: "ignore" });
      } catch {}
    }
  }
});

test("SIGTERM to the process that built the hosts removes them and what runs in them", async () => {
  const helper = join(distDir, "test/helpers/netns.js");
  const builder = run([
    process.execPath,
    "--input-type=module",
    "-e",
    `import { spawn } from "node:child_process";
     import { VirtualHosts } from ${JSON.stringify(helper)};
     const hosts = await VirtualHosts.create(["a", "b"]);
     const [command, ...launcher] = hosts.launcher("a");
     const inside = spawn(command, [...launcher, process.execPath, "-e", "setInterval(() => {}, 1000)"]);
     console.log("built " + inside.pid);
     setInterval(() => {}, 1000);`,
  ]);
  const built = await waitFor(() => /built (\d+)/.exec(builder.output()), 10_000, {
    what: "the hosts",
  });
  const insidePid = Number(built[1]);
  await inside(`bigfs${builder.child.pid}-a`, insidePid);
  assert.is(namespacesOf(builder.child.pid).length, 3, builder.output());
  builder.child.kill("SIGTERM");
  assert.is(await builder.exited, 128 + 15);
  assert.equal(namespacesOf(builder.child.pid), []);
  await waitFor(() => isGone(insidePid), 10_000, { what: `process ${insidePid} to end` });
});

test.run();
