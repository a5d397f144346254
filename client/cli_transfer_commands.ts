/**
 * The `bigfs` commands that move bytes: put (upload), get (download) and cat. Local paths
 * are the user's; a failure names the local path or the remote one, whichever it was about.
 */
import { stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { isBigFsError } from "#protocol";
import { type CommandSpec, integerFlag, sizeFlag, UsageError } from "./cli_command.js";
import { joinRemote, remoteBaseName, toJson } from "./cli_output.js";
import { ProgressBar } from "./cli_progress.js";
import type { BigFsClient } from "./mod.js";

/** Says why a local file cannot be used, as one short phrase. */
function localReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such local file or folder";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a local folder";
  if (code === "ENOSPC") return "the local disk is full";
  return (error as Error).message;
}

async function localStat(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

async function isRemoteDirectory(client: BigFsClient, path: string): Promise<boolean> {
  try {
    return (await client.stat(path)).entry.type === "directory";
  } catch (error) {
    if (isBigFsError(error, "NOT_FOUND")) return false;
    throw error;
  }
}

const put: CommandSpec = {
  name: "put",
  aliases: ["upload"],
  usage: "<local> <remote> [--replication N] [--chunk-size S] [--overwrite] [--json]",
  summary:
    "Upload a local file (or - for stdin); it becomes visible only once complete.\n" +
    "When <remote> is a directory, the file keeps its local name inside it.",
  details: `Flags:
  --replication N    replicas per chunk (default: the NameNode's)
  --chunk-size S     bytes per chunk, such as 64MiB (default: the NameNode's)
  --overwrite        replace an existing file
  --json             print { path, size, chunks } when done

A progress bar (bytes, rate, ETA) is drawn on stderr when it is a terminal.

Examples:
  bigfs put data.csv /in/data.csv
  tar c logs | bigfs put - /backup/logs.tar --replication 2`,
  flags: {
    replication: { type: "string" },
    chunkSize: { type: "string" },
    overwrite: { type: "boolean" },
    json: { type: "boolean" },
  },
  args: { names: ["local", "remote"], min: 2, max: 2 },
  validate(_args, flags) {
    integerFlag("put", "replication", flags.replication, { min: 1, max: 64 });
    sizeFlag("put", "chunk-size", flags.chunkSize);
  },
  async run({ client, args, flags, stdin, stdout, stderr, signal }) {
    const [source, target] = args as [string, string];
    const fromStdin = source === "-";
    let totalBytes: number | undefined;
    if (!fromStdin) {
      const info = await stat(source).catch((error: unknown) => {
        throw new Error(`Cannot upload ${source}: ${localReason(error)}`);
      });
      if (!info.isFile()) throw new Error(`Cannot upload ${source}: it is not a regular file`);
      totalBytes = info.size;
    }
    let remote = target;
    if (!fromStdin && (target.endsWith("/") || (await isRemoteDirectory(client, target)))) {
      remote = joinRemote(target, basename(source));
    }
    const replication = integerFlag("put", "replication", flags.replication, { min: 1, max: 64 });
    const chunkSizeBytes = sizeFlag("put", "chunk-size", flags.chunkSize);
    const bar = new ProgressBar(stderr, `put ${remote}`, totalBytes);
    try {
      const result = await client.put(fromStdin ? (stdin as Readable) : source, remote, {
        ...(replication === undefined ? {} : { replication }),
        ...(chunkSizeBytes === undefined ? {} : { chunkSizeBytes }),
        overwrite: flags.overwrite === true,
        onProgress: (doneBytes) => bar.update(doneBytes),
        signal,
      });
      bar.finish(true);
      if (flags.json === true) stdout.write(toJson({ path: remote, ...result }));
    } catch (error) {
      bar.finish(false);
      throw error;
    }
    return 0;
  },
};

const get: CommandSpec = {
  name: "get",
  aliases: ["download"],
  usage: "<remote> [local] [--overwrite] [--json]",
  summary:
    "Download a file (or - for stdout), verifying every chunk's checksum.\n" +
    "Without [local], or when it is a folder, the file keeps its name.",
  details: `Flags:
  -f, --overwrite   replace an existing local file
  --json            print { path, local, size } when done (not with -)

A progress bar is drawn on stderr when it is a terminal.`,
  flags: { overwrite: { type: "boolean", shortFlag: "f" }, json: { type: "boolean" } },
  args: { names: ["remote", "local"], min: 1, max: 2 },
  validate(args, flags) {
    if (args[1] === "-" && flags.json === true) {
      throw new UsageError(
        "Cannot use --json with - for bigfs get: stdout carries the file",
        "get",
      );
    }
  },
  async run({ client, args, flags, stdout, stderr, signal }) {
    const [remote, target = "."] = args as [string, string | undefined];
    if (target === "-") {
      await client.get(remote, stdout as Writable, { signal });
      return 0;
    }
    let local = target;
    const existing = await localStat(local);
    if (existing?.isDirectory()) local = join(local, remoteBaseName(remote));
    const replaced = existing?.isDirectory() ? await localStat(local) : existing;
    if (replaced?.isDirectory()) {
      throw new Error(`Cannot download ${remote} to ${local}: it is a local folder`);
    }
    // A device or FIFO (`/dev/null`) is written in place, not replaced: it needs no --overwrite.
    if (replaced?.isFile() && flags.overwrite !== true) {
      throw new Error(
        `Cannot download ${remote} to ${local}: the local file exists (give --overwrite to replace it)`,
      );
    }
    const bar = new ProgressBar(stderr, `get ${remote}`);
    try {
      // The client writes a temp file beside `local` and renames it once all is verified.
      const result = await client.get(remote, local, {
        onProgress: (doneBytes, totalBytes) => bar.update(doneBytes, totalBytes),
        signal,
      });
      bar.finish(true);
      if (flags.json === true) stdout.write(toJson({ path: remote, local, size: result.size }));
    } catch (error) {
      bar.finish(false);
      throw error;
    }
    return 0;
  },
};

const cat: CommandSpec = {
  name: "cat",
  usage: "<path>",
  summary: "Write a file to stdout, verifying every chunk's checksum.",
  args: { names: ["path"], min: 1, max: 1 },
  async run({ client, args, stdout, signal }) {
    await client.get(args[0]!, stdout as Writable, { signal });
    return 0;
  },
};

/** The commands that move bytes. */
export const transferCommands: readonly CommandSpec[] = [put, get, cat];
