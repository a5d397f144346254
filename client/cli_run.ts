/**
 * `bigfs` from argv to exit code: picks the command, parses and checks its command line,
 * finds the cluster, connects, runs, and turns every failure into one line on stderr,
 * `bigfs: <message>`, with exit code 1 for a failed operation and 2 for bad usage. Stack
 * traces only with `--debug`.
 */
import { createLogger, isBigFsError, loadSecret } from "#protocol";
import { adminCommands } from "./cli_admin_commands.js";
import {
  type CommandSpec,
  commandHelp,
  globalFlagsHelp,
  parseCommandLine,
  UsageError,
} from "./cli_command.js";
import { namespaceCommands } from "./cli_namespace_commands.js";
import { resolveClusterSettings } from "./cli_settings.js";
import { transferCommands } from "./cli_transfer_commands.js";
import { BigFsClient } from "./mod.js";

/** Every `bigfs` command, in the order the overall help lists them. */
export const commands: readonly CommandSpec[] = [
  ...namespaceCommands.slice(0, 1),
  ...transferCommands.slice(0, 2),
  ...namespaceCommands.slice(1),
  ...transferCommands.slice(2),
  ...adminCommands,
];

const byName = new Map<string, CommandSpec>();
for (const spec of commands) {
  for (const name of [spec.name, ...(spec.aliases ?? [])]) byName.set(name, spec);
}

/** The overall help. */
export function overallHelp(): string {
  const rows = commands.map((spec) => {
    const names = [spec.name, ...(spec.aliases ?? [])].join(", ");
    return `  ${names.padEnd(20)}${spec.summary.split("\n")[0]}`;
  });
  return `Usage: bigfs <command> [arguments] [flags]

The BigFS command-line client. With no --namenode, it uses the bigfs-cluster.json that
bigfs-cluster wrote in this folder or a folder above it.

Commands:
${rows.join("\n")}

${globalFlagsHelp}

Run bigfs <command> --help for a command's arguments and flags.
Exit codes: 0 success, 1 the operation failed, 2 usage.
`;
}

/** The streams `bigfs` runs with; tests may pass their own. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  signal: AbortSignal;
}

// Flags that take a value: the word after them is not the command.
const globalValueFlags = new Set(["--namenode", "--secret-file"]);

function splitCommand(argv: readonly string[]): { name?: string; rest: string[] } {
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (globalValueFlags.has(argument)) index += 1;
    else if (argument === "-" || !argument.startsWith("-")) {
      return { name: argument, rest: [...argv.slice(0, index), ...argv.slice(index + 1)] };
    }
  }
  return { rest: [...argv] };
}

/** True when `error` (or an error it wraps) is a write to a closed pipe. */
export function isBrokenPipe(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if ((current as NodeJS.ErrnoException).code === "EPIPE") return true;
    current = current.cause;
  }
  return false;
}

function isAbort(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted && (error as Error)?.name === "AbortError";
}

/** Runs `bigfs` with `argv` (without node and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const debug = argv.includes("--debug");
  const fail = (error: unknown, exitCode: number, hint?: string): number => {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`bigfs: ${message.split("\n")[0]}\n`);
    if (hint !== undefined) io.stderr.write(`${hint}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return exitCode;
  };
  const { name, rest } = splitCommand(argv);
  if (name === undefined) {
    if (rest.includes("--version")) {
      io.stdout.write("bigfs 0.1.0\n");
      return 0;
    }
    const asked = rest.includes("--help") || rest.includes("-h");
    (asked ? io.stdout : io.stderr).write(overallHelp());
    return asked ? 0 : 2;
  }
  const spec = byName.get(name);
  if (spec === undefined) {
    return fail(
      new UsageError(`Unknown command "${name}"`),
      2,
      "Run bigfs --help for the commands.",
    );
  }
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(spec, rest);
    if (parsed.flags.help === true) {
      io.stdout.write(commandHelp(spec));
      return 0;
    }
    spec.validate?.(parsed.args, parsed.flags);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return fail(error, 2, `Run bigfs ${spec.name} --help for its usage.`);
  }

  let client: BigFsClient;
  let settingsFile: string | undefined;
  try {
    const settings = await resolveClusterSettings({
      namenode: parsed.flags.namenode as string | undefined,
      secretFile: parsed.flags.secretFile as string | undefined,
    });
    settingsFile = settings.settingsFile;
    const secret = await loadSecret(settings.secretFile).catch((error: Error) => {
      throw new UsageError(error.message);
    });
    const logger = createLogger({
      name: "bigfs",
      level: debug ? "debug" : "silent",
      destination: 2,
    });
    client = await BigFsClient.connect({ namenode: settings.namenode, secret, logger });
  } catch (error) {
    if (error instanceof UsageError) return fail(error, 2);
    const hint =
      settingsFile === undefined
        ? undefined
        : `(The address came from ${settingsFile}: is bigfs-cluster still running?)`;
    return fail(error, 1, hint);
  }
  try {
    return (await spec.run({ client, args: parsed.args, flags: parsed.flags, ...io })) ?? 0;
  } catch (error) {
    if (isBrokenPipe(error)) return 0;
    if (isAbort(error, io.signal)) return fail(new Error("interrupted"), 130);
    if (error instanceof UsageError) return fail(error, 2);
    if (!isBigFsError(error) && !(error instanceof Error)) throw error;
    return fail(error, 1);
  } finally {
    await client.close().catch(() => {});
  }
}
