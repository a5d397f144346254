/**
 * Where `bigfs` finds its cluster: `--namenode` and `--secret-file`, else the environment
 * (`BIGFS_NAMENODE`, `BIGFS_SECRET_FILE`), else the `bigfs-cluster.json` that `bigfs-cluster`
 * wrote in the current folder or the nearest folder above it (as git finds `.git`).
 *
 * The settings file is JSON: `{ "namenode": "127.0.0.1:9000", "secretFile": "/abs/secret" }`;
 * a relative `secretFile` is read relative to the settings file's folder.
 */
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { HostPort } from "#protocol";
import { UsageError } from "./cli_command.js";
import { clusterSettingsFileName } from "./local_cluster.js";

/** How to reach the cluster, and where that was found. */
export interface ClusterSettings {
  namenode: HostPort;
  secretFile: string;
  /** The settings file used, when one was. */
  settingsFile: string | undefined;
}

/** Options for {@linkcode resolveClusterSettings}. */
export interface ResolveSettingsOptions {
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

const hostPortPattern = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;
// A folder chain is bounded by the path's depth; this bounds it against symlink games too.
const parentFoldersMax = 64;

/** Parses `host:port` or `[ipv6]:port`; `undefined` when it is neither. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = hostPortPattern.exec(text);
  const port = Number(match?.[3]);
  if (match === null || !(port >= 1 && port <= 65_535)) return undefined;
  return { host: match[1] ?? match[2] ?? "", port };
}

/** The nearest `bigfs-cluster.json` at or above `folder`, read and parsed. */
async function findSettingsFile(
  folder: string,
): Promise<{ path: string; settings: Record<string, unknown> } | undefined> {
  let current = resolve(folder);
  for (let depth = 0; depth < parentFoldersMax; depth++) {
    const path = join(current, clusterSettingsFileName);
    let text: string | undefined;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") {
        throw new UsageError(`Cannot read the cluster settings ${path}: ${code}`);
      }
    }
    if (text !== undefined) {
      try {
        const settings: unknown = JSON.parse(text);
        if (typeof settings !== "object" || settings === null) throw new Error("not an object");
        return { path, settings: settings as Record<string, unknown> };
      } catch (error) {
        throw new UsageError(
          `Cannot read the cluster settings ${path}: ${(error as Error).message}`,
        );
      }
    }
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
  return undefined;
}

const howToPoint =
  "start a local cluster here with `npx bigfs-cluster` (it writes bigfs-cluster.json), " +
  "or give --namenode host:port and --secret-file FILE (or BIGFS_NAMENODE and BIGFS_SECRET_FILE)";

/**
 * Finds the NameNode address and the secret file from flags, environment and settings file.
 *
 * @throws {UsageError} when nothing says where the cluster is, or a value is malformed.
 */
export async function resolveClusterSettings(
  flags: { namenode?: string | undefined; secretFile?: string | undefined },
  options: ResolveSettingsOptions = {},
): Promise<ClusterSettings> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const nonEmpty = (value: string | undefined) => (value === "" ? undefined : value);
  let namenodeText = nonEmpty(flags.namenode) ?? nonEmpty(env.BIGFS_NAMENODE);
  let namenodeSource = flags.namenode ? "--namenode" : "BIGFS_NAMENODE";
  let secretFile = nonEmpty(flags.secretFile) ?? nonEmpty(env.BIGFS_SECRET_FILE);
  if (secretFile !== undefined) secretFile = resolve(cwd, secretFile);
  let settingsFile: string | undefined;
  if (namenodeText === undefined || secretFile === undefined) {
    const found = await findSettingsFile(cwd);
    if (found === undefined) {
      const missing = namenodeText === undefined ? "NameNode" : "cluster secret";
      throw new UsageError(
        `Cannot find the ${missing}: no ${clusterSettingsFileName} in ${cwd} or above it; ${howToPoint}`,
      );
    }
    settingsFile = found.path;
    const { namenode, secretFile: fileSecret } = found.settings;
    if (namenodeText === undefined) {
      if (typeof namenode !== "string") {
        throw new UsageError(`Cannot read the cluster settings ${found.path}: no "namenode"`);
      }
      namenodeText = namenode;
      namenodeSource = found.path;
    }
    if (secretFile === undefined) {
      if (typeof fileSecret !== "string" || fileSecret === "") {
        throw new UsageError(`Cannot read the cluster settings ${found.path}: no "secretFile"`);
      }
      secretFile = resolve(dirname(found.path), fileSecret);
    }
  }
  const namenode = parseHostPort(namenodeText);
  if (namenode === undefined) {
    throw new UsageError(
      `Invalid NameNode address ${JSON.stringify(namenodeText)} from ${namenodeSource}: expected host:port, such as 127.0.0.1:9000`,
    );
  }
  return { namenode, secretFile, settingsFile };
}
