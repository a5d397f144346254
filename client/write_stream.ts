/**
 * `createWriteStream`: a Writable whose bytes become a BigFS file. It emits `finish` only once
 * the upload's COMPLETE is durable on the NameNode, and `error` when the upload fails (the
 * file is then abandoned, as a failed `put` is). Destroying the stream before it finishes
 * aborts the upload.
 *
 * Written buffers are copied on the way in: a writer may reuse its buffer once the write
 * callback ran, but the upload keeps every byte of a chunk until the chunk is stored.
 */
import { PassThrough, Writable } from "node:stream";
import { frameBytes, type PutResult } from "./options.js";

/**
 * A Writable feeding `upload`, which is started at once with the stream's bytes as its
 * source and the returned signal to abort it.
 */
export function createUploadStream(
  upload: (source: AsyncIterable<unknown>, signal: AbortSignal) => Promise<PutResult>,
): Writable {
  const bytes = new PassThrough({ highWaterMark: frameBytes });
  const abort = new AbortController();
  const result = upload(bytes, abort.signal);
  let settled = false;
  result.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const writable: Writable = new Writable({
    highWaterMark: frameBytes,
    write(chunk: Buffer | string, encoding, callback) {
      const copy = typeof chunk === "string" ? Buffer.from(chunk, encoding) : Buffer.from(chunk);
      if (bytes.write(copy)) callback();
      else bytes.once("drain", () => callback());
    },
    final(callback) {
      bytes.end();
      result.then(
        () => callback(),
        (error: Error) => callback(error),
      );
    },
    destroy(error, callback) {
      if (!settled)
        abort.abort(error ?? new Error("Cannot upload: the write stream was destroyed"));
      bytes.destroy();
      callback(error);
    },
  });
  result.catch((error: Error) => writable.destroy(error));
  return writable;
}
