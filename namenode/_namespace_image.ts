/**
 * The namespace image format (`Namespace.toImage`): a CBOR sequence. Item 0 is a header map
 * `{ format: "bigfs-namespace-image", version: 1, highestFileId, highestChunkId,
 * highestGeneration, directories, files, underConstruction }` (the last three are record
 * counts). Then one CBOR array per record, in a canonical order so that equal namespaces give
 * equal bytes:
 * - directory `[0, parentIndex, name, mtimeMs]`, depth-first, children by name; the first is
 *   the root `[0, -1, "", mtimeMs]`, and a directory's index is its place among directories;
 * - file `[1, directoryIndex, name, replication, chunkSizeBytes, mtimeMs, chunks]` right after
 *   its directory's record, by name, with `chunks` flat: `id, generation, size, xxh64, ...`;
 * - then files under construction by file id:
 *   `[2, fileId, directoryIndex, name, clientName, replication, chunkSizeBytes, overwrite,
 *   chunks]`, with `chunks` flat: `id, generation, size, xxh64, committed, ...`.
 * Ids, generations and checksums are CBOR 64-bit unsigned integers (bigints); the rest are
 * CBOR integers, strings and booleans.
 *
 * @module
 */
import { cbor } from "#protocol";
import { type ImageParts, ImageWriter, RecordReader } from "./_namespace_image_io.js";
import {
  childPath,
  chunksPerFileMax,
  clientNameLengthMax,
  DirectoryNode,
  FileNode,
  type MutableChunk,
  PendingFile,
  replicationMax,
  u64Max,
} from "./_namespace_nodes.js";
import { UniqueIds } from "./_unique_ids.js";

const imageFormat = "bigfs-namespace-image";
const imageVersion = 1;

/** The state an image holds; counts are files, directories, chunks. */
export interface ImageContent {
  root: DirectoryNode;
  pendingById: Map<bigint, PendingFile>;
  highest: [bigint, bigint, bigint];
  counts: [number, number, number];
}

/**
 * How the encoder reads what it writes: the tree as it is ({@linkcode liveView}), or as it was
 * when an image began, for one written a slice at a time while the namespace changes
 * (`_image_snapshot.ts`).
 */
export interface ImageView {
  /** The names of a directory's children, in any order. */
  childNames(directory: DirectoryNode): string[];
  /** A child by name (one of `childNames`). */
  childOf(directory: DirectoryNode, name: string): DirectoryNode | FileNode | undefined;
  nameOf(directory: DirectoryNode): string;
  mtimeOf(directory: DirectoryNode): number;
  replicationOf(file: FileNode): number;
  /** Files under construction, in any order. */
  pendingFiles(): Iterable<PendingFile>;
  chunksOf(pending: PendingFile): readonly MutableChunk[];
}

/** Reads the tree as it is now. */
export function liveView(pendingById: ReadonlyMap<bigint, PendingFile>): ImageView {
  return {
    childNames: (directory) => [...directory.children.keys()],
    childOf: (directory, name) => directory.children.get(name),
    nameOf: (directory) => directory.name,
    mtimeOf: (directory) => directory.mtimeMs,
    replicationOf: (file) => file.replication,
    pendingFiles: () => pendingById.values(),
    chunksOf: (pending) => pending.chunks,
  };
}

/** Encodes the namespace's state as an image, in the canonical order described above. */
export function encodeImage(content: ImageContent): Uint8Array {
  const writer = new ImageWriter();
  writeHeader(writer, content);
  const steps = imageRecords(writer, content.root, liveView(content.pendingById), Infinity);
  while (!steps.next().done) {}
  return writer.finish();
}

/**
 * Encodes an image as {@linkcode encodeImage} does, reading through `view`: the header (ids,
 * counts, and how many files are under construction, from `content`) at once, the records as
 * the returned steps run. A step yields after every `recordsPerStep` records, so that a caller
 * can let other work run in between; the last returns the image as its blocks, hashed as they
 * filled (never joined: a million files' image is 54 MB). `content.pendingById` is only
 * counted: the view lists the files under construction.
 */
export function imageSteps(
  content: ImageContent,
  view: ImageView,
  recordsPerStep: number,
): Generator<void, ImageParts, void> {
  const writer = new ImageWriter({ hashed: true });
  // Now, not at the first step: the counts are those of this moment.
  writeHeader(writer, content);
  return (function* () {
    yield* imageRecords(writer, content.root, view, recordsPerStep);
    return writer.finishParts();
  })();
}

function writeHeader(writer: ImageWriter, content: ImageContent): void {
  const { highest, counts } = content;
  writer.write({
    format: imageFormat,
    version: imageVersion,
    highestFileId: highest[0],
    highestChunkId: highest[1],
    highestGeneration: highest[2],
    directories: counts[1],
    files: counts[0],
    underConstruction: content.pendingById.size,
  });
}

