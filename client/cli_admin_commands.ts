/**
 * The `bigfs` commands for operators: report, fsck, setrep, balance, decommission.
 */
import { type CommandSpec, UsageError } from "./cli_command.js";
import { formatTable, humanAgo, humanSize, toJson } from "./cli_output.js";

const jsonFlag = { json: { type: "boolean" } } as const;

const report: CommandSpec = {
  name: "report",
  usage: "[--json]",
  summary: "Show every DataNode: id, address, state, capacity, use, room left, chunks, heartbeat.",
  details:
    "REMAINING is the room left for chunks: capacity less use, or the disk's free space when\n" +
    "that is less (a shared or full disk). A DataNode without room for a chunk gets none.\n\n" +
    "Flags:\n  --json   print { datanodes: [{ id, address, rack?, state, capacityBytes, usedBytes, remainingBytes, chunks, lastHeartbeatMsAgo, decommissionRemaining? }] }",
  flags: jsonFlag,
  args: { names: [], min: 0, max: 0 },
  async run({ client, flags, stdout }) {
    const { datanodes } = await client.report();
    if (flags.json === true) {
      stdout.write(toJson({ datanodes }));
      return 0;
    }
    const count = (state: string) => datanodes.filter((node) => node.state === state).length;
    const capacity = datanodes.reduce((sum, node) => sum + node.capacityBytes, 0);
    const used = datanodes.reduce((sum, node) => sum + node.usedBytes, 0);
    const percent = (part: number, whole: number) =>
      whole === 0 ? "0.00%" : `${((100 * part) / whole).toFixed(2)}%`;
    let text =
      `${datanodes.length} DataNode${datanodes.length === 1 ? "" : "s"}: ${count("live")} live, ${count("dead")} dead, ` +
      `${count("decommissioning")} decommissioning, ${count("decommissioned")} decommissioned\n` +
      `Capacity ${humanSize(capacity)}, used ${humanSize(used)} (${percent(used, capacity)})\n`;
    if (datanodes.length > 0) {
      const rows = datanodes.map((node) => [
        node.id,
        node.address,
        node.rack ?? "-",
        // A draining DataNode shows how many chunks still depend on it.
        node.decommissionRemaining === undefined
          ? node.state
          : `${node.state} (${node.decommissionRemaining} chunks left)`,
        humanSize(node.capacityBytes),
        humanSize(node.usedBytes),
        percent(node.usedBytes, node.capacityBytes),
        humanSize(node.remainingBytes),
        String(node.chunks),
        `${humanAgo(node.lastHeartbeatMsAgo)} ago`,
      ]);
      const header = [
        "ID",
        "ADDRESS",
        "RACK",
        "STATE",
        "CAPACITY",
        "USED",
        "USE%",
        "REMAINING",
        "CHUNKS",
        "LAST HEARTBEAT",
      ];
      text += `\n${formatTable([header, ...rows], { rightAligned: [4, 5, 6, 7, 8] })}`;
    }
    stdout.write(text);
    return 0;
  },
};

