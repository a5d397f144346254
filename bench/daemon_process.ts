/**
 * One BigFS daemon run as a child process by the benchmark: started from `dist/`, found
 * ready by its JSON log lines, measured through `/proc/<pid>/status`, stopped with SIGTERM
 * or killed with SIGKILL.
 *
 * Its log goes straight to a file, not through a pipe to the bench: the bench process is the
 * client of the write, read and small scenarios, and reading every daemon's lines (three or
 * four per small file put) would be charged to the client it measures. The file is read
 * only while someone waits for a line, a poll every few milliseconds from where the last
 * read stopped.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, fstatSync, openSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeFlagsOf } from "#client";

/** The `dist/` folder this file was built into. */
export const distDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const stderrTailBytesMax = 4096;
const running = new Set<ChildProcess>();
// A crash of the bench itself must not leave daemons behind.
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

type LogLine = Record<string, unknown>;

/** Options for {@linkcode DaemonProcess.start}. */
export interface DaemonProcessOptions {
  /** Names the daemon in messages: `namenode`, `datanode-1`. */
  name: string;
  /** The file its log lines (stdout) are appended to. */
  logPath: string;
}

/** How often the log file is read while someone waits for a line. */
const logPollMs = 10;

/**
 * When set, every daemon started from now on runs under `node --cpu-prof` and writes its
 * profile into this folder when it exits cleanly (SIGTERM), for `bigfs-bench --cpu-prof-dir`.
 */
let cpuProfileDir: string | undefined;

/** Makes later daemons write CPU profiles into `folder` (see {@linkcode cpuProfileDir}). */
export function profileDaemonsInto(folder: string | undefined): void {
  cpuProfileDir = folder;
}

/** A running daemon process. */
export class DaemonProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code, or the signal's name, once the process has exited. */
  readonly exited: Promise<number | string>;
  #exit: number | string | undefined;
  #stderrTail = "";
  readonly #watchers = new Set<(line: LogLine | undefined) => void>();
  readonly #logPath: string;
  /** How far the log file has been read, and the start of a line not yet complete. */
  #logOffset = 0;
  #partial = "";
  #polling: NodeJS.Timeout | undefined;
  /** The read of the log file in progress, or the last one (never rejects). */
  #reading: Promise<void> = Promise.resolve();

  private constructor(script: string, args: readonly string[], options: DaemonProcessOptions) {
    this.name = options.name;
    const profile =
      cpuProfileDir === undefined
        ? []
        : [
            "--cpu-prof",
            "--cpu-prof-dir",
            cpuProfileDir,
            "--cpu-prof-name",
            `${options.name.replace(/\W+/g, "-")}.${Date.now()}.cpuprofile`,
          ];
    const path = join(distDir, script);
    // The Node.js flags the bin's first line asks for, as running the bin itself would apply.
    this.#logPath = options.logPath;
    const log = openSync(options.logPath, "a");
    // A daemon restarted on the same file: only what this one writes counts.
    this.#logOffset = fstatSync(log).size;
    try {
      this.child = spawn(process.execPath, [...nodeFlagsOf(path), ...profile, path, ...args], {
        stdio: ["ignore", log, "pipe"],
        env: { ...process.env, BIGFS_LOG_LEVEL: "info" },
      });
    } finally {
      closeSync(log); // the child has its own
    }
    running.add(this.child);
    this.child.stderr!.setEncoding("utf8").on("data", (text: string) => {
      this.#stderrTail = (this.#stderrTail + text).slice(-stderrTailBytesMax);
    });
    this.exited = new Promise((resolveExit) => {
      this.child.on("exit", (code, signal) => {
        running.delete(this.child);
        this.#exit = code ?? signal ?? "unknown";
        resolveExit(this.#exit);
        // Lines written just before the exit are read first.
        void this.#readLog().finally(() => {
          for (const watch of this.#watchers) watch(undefined);
        });
      });
    });
  }

  /**
   * Reads what the log file gained since the last read, and hands complete lines out. Reads
   * run one after another: the exit's last read and a poll's must not both read one range.
   */
  #readLog(): Promise<void> {
    this.#reading = this.#reading.then(() => this.#readLogOnce()).catch(() => {});
    return this.#reading;
  }

  async #readLogOnce(): Promise<void> {
    const handle = await open(this.#logPath, "r").catch(() => undefined);
    if (handle === undefined) return;
    try {
      const { size } = await handle.stat();
      if (size <= this.#logOffset) return;
      const bytes = Buffer.alloc(size - this.#logOffset);
      const { bytesRead } = await handle.read(bytes, 0, bytes.byteLength, this.#logOffset);
      this.#logOffset += bytesRead;
      const complete = (this.#partial + bytes.toString("utf8", 0, bytesRead)).split("\n");
      this.#partial = complete.pop() ?? "";
      for (const text of complete) {
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { msg: text };
        }
        for (const watch of this.#watchers) watch(line);
      }
    } finally {
      await handle.close();
    }
  }

  /** Polls the log file while anyone waits for a line. */
  #poll(): void {
    if (this.#polling !== undefined || this.#watchers.size === 0) return;
    this.#polling = setTimeout(() => {
      void this.#readLog().finally(() => {
        this.#polling = undefined;
        this.#poll();
      });
    }, logPollMs);
  }

  /** Starts `node dist/<script> ...args`. */
  static start(
    script: string,
    args: readonly string[],
    options: DaemonProcessOptions,
  ): DaemonProcess {
    return new DaemonProcess(script, args, options);
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  /** The last few KiB of stderr. */
  get stderrTail(): string {
    return this.#stderrTail;
  }

  /** Waits for the first log line, from now on, whose `msg` is `message`. */
  waitForLog(message: string, timeoutMs: number): Promise<LogLine> {
    return new Promise((resolveLine, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#watchers.delete(watch);
      };
      const watch = (line: LogLine | undefined) => {
        if (line === undefined) {
          done();
          const stderr = this.#stderrTail.trim();
          reject(
            new Error(
              `Cannot start ${this.name}: it exited (${this.#exit}) before logging "${message}"${stderr ? `: ${stderr}` : ""}`,
            ),
          );
        } else if (line.msg === message) {
          done();
          resolveLine(line);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Cannot start ${this.name}: no "${message}" log line in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#watchers.add(watch);
      if (this.#exit !== undefined) watch(undefined);
      else this.#poll();
    });
  }

  /** Resident memory in bytes, from `VmRSS` in `/proc/<pid>/status` (Linux only). */
  async residentBytes(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (match === null) throw new Error(`Cannot read the memory of ${this.name}: no VmRSS line`);
    return Number(match[1]) * 1024;
  }

  /** SIGTERM, then SIGKILL when it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<number | string> {
    if (this.#exit !== undefined) return this.#exit;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const value = await this.exited;
    clearTimeout(timer);
    return value;
  }

  /** SIGKILL: a crash. */
  async kill(): Promise<number | string> {
    if (this.#exit !== undefined) return this.#exit;
    this.child.kill("SIGKILL");
    return this.exited;
  }
}
