/**
 * What a `bigfs` command is: its names, help, flags and arguments, and the function that runs
 * it; and how its command line is parsed (with meow) and checked before anything connects.
 *
 * Exit codes are part of the CLI contract: 0 success, 1 the operation failed, 2 usage.
 */
import meow, { type AnyFlags } from "meow";
import { parseSize } from "#protocol";
import type { BigFsClient } from "./mod.js";

/** A bad command line: unknown command or flag, missing argument, bad value. Exit code 2. */
export class UsageError extends Error {
  /** The command whose help says how to do it right, when there is one. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** The streams and state a command runs with. */
export interface CommandContext {
  /** The connected client; commands with `needsCluster: false` never see it. */
  readonly client: BigFsClient;
  /** Positional arguments, checked against the command's `args`. */
  readonly args: readonly string[];
  /** Flags by camelCase name. */
  readonly flags: Readonly<Record<string, unknown>>;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Aborts when the user presses Ctrl-C. */
  readonly signal: AbortSignal;
}

/** A `bigfs` command. */
export interface CommandSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** `ls [path] [--json]`: the arguments after the command name. */
  readonly usage: string;
  /** One line for the overall help. */
  readonly summary: string;
  /** More lines for the command's own help: flags, examples. */
  readonly details?: string;
  readonly flags?: AnyFlags;
  /** How many positional arguments, and their names for a "missing" message. */
  readonly args: { readonly names: readonly string[]; readonly min: number; readonly max: number };
  /** Checks flag values and arguments before anything connects; throws {@linkcode UsageError}. */
  validate?(args: readonly string[], flags: Readonly<Record<string, unknown>>): void;
  /** Runs the command; resolves with the exit code (default 0). */
  run(context: CommandContext): Promise<number | undefined>;
}

/** Flags every command takes. */
export const globalFlags = {
  namenode: { type: "string" },
  secretFile: { type: "string" },
  debug: { type: "boolean" },
  help: { type: "boolean", shortFlag: "h" },
} as const satisfies AnyFlags;

/** The help text of the flags every command takes. */
export const globalFlagsHelp = `Global flags:
  --namenode HOST:PORT   the NameNode (default: $BIGFS_NAMENODE, or bigfs-cluster.json)
  --secret-file FILE     the cluster secret (default: $BIGFS_SECRET_FILE, or bigfs-cluster.json)
  --debug                show stack traces and the client's log on stderr
  -h, --help             show help`;

const kebab = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

/** Refuses flags the command does not take, before meow would guess at them. */
function checkFlagNames(spec: CommandSpec, argv: readonly string[]): void {
  const flags: AnyFlags = { ...globalFlags, ...spec.flags };
  const long = new Set<string>();
  const short = new Set<string>();
  const booleans = new Set<string>();
  for (const [name, flag] of Object.entries(flags)) {
    long.add(kebab(name));
    if (flag.type === "boolean") booleans.add(kebab(name));
    if (flag.shortFlag !== undefined) short.add(flag.shortFlag);
  }
  for (const argument of argv) {
    if (argument === "--") return;
    if (argument.startsWith("--")) {
      const name = argument.slice(2).split("=")[0]!;
      const known = long.has(name) || (name.startsWith("no-") && booleans.has(name.slice(3)));
      if (!known) {
        throw new UsageError(`Unknown flag --${name} for bigfs ${spec.name}`, spec.name);
      }
    } else if (argument.startsWith("-") && argument.length > 1) {
      for (const letter of argument.slice(1)) {
        if (!short.has(letter)) {
          throw new UsageError(`Unknown flag -${letter} for bigfs ${spec.name}`, spec.name);
        }
      }
    }
  }
}

/** A command's parsed command line. */
export interface ParsedCommandLine {
  args: string[];
  flags: Record<string, unknown>;
}

/**
 * Parses a command's arguments (everything after the command name) with meow.
 *
 * @throws {UsageError} for an unknown or repeated flag, or the wrong number of arguments.
 */
export function parseCommandLine(spec: CommandSpec, argv: readonly string[]): ParsedCommandLine {
  checkFlagNames(spec, argv);
  let parsed: { input: string[]; flags: Record<string, unknown> };
  // meow names the process after package.json's first bin (a daemon's); keep our own name.
  const title = process.title;
  try {
    parsed = meow({
      importMeta: import.meta,
      argv,
      flags: { ...globalFlags, ...spec.flags },
      autoHelp: false,
      autoVersion: false,
      description: false,
      help: false,
      allowUnknownFlags: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/\.$/, "")}`, spec.name);
  } finally {
    process.title = title;
  }
  const args = parsed.input.map(String);
  if (parsed.flags.help === true) return { args, flags: parsed.flags };
  if (args.length < spec.args.min) {
    const missing = spec.args.names[args.length] ?? "argument";
    throw new UsageError(`Missing argument <${missing}> for bigfs ${spec.name}`, spec.name);
  }
  if (args.length > spec.args.max) {
    throw new UsageError(
      `Too many arguments for bigfs ${spec.name}: ${args.length} given, at most ${spec.args.max} taken`,
      spec.name,
    );
  }
  return { args, flags: parsed.flags };
}

/** A command's own help text. */
export function commandHelp(spec: CommandSpec): string {
  const aliases = spec.aliases?.length ? `\n\nAliases: ${spec.aliases.join(", ")}` : "";
  const details = spec.details ? `\n\n${spec.details}` : "";
  return `Usage: bigfs ${spec.name} ${spec.usage}\n\n${spec.summary}${aliases}${details}\n\n${globalFlagsHelp}\n`;
}

/** An integer flag's value, when given; `--name` must be a whole number in `min..max`. */
export function integerFlag(
  command: string,
  name: string,
  value: unknown,
  range: { min: number; max: number },
): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const number = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(number >= range.min && number <= range.max)) {
    throw new UsageError(
      `Invalid value for --${name}: ${JSON.stringify(text)} is not a whole number from ${range.min} to ${range.max}`,
      command,
    );
  }
  return number;
}

/** A size flag's value in bytes, when given, as `parseSize` reads it (`64MiB`). */
export function sizeFlag(command: string, name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseSize(String(value));
  } catch (error) {
    throw new UsageError(`Invalid value for --${name}: ${(error as Error).message}`, command);
  }
}