const fsck: CommandSpec = {
  name: "fsck",
  usage: "[path] [--json]",
  summary:
    "Check chunk health: healthy, under-/over-replicated, corrupt, missing, which files.\n" +
    "Exits 1 when a chunk is corrupt or missing (the tree is CORRUPT), like hdfs fsck.",
  details:
    "Flags:\n  --json   print { path, status, files, chunks, healthy, underReplicated, overReplicated,\n           corrupt, missing, problems: [{ path, chunkId, status, liveReplicas }] }",
  flags: jsonFlag,
  args: { names: ["path"], min: 0, max: 1 },
  async run({ client, args, flags, stdout }) {
    const path = args[0] ?? "/";
    const result = await client.fsck(path);
    const status = result.corrupt + result.missing > 0 ? "CORRUPT" : "HEALTHY";
    const exitCode = status === "HEALTHY" ? 0 : 1;
    const problems = result.problems.map((problem) => ({
      ...problem,
      chunkId: problem.chunkId.toString(),
    }));
    if (flags.json === true) {
      stdout.write(toJson({ path, status, ...result, problems }));
      return exitCode;
    }
    const counts = [
      ["files", result.files],
      ["chunks", result.chunks],
      ["healthy", result.healthy],
      ["under-replicated", result.underReplicated],
      ["over-replicated", result.overReplicated],
      ["corrupt", result.corrupt],
      ["missing", result.missing],
    ].map(([name, value]) => [`  ${name}`, String(value)]);
    let text = `${formatTable(counts, { rightAligned: [1] })}`;
    if (problems.length > 0) {
      const rows = problems.map((problem) => [
        problem.status,
        problem.chunkId,
        String(problem.liveReplicas),
        problem.path,
      ]);
      text += `\n${formatTable([["STATUS", "CHUNK ID", "LIVE", "PATH"], ...rows], { rightAligned: [2] })}`;
    }
    text += `\nThe file system under ${path} is ${status}\n`;
    stdout.write(text);
    return exitCode;
  },
};

const balance: CommandSpec = {
  name: "balance",
  usage: "[--threshold P] [--json]",
  summary: "Move chunks until every DataNode's use is within P% of the mean.",
  details:
    "Flags:\n  --threshold P   percent of the mean use a DataNode may differ by (default: 10)",
  flags: { threshold: { type: "string" }, json: { type: "boolean" } },
  args: { names: [], min: 0, max: 0 },
  validate(_args, flags) {
    const text = flags.threshold === undefined ? "10" : String(flags.threshold);
    const value = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text) || !(value > 0 && value < 100)) {
      throw new UsageError(
        `Invalid value for --threshold: ${JSON.stringify(text)} is not a percentage between 0 and 100`,
        "balance",
      );
    }
  },
  async run({ client, flags, stdout, stderr, signal }) {
    const thresholdPercent = flags.threshold === undefined ? 10 : Number(flags.threshold);
    // Each call waits a bounded time; follow the job until it ends.
    let result = await client.balance({ thresholdPercent });
    while (result.running && !signal.aborted) {
      stderr.write(
        `balancing: ${result.movedCount} replicas moved so far, ${result.movesInFlight} in flight\n`,
      );
      result = await client.balance({ thresholdPercent });
    }
    if (flags.json === true) {
      stdout.write(toJson(result));
    } else {
      stdout.write(
        `Moved ${result.movedCount} replicas (${humanSize(result.bytesMoved)}); ` +
          `${result.balanced ? "every DataNode is" : "not every DataNode could be brought"} within ${result.thresholdPercent}% of the mean use.\n`,
      );
    }
    return result.balanced ? 0 : 1;
  },
};

const decommission: CommandSpec = {
  name: "decommission",
  usage: "<datanode>",
  summary: "Drain a DataNode safely: its chunks are copied elsewhere before it is retired.",
  args: { names: ["datanode"], min: 1, max: 1 },
  async run({ client, args, stdout }) {
    const datanode = args[0]!;
    await client.decommission(datanode);
    stdout.write(
      `Decommissioning ${datanode}: its replicas are being copied elsewhere; \`bigfs report\` shows the progress.\n`,
    );
    return 0;
  },
};

const setrep: CommandSpec = {
  name: "setrep",
  usage: "<path> <replication>",
  summary: "Change a file's replication; the cluster adds or removes copies to follow.",
  args: { names: ["path", "replication"], min: 2, max: 2 },
  validate(args) {
    const text = args[1]!;
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 64) {
      throw new UsageError(
        `Invalid replication ${JSON.stringify(text)}: expected a whole number from 1 to 64`,
        "setrep",
      );
    }
  },
  async run({ client, args }) {
    await client.setReplication(args[0]!, Number(args[1]));
    return 0;
  },
};

/** The operator commands. */
export const adminCommands: readonly CommandSpec[] = [report, fsck, setrep, balance, decommission];
