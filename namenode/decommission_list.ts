/**
 * The DataNodes taken out of service, kept on disk so that a NameNode restart does not put
 * them back in (HDFS keeps them in its excludes file, which the operator edits; here the
 * NameNode keeps the list itself, as `bigfs decommission` adds to it).
 *
 * `<data dir>/decommissioned.json`: `{ "version": 1, "datanodes": ["dn-…", …] }`, replaced
 * whole (temp file, fsync, rename, folder fsync) before a DECOMMISSION is answered. A list
 * that cannot be read stops the NameNode from starting: starting without it would quietly put
 * retired DataNodes back in service.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { replaceFileDurably } from "#protocol";

/** The file's name in the NameNode's data folder. */
export const decommissionListName = "decommissioned.json";

const formatVersion = 1;

/** The DataNodes decommissioned (or being decommissioned), as kept on disk. */
export class DecommissionList {
  readonly path: string;
  readonly #ids: Set<string>;
  /** The write under way; the next one waits for it, so the file ends with every id added. */
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string, ids: Iterable<string>) {
    this.path = path;
    this.#ids = new Set(ids);
  }

  /**
   * Reads the list in `dataDir`; an empty one when there is no file yet.
   *
   * @throws {Error} naming the file and what is wrong with it, when it cannot be read or does
   * not hold a list.
   */
  static async load(dataDir: string): Promise<DecommissionList> {
    const path = join(dataDir, decommissionListName);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return new DecommissionList(path, []);
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`Cannot read the decommissioned DataNodes from ${path}: ${error}`);
    }
    const { version, datanodes } = (parsed ?? {}) as { version?: unknown; datanodes?: unknown };
    if (version !== formatVersion) {
      throw new Error(
        `Cannot read the decommissioned DataNodes from ${path}: version ${JSON.stringify(version)}, not ${formatVersion}`,
      );
    }
    if (!Array.isArray(datanodes) || !datanodes.every((id) => typeof id === "string")) {
      throw new Error(
        `Cannot read the decommissioned DataNodes from ${path}: "datanodes" is not a list of ids`,
      );
    }
    return new DecommissionList(path, datanodes);
  }

  /** Whether the DataNode is on the list. */
  has(datanodeId: string): boolean {
    return this.#ids.has(datanodeId);
  }

  /** The DataNodes on the list, in the order they were added. */
  get ids(): readonly string[] {
    return [...this.#ids];
  }

  /**
   * Adds a DataNode and resolves once the list on disk has it. Should the write fail, the
   * DataNode is not on the list, and the error says why.
   */
  add(datanodeId: string): Promise<void> {
    const write = this.#writing.then(async () => {
      if (this.#ids.has(datanodeId)) return;
      const ids = [...this.#ids, datanodeId];
      const text = `${JSON.stringify({ version: formatVersion, datanodes: ids }, null, 2)}\n`;
      await replaceFileDurably(this.path, text);
      this.#ids.add(datanodeId);
    });
    this.#writing = write.catch(() => {});
    return write;
  }
}
