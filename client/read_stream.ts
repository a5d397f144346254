/**
 * `createReadStream`: a Readable of a file's bytes, or of an inclusive byte range as
 * `fs.createReadStream` takes it. The file is opened when the stream is first read; only the
 * chunks the range touches are read, and of the first and last only the bytes it needs.
 */
import { Readable } from "node:stream";
import type { FileReader } from "./file_reader.js";
import type { ReadStreamOptions } from "./options.js";

/**
 * A Readable over `[start, end]` of the file `open` opens.
 *
 * @throws {RangeError} at once when `start` or `end` is not a non-negative integer.
 */
export function createRangeStream(
  open: () => Promise<FileReader>,
  options: ReadStreamOptions,
  toBuffer: (bytes: Uint8Array) => Buffer,
): Readable {
  const start = options.start ?? 0;
  const end = options.end ?? Number.POSITIVE_INFINITY;
  for (const [name, value] of [
    ["start", start],
    ["end", end],
  ] as const) {
    if (!(value === Number.POSITIVE_INFINITY || (Number.isSafeInteger(value) && value >= 0))) {
      throw new RangeError(`Cannot read: ${name} ${value} is not a non-negative integer`);
    }
  }
  async function* bytes(): AsyncGenerator<Buffer> {
    const reader = await open();
    const endExclusive = end === Number.POSITIVE_INFINITY ? reader.size : end + 1;
    for await (const piece of reader.read(start, endExclusive)) yield toBuffer(piece);
  }
  return Readable.from(bytes(), { objectMode: false });
}