/** Counts units of work (records, names merged) toward a step of `perStep`. */
class StepCounter {
  #since = 0;
  constructor(readonly perStep: number) {}

  /** Counts one; true when that completes a step (the caller then yields). */
  due(): boolean {
    if (++this.#since < this.perStep) return false;
    this.#since = 0;
    return true;
  }
}

function* imageRecords(
  writer: ImageWriter,
  root: DirectoryNode,
  view: ImageView,
  recordsPerStep: number,
): Generator<void, void, void> {
  const records = new StepCounter(recordsPerStep);
  const indexes = new Map<DirectoryNode, number>();
  const stack: [DirectoryNode, number][] = [[root, -1]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [directory, parentIndex] = item;
    const index = indexes.size;
    indexes.set(directory, index);
    writer.arrayHeader(4);
    writer.number(0);
    writer.number(parentIndex);
    writer.text(view.nameOf(directory));
    writer.number(view.mtimeOf(directory));
    // Names alone, sorted by UTF-16 code unit (the order of `byName`), no `[name, node]` pair
    // built per file; sorted a slice at a time, as a directory may hold a million of them.
    // Each node is looked up through the view when it is written: the directory may have
    // changed by then, and the view gives it as it was at the start.
    const names = yield* sortedInSteps(view.childNames(directory), recordsPerStep);
    const directories: DirectoryNode[] = [];
    for (const name of names) {
      const child = view.childOf(directory, name)!;
      if (child instanceof DirectoryNode) directories.push(child);
      else {
        writer.arrayHeader(7);
        writer.number(1);
        writer.number(index);
        writer.text(name);
        writer.number(view.replicationOf(child));
        writer.number(child.chunkSizeBytes);
        writer.number(child.mtimeMs);
        const count = child.chunkCount;
        writer.arrayHeader(count * 4);
        for (let at = 0; at < count; at++) {
          const chunk = child.chunkAt(at);
          writer.u64(chunk.id);
          writer.u64(chunk.generation);
          writer.number(chunk.size);
          writer.u64(chunk.xxh64);
        }
        if (records.due()) yield;
      }
    }
    for (let at = directories.length - 1; at >= 0; at--) stack.push([directories[at]!, index]);
    if (records.due()) yield;
  }
  const pendingFiles = [...view.pendingFiles()].sort((a, b) =>
    a.fileId < b.fileId ? -1 : a.fileId > b.fileId ? 1 : 0,
  );
  for (const pending of pendingFiles) {
    const chunks = view.chunksOf(pending);
    writer.arrayHeader(9);
    writer.number(2);
    writer.u64(pending.fileId);
    writer.number(indexes.get(pending.parent)!);
    writer.text(pending.name);
    writer.text(pending.clientName);
    writer.number(pending.replication);
    writer.number(pending.chunkSizeBytes);
    writer.boolean(pending.overwrite);
    writer.arrayHeader(chunks.length * 5);
    for (const chunk of chunks) {
      writer.u64(chunk.id);
      writer.u64(chunk.generation);
      writer.number(chunk.size);
      writer.u64(chunk.xxh64);
      writer.boolean(chunk.committed);
    }
    if (records.due()) yield;
  }
}

/**
 * `names` sorted by UTF-16 code unit, as `Array.prototype.sort` sorts strings: at once when
 * there are at most `perStep`, else runs of `perStep` sorted natively and merged bottom-up,
 * yielding after each run and after every `perStep` names merged.
 */
function* sortedInSteps(names: string[], perStep: number): Generator<void, string[], void> {
  const count = names.length;
  if (count <= perStep) return names.sort();
  let from = names;
  for (let start = 0; start < count; start += perStep) {
    const run = from.slice(start, start + perStep).sort();
    for (let at = 0; at < run.length; at++) from[start + at] = run[at]!;
    yield;
  }
  let to: string[] = new Array(count);
  const moved = new StepCounter(perStep);
  for (let width = perStep; width < count; width *= 2) {
    for (let left = 0; left < count; left += 2 * width) {
      const middle = Math.min(left + width, count);
      const right = Math.min(left + 2 * width, count);
      let a = left;
      let b = middle;
      for (let at = left; at < right; at++) {
        to[at] = b >= right || (a < middle && from[a]! <= from[b]!) ? from[a++]! : from[b++]!;
        if (moved.due()) yield;
      }
    }
    [from, to] = [to, from];
  }
  return from;
}

function imageHeaderField(header: Record<string, unknown>, field: string, kind: "uint" | "u64") {
  const value = header[field];
  const ok =
    kind === "u64"
      ? typeof value === "bigint" && value >= 0n && value <= u64Max
      : typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
  if (!ok) throw new Error(`Cannot load namespace image: header field ${field} is not a ${kind}`);
  return value;
}

/**
 * Decodes and checks an image from {@linkcode encodeImage} bytes.
 *
 * @throws {Error} naming the record and what is wrong.
 */
export function decodeImage(bytes: Uint8Array): ImageContent {
  // Records are checked as cbor-x reads them, not collected first: a million files' worth of
  // decoded arrays would double the memory of loading and keep the collector busy.
  let reader: ReturnType<typeof imageReaderFor> | undefined;
  let count = 0;
  let failure: unknown;
  try {
    cbor.decodeMultiple(bytes, (item: unknown) => {
      try {
        if (reader === undefined) reader = imageReaderFor(item);
        else reader.read(item, count);
        count++;
        return true;
      } catch (error) {
        failure = error;
        return false;
      }
    });
  } catch (error) {
    throw new Error(
      `Cannot load namespace image: not a valid CBOR sequence: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (failure !== undefined) throw failure;
  if (reader === undefined) {
    throw new Error(`Cannot load namespace image: it does not start with a ${imageFormat} header`);
  }
  return reader.finish(count);
}

/**
 * Checks the header `item` and returns a function that reads record `at` (from 1 on), and
 * through it the namespace. `finish(count)` then checks the counts and returns the content.
 */
function imageReaderFor(header: unknown) {
  if (
    typeof header !== "object" ||
    header === null ||
    (header as Record<string, unknown>).format !== imageFormat
  ) {
    throw new Error(`Cannot load namespace image: it does not start with a ${imageFormat} header`);
  }
  const fields = header as Record<string, unknown>;
  if (fields.version !== imageVersion) {
    throw new Error(
      `Cannot load namespace image: version ${String(fields.version)} is not ${imageVersion}`,
    );
  }
  const highestFileId = imageHeaderField(fields, "highestFileId", "u64") as bigint;
  const highestChunkId = imageHeaderField(fields, "highestChunkId", "u64") as bigint;
  const highestGeneration = imageHeaderField(fields, "highestGeneration", "u64") as bigint;
  const directoryTotal = imageHeaderField(fields, "directories", "uint") as number;
  const fileTotal = imageHeaderField(fields, "files", "uint") as number;
  const pendingTotal = imageHeaderField(fields, "underConstruction", "uint") as number;

  const directories: DirectoryNode[] = [];
  const pendingById = new Map<bigint, PendingFile>();
  let files = 0;
  let chunkCount = 0;
  // Chunk ids are unique across the image: checked once every record is read.
  const chunkIds = new UniqueIds();
  // Chunks are read inline, not with a reader each: an image may hold millions of them.
  const readChunks = (record: RecordReader, chunkSizeBytes: number, withCommitted: boolean) => {
    const width = withCommitted ? 5 : 4;
    const flat = record.array("chunks");
    if (flat.length % width !== 0) {
      record.fail(`chunks has ${flat.length} fields, not a multiple of ${width}`);
    }
    if (flat.length / width > chunksPerFileMax) record.fail("too many chunks");
    const chunks: MutableChunk[] = [];
    for (let at = 0; at < flat.length; at += width) {
      const id = flat[at];
      const generation = flat[at + 1];
      const size = flat[at + 2];
      const xxh64 = flat[at + 3];
      const committed = withCommitted ? flat[at + 4] : true;
      if (typeof id !== "bigint" || id < 1n || id > highestChunkId) {
        record.fail(`chunk ${at / width}: id is not a 64-bit integer in 1..${highestChunkId}`);
      }
      if (typeof generation !== "bigint" || generation < 1n || generation > highestGeneration) {
        record.fail(
          `chunk ${at / width}: generation is not a 64-bit integer in 1..${highestGeneration}`,
        );
      }
      if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
        record.fail(`chunk ${at / width}: size is not a whole number ≥ 0`);
      }
      if (typeof xxh64 !== "bigint" || xxh64 < 0n || xxh64 > u64Max) {
        record.fail(`chunk ${at / width}: xxh64 is not a 64-bit unsigned integer`);
      }
      if (typeof committed !== "boolean")
        record.fail(`chunk ${at / width}: committed is not a boolean`);
      const chunk: MutableChunk = { id, generation, size, xxh64, committed };
      if (chunk.size > chunkSizeBytes) {
        record.fail(`chunk ${at / width}: it is larger than the file's chunk size`);
      }
      chunkIds.add(chunk.id);
      chunkCount++;
      chunks.push(chunk);
    }
    return chunks;
  };
  const directoryAt = (record: RecordReader, index: number, what: string) => {
    const directory = directories[index];
    if (directory === undefined) record.fail(`${what} ${index} is not an earlier directory`);
    return directory;
  };

