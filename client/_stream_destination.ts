/**
 * Writes a download's verified pieces, in order, into a caller's `Writable`, with
 * backpressure: the next piece is taken from the source only once the stream took this one
 * (or drained). What `stream.pipeline` does for two streams, without what it costs per call
 * (a `Readable` around the source, an `AbortController` aborted at the end with a
 * `DOMException` and its stack trace, end-of-stream watchers on both sides): for a 4 KiB file
 * that machinery cost more CPU than the rest of the download on the client.
 */
import type { Writable } from "node:stream";

/** Options for {@linkcode writeToStream}. */
export interface WriteToStreamOptions {
  /** End the stream after the last piece and wait until it finished. */
  end: boolean;
  signal?: AbortSignal;
  /** Called after each piece the stream took, with its length. */
  onPiece?: (bytes: number) => void;
}

/**
 * Writes every piece of `pieces` into `stream`. On failure (the source failed, the stream
 * errored or closed early, the signal aborted) the source is stopped, the stream is destroyed
 * when `end` (a stream left open for the caller, such as stdout, is not) and the error is
 * thrown.
 */
export async function writeToStream(
  pieces: AsyncIterable<Uint8Array>,
  stream: Writable,
  options: WriteToStreamOptions,
): Promise<void> {
  const { signal } = options;
  let failure: { error: unknown } | undefined;
  let finished = false;
  let wake: (() => void) | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
    wake?.();
  };
  const onError = (error: Error) => fail(error);
  const onClose = () => {
    if (!finished) fail(new Error("the destination stream closed before the download ended"));
  };
  const onDrain = () => wake?.();
  const onFinish = () => {
    finished = true;
    wake?.();
  };
  const onAbort = () => fail(signal?.reason);
  const throwIfFailed = () => {
    if (failure) throw failure.error;
  };
  /** Resolves at the next event this write waits for: drain, finish, or a failure. */
  const nextEvent = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  stream.on("error", onError);
  stream.on("close", onClose);
  stream.on("drain", onDrain);
  stream.on("finish", onFinish);
  signal?.addEventListener("abort", onAbort, { once: true });
  const iterator = pieces[Symbol.asyncIterator]();
  let sourceDone = false;
  try {
    if (signal?.aborted) fail(signal.reason);
    if (stream.destroyed) onClose();
    for (;;) {
      throwIfFailed();
      const next = await iterator.next();
      if (next.done) {
        sourceDone = true;
        break;
      }
      throwIfFailed();
      if (!stream.write(next.value)) {
        while (stream.writableNeedDrain && !failure) await nextEvent();
      }
      options.onPiece?.(next.value.byteLength);
    }
    throwIfFailed();
    if (options.end) {
      stream.end();
      while (!finished && !failure) await nextEvent();
      throwIfFailed();
    }
  } catch (error) {
    if (!sourceDone) await iterator.return?.().catch(() => {});
    // Our error listener stays on: the stream must not raise an unhandled 'error' later.
    if (options.end && !stream.destroyed) stream.destroy();
    throw error;
  } finally {
    wake = undefined;
    stream.off("close", onClose);
    stream.off("drain", onDrain);
    stream.off("finish", onFinish);
    signal?.removeEventListener("abort", onAbort);
    if (!failure) stream.off("error", onError);
  }
}
