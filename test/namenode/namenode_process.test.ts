/**
 * The NameNode as an operator runs it: a real `bigfs-namenode` process, stopped with signals
 * and killed with SIGKILL.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Connection, dial, isBigFsError } from "#protocol";
import { makeWorkspace, startDaemon, startNamenode } from "../helpers/daemon.js";
import { waitFor } from "../helpers/wait.js";

/** A small seeded generator (mulberry32), so a failing run can be repeated. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

async function connect(port: number, secret: Uint8Array): Promise<Connection> {
  return dial({ host: "127.0.0.1", port }, { secret, role: "client" });
}

async function listNames(connection: Connection, path: string): Promise<Set<string>> {
  const { entries } = await connection.request("LIST", { path });
  return new Set(entries.map((entry) => entry.name));
}

test("a NameNode stops cleanly on SIGTERM and keeps what it acknowledged", async () => {
  const workspace = await makeWorkspace();
  const dataDir = `${workspace.dir}/nn`;
  try {
    const first = await startNamenode(dataDir, workspace.secretFile);
    const connection = await connect(first.port, workspace.secret);
    await connection.request("MKDIR", { path: "/kept/inner", parents: true });
    connection.close();
    assert.is(await first.stop(), 0);
    assert.ok(first.lines.some((line) => line.msg === "NameNode stopped"));

    const second = await startNamenode(dataDir, workspace.secretFile);
    const again = await connect(second.port, workspace.secret);
    assert.equal([...(await listNames(again, "/kept"))], ["inner"]);
    again.close();
    await second.stop();
  } finally {
    await workspace.remove();
  }
});

test("a second NameNode on the same data folder refuses to start", async () => {
  const workspace = await makeWorkspace();
  const dataDir = `${workspace.dir}/nn`;
  try {
    const first = await startNamenode(dataDir, workspace.secretFile);
    const second = startDaemon("namenode/main.js", [
      "--data-dir",
      dataDir,
      "--secret-file",
      workspace.secretFile,
      "--port",
      "0",
    ]);
    assert.is(await second.exited, 1);
    assert.match(second.stderr(), /in use by process \d+/);
    await first.stop();
  } finally {
    await workspace.remove();
  }
});

test("a bad flag stops start-up with exit code 2, naming the flag and value", async () => {
  const daemon = startDaemon("namenode/main.js", ["--data-dir", "/tmp/x", "--port", "70000"]);
  assert.is(await daemon.exited, 2);
  assert.match(daemon.stderr(), /--port/);
  assert.match(daemon.stderr(), /70000/);
});

test("every acknowledged change survives kill -9 at random moments", async () => {
  const seed = Number(process.env.BIGFS_CRASH_SEED ?? 20261127);
  const random = seededRandom(seed);
  const workspace = await makeWorkspace();
  const dataDir = `${workspace.dir}/nn`;
  // What the NameNode acknowledged; the one change in flight at a kill may go either way.
  const present = new Set<string>();
  const absent = new Set<string>();
  const uncertain = new Set<string>();
  const workers = 6;
  try {
    for (let round = 0; round < 4; round++) {
      // Checkpoint often, so kills also land during checkpoints.
      const namenode = await startNamenode(dataDir, workspace.secretFile, [
        "--checkpoint-records",
        "50",
      ]);
      let acknowledged = 0;
      const killAfter = 20 + Math.floor(random() * 200);
      let killed = false;
      const work = Array.from({ length: workers }, async (_, worker) => {
        const connection = await connect(namenode.port, workspace.secret);
        const base = `/round${round}/worker${worker}`;
        for (let index = 0; !killed; index++) {
          const renaming = index % 4 === 3;
          const source = `${base}/d${index - 1}`;
          const target = renaming ? `${base}/r${index - 1}` : `${base}/d${index}`;
          try {
            if (renaming) {
              await connection.request("RENAME", { source, destination: target });
              present.delete(source);
              absent.add(source);
            } else {
              await connection.request("MKDIR", { path: target, parents: true });
            }
            present.add(target);
            acknowledged++;
          } catch (error) {
            if (!isBigFsError(error, "UNAVAILABLE")) throw error;
            uncertain.add(target);
            if (renaming) uncertain.add(source);
            break;
          }
        }
        connection.close();
      });
      await waitFor(() => acknowledged >= killAfter, 30_000, {
        what: `${killAfter} acknowledged changes`,
      });
      killed = true;
      await namenode.kill();
      await Promise.all(work);

      const restarted = await startNamenode(dataDir, workspace.secretFile);
      const check = await connect(restarted.port, workspace.secret);
      for (const path of present) {
        if (uncertain.has(path)) continue;
        const slash = path.lastIndexOf("/");
        const names = await listNames(check, path.slice(0, slash));
        assert.ok(
          names.has(path.slice(slash + 1)),
          `acknowledged ${path} is missing after kill -9 (seed ${seed})`,
        );
      }
      for (const path of absent) {
        if (uncertain.has(path) || present.has(path)) continue;
        const slash = path.lastIndexOf("/");
        const names = await listNames(check, path.slice(0, slash));
        assert.not.ok(
          names.has(path.slice(slash + 1)),
          `renamed-away ${path} came back (seed ${seed})`,
        );
      }
      // The namespace is consistent: the whole tree lists and fsck walks it.
      const fsck = await check.request("FSCK", { path: "/" });
      assert.is(fsck.missing, 0);
      check.close();
      await restarted.stop();
    }
    assert.ok(present.size > 50, `only ${present.size} changes were acknowledged`);
  } finally {
    await workspace.remove();
  }
});

test.run();