  const record = new RecordReader();
  const read = (item: unknown, at: number) => {
    if (!Array.isArray(item))
      throw new Error(`Cannot load namespace image: record ${at} is not an array`);
    const kind = item[0];
    record.reset(item, 1, at);
    if (at === 1 && kind !== 0) record.fail("the first record is not the root directory");
    if (kind === 0) {
      if (at > directoryTotal + fileTotal)
        record.fail("a directory after the files under construction");
      if (at === 1) {
        if (item.length !== 4 || item[1] !== -1 || item[2] !== "") {
          record.fail('the root must be [0, -1, "", mtimeMs]');
        }
        const mtimeMs = record.reset(item, 3, at).uint("mtimeMs");
        directories.push(new DirectoryNode(null, "", mtimeMs));
        return;
      }
      const parentIndex = record.uint("parentIndex");
      const parent = directoryAt(record, parentIndex, "parentIndex");
      const name = record.name("name");
      const mtimeMs = record.uint("mtimeMs");
      record.end();
      if (parent.children.has(name)) record.fail(`${childPath(parent, name)} appears twice`);
      const directory = new DirectoryNode(parent, name, mtimeMs);
      parent.children.set(name, directory);
      directories.push(directory);
    } else if (kind === 1) {
      if (at > directoryTotal + fileTotal) record.fail("a file after the files under construction");
      const parent = directoryAt(record, record.uint("directoryIndex"), "directoryIndex");
      const name = record.name("name");
      const replication = record.uint("replication");
      const chunkSizeBytes = record.uint("chunkSizeBytes");
      const mtimeMs = record.uint("mtimeMs");
      const chunks = readChunks(record, chunkSizeBytes, false);
      record.end();
      if (replication < 1 || replication > replicationMax) record.fail("replication out of range");
      if (chunkSizeBytes < 1) record.fail("chunkSizeBytes is 0");
      if (parent.children.has(name)) record.fail(`${childPath(parent, name)} appears twice`);
      parent.children.set(name, new FileNode(replication, chunkSizeBytes, mtimeMs, chunks));
      files++;
    } else if (kind === 2) {
      if (at <= directoryTotal + fileTotal)
        record.fail("a file under construction before the tree ends");
      const fileId = record.u64("fileId", 1n, highestFileId);
      const parent = directoryAt(record, record.uint("directoryIndex"), "directoryIndex");
      const name = record.name("name");
      const clientName = record.string("clientName");
      const replication = record.uint("replication");
      const chunkSizeBytes = record.uint("chunkSizeBytes");
      const overwrite = record.boolean("overwrite");
      const chunks = readChunks(record, chunkSizeBytes, true);
      record.end();
      if (replication < 1 || replication > replicationMax) record.fail("replication out of range");
      if (chunkSizeBytes < 1) record.fail("chunkSizeBytes is 0");
      if (clientName === "" || clientName.length > clientNameLengthMax)
        record.fail("bad clientName");
      if (pendingById.has(fileId)) record.fail(`file id ${fileId} appears twice`);
      if (parent.pending?.has(name)) record.fail(`two files under construction at one path`);
      const pending = new PendingFile(
        fileId,
        parent,
        name,
        clientName,
        replication,
        chunkSizeBytes,
        overwrite,
      );
      pending.chunks.push(...chunks);
      parent.pending ??= new Map();
      parent.pending.set(name, pending);
      pendingById.set(fileId, pending);
    } else {
      record.fail("unknown record kind");
    }
  };
  const finish = (count: number): ImageContent => {
    const repeated = chunkIds.firstRepeated();
    if (repeated !== undefined) {
      throw new Error(`Cannot load namespace image: chunk id ${repeated} appears twice`);
    }
    if (count !== 1 + directoryTotal + fileTotal + pendingTotal) {
      throw new Error(
        `Cannot load namespace image: the header counts ${directoryTotal + fileTotal + pendingTotal} records, the image has ${count - 1}`,
      );
    }
    if (
      directories.length !== directoryTotal ||
      files !== fileTotal ||
      pendingById.size !== pendingTotal
    ) {
      throw new Error(
        `Cannot load namespace image: the header counts ${directoryTotal} directories, ${fileTotal} files and ${pendingTotal} files under construction; the records hold ${directories.length}, ${files} and ${pendingById.size}`,
      );
    }
    return {
      root: directories[0]!,
      pendingById,
      highest: [highestFileId, highestChunkId, highestGeneration],
      counts: [files, directories.length, chunkCount],
    };
  };
  return { read, finish };
}
