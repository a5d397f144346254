/**
 * The `bigfs` commands on the namespace: ls, mkdir, mv, rm, stat, du.
 */
import type { ResponseOf } from "#protocol";
import type { CommandSpec } from "./cli_command.js";
import { formatTable, hex64, humanSize, humanTime, joinRemote, toJson } from "./cli_output.js";

type FileEntry = ResponseOf<"LIST">["entries"][number];

const jsonFlag = { json: { type: "boolean" } } as const;

/** An entry as `--json` prints it: the fields of the wire entry plus its full path. */
function entryJson(entry: FileEntry, path: string) {
  return {
    name: entry.name,
    path,
    type: entry.type,
    size: entry.size,
    replication: entry.replication,
    chunkSizeBytes: entry.chunkSizeBytes,
    mtimeMs: entry.mtimeMs,
  };
}

const ls: CommandSpec = {
  name: "ls",
  aliases: ["list"],
  usage: "[path] [--json]",
  summary: "List a directory (or show one file): type, replication, size, mtime, name.",
  details:
    "Flags:\n  --json   print a JSON array of entries { name, path, type, size, replication, chunkSizeBytes, mtimeMs }",
  flags: jsonFlag,
  args: { names: ["path"], min: 0, max: 1 },
  async run({ client, args, flags, stdout }) {
    const path = args[0] ?? "/";
    const entries = await client.list(path);
    const stat = await client.stat(path);
    const isFile = stat.entry.type === "file";
    const pathOf = (entry: FileEntry) => (isFile ? path : joinRemote(path, entry.name));
    if (flags.json === true) {
      stdout.write(toJson(entries.map((entry) => entryJson(entry, pathOf(entry)))));
      return 0;
    }
    if (entries.length === 0) return 0;
    const rows = entries.map((entry) => {
      const file = entry.type === "file";
      return [
        file ? "file" : "dir",
        file ? String(entry.replication) : "-",
        file ? humanSize(entry.size) : "-",
        humanTime(entry.mtimeMs),
        isFile ? path : entry.name + (file ? "" : "/"),
      ];
    });
    stdout.write(
      formatTable([["TYPE", "REPL", "SIZE", "MODIFIED", "NAME"], ...rows], {
        rightAligned: [1, 2],
      }),
    );
    return 0;
  },
};

const mkdir: CommandSpec = {
  name: "mkdir",
  usage: "[-p] <path>...",
  summary: "Make directories.",
  details:
    "Flags:\n  -p, --parents   make missing parents too, and succeed when the directory exists",
  flags: { parents: { type: "boolean", shortFlag: "p" } },
  args: { names: ["path"], min: 1, max: 100 },
  async run({ client, args, flags }) {
    for (const path of args) await client.mkdir(path, { parents: flags.parents === true });
    return 0;
  },
};

const mv: CommandSpec = {
  name: "mv",
  aliases: ["rename"],
  usage: "<src> <dst>",
  summary: "Rename a file or directory, atomically. The destination must not exist.",
  args: { names: ["src", "dst"], min: 2, max: 2 },
  async run({ client, args }) {
    await client.rename(args[0]!, args[1]!);
    return 0;
  },
};

const rm: CommandSpec = {
  name: "rm",
  aliases: ["delete"],
  usage: "[-r] <path>...",
  summary: "Delete files, or with -r whole directories; the space is reclaimed.",
  details: "Flags:\n  -r, --recursive   delete a directory and everything under it",
  flags: { recursive: { type: "boolean", shortFlag: "r" } },
  args: { names: ["path"], min: 1, max: 100 },
  async run({ client, args, flags }) {
    for (const path of args) await client.delete(path, { recursive: flags.recursive === true });
    return 0;
  },
};

const stat: CommandSpec = {
  name: "stat",
  usage: "<path> [--json]",
  summary: "Show a file's size, replication, chunks and each chunk's replicas.",
  details:
    "Flags:\n  --json   print { path, type, size, replication, chunkSizeBytes, mtimeMs, chunks: [{ id, generation, size, xxh64, replicas }] }\n           (chunk ids as decimal strings)",
  flags: jsonFlag,
  args: { names: ["path"], min: 1, max: 1 },
  async run({ client, args, flags, stdout }) {
    const path = args[0]!;
    const { entry, chunks } = await client.stat(path);
    const chunksJson = chunks.map((chunk) => ({
      id: chunk.id.toString(),
      generation: chunk.generation.toString(),
      size: chunk.size,
      xxh64: hex64(chunk.xxh64),
      replicas: chunk.replicas,
    }));
    if (flags.json === true) {
      stdout.write(toJson({ ...entryJson(entry, path), chunks: chunksJson }));
      return 0;
    }
    const file = entry.type === "file";
    const fields = [
      ["path", path],
      ["type", entry.type],
      ...(file
        ? [
            ["size", `${humanSize(entry.size)} (${entry.size} bytes)`],
            ["replication", String(entry.replication)],
            ["chunk size", humanSize(entry.chunkSizeBytes)],
          ]
        : []),
      ["modified", humanTime(entry.mtimeMs)],
      ...(file ? [["chunks", String(chunks.length)]] : []),
    ];
    let text = formatTable(fields);
    if (chunksJson.length > 0) {
      const rows = chunksJson.map((chunk, index) => [
        String(index),
        chunk.id,
        humanSize(chunk.size),
        chunk.xxh64,
        chunk.replicas.length === 0 ? "(no live replica)" : chunk.replicas.join(", "),
      ]);
      text += `\n${formatTable([["#", "CHUNK ID", "SIZE", "XXH64", "REPLICAS"], ...rows], { rightAligned: [0, 2] })}`;
    }
    stdout.write(text);
    return 0;
  },
};

const du: CommandSpec = {
  name: "du",
  usage: "[path] [--json]",
  summary:
    "Show the space a file or tree uses: bytes (one replica), with all replicas, files, directories.",
  details:
    "Flags:\n  --json   print { path, bytes, spaceConsumedBytes, files, directories }\n" +
    "spaceConsumedBytes counts each file's bytes times its replication, as HDFS's du does.",
  flags: jsonFlag,
  args: { names: ["path"], min: 0, max: 1 },
  async run({ client, args, flags, stdout }) {
    const path = args[0] ?? "/";
    const summary = await client.contentSummary(path);
    if (flags.json === true) {
      stdout.write(toJson({ path, ...summary }));
      return 0;
    }
    const files = `${summary.files} file${summary.files === 1 ? "" : "s"}`;
    const directories = `${summary.directories} director${summary.directories === 1 ? "y" : "ies"}`;
    const consumed = `${humanSize(summary.spaceConsumedBytes)} with all replicas`;
    stdout.write(
      `${humanSize(summary.bytes)}  ${consumed}  (${summary.bytes} bytes, ${files}, ${directories})  ${path}\n`,
    );
    return 0;
  },
};

/** The namespace commands. */
export const namespaceCommands: readonly CommandSpec[] = [ls, mkdir, mv, rm, stat, du];
