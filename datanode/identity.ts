/**
 * The DataNode's id: generated once, at the first start on an empty data folder, and kept in
 * the file `datanode_id` there, so a restarted DataNode is the same DataNode to the NameNode.
 *
 * The file holds the id as UTF-8 text, `dn-` and a random UUID, and a newline. It is written
 * to a temp name, fsynced, renamed into place, and the folder fsynced, so a crash leaves either
 * no id (the next start makes one; no chunk was stored yet) or a whole one.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { replaceFileDurably } from "#protocol";

const idFileName = "datanode_id";
const idPattern = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Returns the DataNode id kept in `dataDir`, creating the folder and the id when absent.
 *
 * @throws {Error} when the id file exists but does not hold an id (a damaged data folder is
 * not silently given a new identity).
 */
export async function loadOrCreateDataNodeId(dataDir: string): Promise<string> {
  const path = join(dataDir, idFileName);
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (text !== undefined) {
    const id = text.trim();
    if (!idPattern.test(id)) {
      throw new Error(
        `Cannot load the DataNode id from ${path}: ${JSON.stringify(id)} is not an id`,
      );
    }
    return id;
  }
  await mkdir(dataDir, { recursive: true });
  const id = `dn-${randomUUID()}`;
  await replaceFileDurably(path, `${id}\n`);
  return id;
}
