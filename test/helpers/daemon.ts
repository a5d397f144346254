/**
 * Real daemons for cluster tests: started as child processes from `dist/`, found ready by
 * their JSON log lines, and always stopped (every process started here is tracked and killed
 * when the test file's process exits, even after a failure).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's `dist/` folder. */
export const distDir = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** A daemon process and what it has logged. */
export interface Daemon {
  readonly child: ChildProcess;
  /** Every JSON log line so far, parsed. */
  readonly lines: Record<string, unknown>[];
  /** What it wrote to stderr. */
  readonly stderr: () => string;
  /** Resolves with the exit code (or signal name) once it has exited. */
  readonly exited: Promise<number | string>;
  /** Waits for a log line matching `predicate`, up to `timeoutMs`. */
  waitForLine(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | string>;
  /** SIGKILL: a crash. */
  kill(): Promise<number | string>;
}

/** Options for {@linkcode startDaemon}. */
export interface StartDaemonOptions {
  /**
   * A command that runs `node` for us, such as `["ip", "netns", "exec", "ns1"]` to start the
   * daemon inside a network namespace; it must exec, not fork, so that signals reach `node`.
   */
  launcher?: readonly string[];
  /** Give the process a stdin pipe (`child.stdin`) instead of none. */
  stdin?: boolean;
  /** The daemon's working directory; default the test's own. */
  cwd?: string;
}

/** Starts `node dist/<script> ...args`. */
export function startDaemon(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: StartDaemonOptions = {},
): Daemon {
  const [command, ...prefix] = [...(options.launcher ?? []), process.execPath];
  const child = spawn(command!, [...prefix, join(distDir, script), ...args], {
    stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    env: { ...process.env, BIGFS_LOG_LEVEL: "info", ...env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  running.add(child);
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let partial = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => {
    partial += text;
    const complete = partial.split("\n");
    partial = complete.pop()!;
    for (const line of complete) {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
    for (const wake of waiters) wake();
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  // Set before the waiters wake, so one waiting for a line sees the exit at once.
  let exitValue: number | string | undefined;
  const exited = new Promise<number | string>((resolveExit) => {
    child.on("exit", (code, signal) => {
      running.delete(child);
      exitValue = code ?? signal ?? "unknown";
      resolveExit(exitValue);
      for (const wake of waiters) wake();
    });
  });

  const daemon: Daemon = {
    child,
    lines,
    stderr: () => stderr,
    exited,
    waitForLine(predicate, timeoutMs = 20_000) {
      return new Promise((resolveLine, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < lines.length; seen++) {
            const line = lines[seen]!;
            if (predicate(line)) {
              done();
              resolveLine(line);
              return;
            }
          }
          if (exitValue !== undefined) {
            done();
            reject(
              new Error(
                `${script} exited (${exitValue}) before the awaited log line; stderr: ${stderr}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `Timed out after ${timeoutMs} ms waiting for a log line of ${script}; stderr: ${stderr}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(timeoutMs = 10_000) {
      if (exitValue !== undefined) return exitValue;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const value = await exited;
      clearTimeout(timer);
      return value;
    },
    async kill() {
      if (exitValue !== undefined) return exitValue;
      child.kill("SIGKILL");
      return exited;
    },
  };
  return daemon;
}

/** A temp folder with a fresh cluster secret in it; `remove()` deletes it all. */
export async function makeWorkspace(): Promise<{
  dir: string;
  secret: Uint8Array;
  secretFile: string;
  remove: () => Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "bigfs-test-"));
  // Hex text: raw bytes could end in "\n", which loadSecret trims, giving daemons a shorter secret.
  const secret = Buffer.from(randomBytes(32).toString("hex"));
  const secretFile = join(dir, "secret");
  await writeFile(secretFile, secret, { mode: 0o600 });
  return { dir, secret, secretFile, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A NameNode process and the port it bound. */
export interface NamenodeProcess extends Daemon {
  port: number;
}

/** Starts `bigfs-namenode` on a port it picks, and waits until it listens. */
export async function startNamenode(
  dataDir: string,
  secretFile: string,
  extraArgs: readonly string[] = [],
): Promise<NamenodeProcess> {
  const daemon = startDaemon("namenode/main.js", [
    "--data-dir",
    dataDir,
    "--secret-file",
    secretFile,
    "--port",
    "0",
    "--http-port",
    "0",
    ...extraArgs,
  ]);
  const ready = await daemon.waitForLine((line) => line.msg === "NameNode listening");
  return Object.assign(daemon, { port: Number(ready.port) });
}
