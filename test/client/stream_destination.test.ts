/**
 * writeToStream: a download's pieces written in order into a caller's Writable, with
 * backpressure, and every way it can fail (the stream, the source, the signal) surfacing as
 * the error of the call, with the source stopped.
 */
import { Writable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeToStream } from "../../client/_stream_destination.js";

const pieces = Array.from({ length: 20 }, (_, index) => new Uint8Array(100).fill(index));

/** A source of `pieces` that says whether it was stopped before its end. */
function source(options: { failAt?: number } = {}) {
  const state = { stopped: false, taken: 0 };
  async function* generate(): AsyncGenerator<Uint8Array> {
    try {
      for (const [index, piece] of pieces.entries()) {
        if (index === options.failAt) throw new Error("source broke");
        state.taken += 1;
        yield piece;
      }
    } finally {
      if (state.taken < pieces.length) state.stopped = true;
    }
  }
  return { iterable: generate(), state };
}

/** A stream that takes one piece at a time, each finished on a later turn. */
function slowSink(options: { failAt?: number } = {}) {
  const received: Uint8Array[] = [];
  let queuedMax = 0;
  const sink = new Writable({
    highWaterMark: 1,
    write(piece: Uint8Array, _encoding, callback) {
      received.push(piece);
      queuedMax = Math.max(queuedMax, sink.writableLength);
      if (received.length === options.failAt) {
        setImmediate(() => callback(new Error("sink broke")));
      } else setImmediate(callback);
    },
  });
  return { sink, received, queuedMax: () => queuedMax };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.instance(outcome, Error);
  return outcome as Error;
}

test("every piece arrives in order, one waiting at a time, and the stream is ended", async () => {
  const { iterable } = source();
  const { sink, received, queuedMax } = slowSink();
  const counted: number[] = [];
  await writeToStream(iterable, sink, { end: true, onPiece: (bytes) => counted.push(bytes) });
  assert.equal(
    received.map((piece) => piece[0]),
    pieces.map((_, index) => index),
  );
  assert.ok(sink.writableFinished);
  assert.is(counted.length, pieces.length);
  // Backpressure: the next piece waited for the stream to drain.
  assert.ok(queuedMax() <= 100, `at most one piece queued, saw ${queuedMax()} bytes`);
});

test("with end false the stream is left open for the caller", async () => {
  const { iterable } = source();
  const { sink, received } = slowSink();
  await writeToStream(iterable, sink, { end: false });
  assert.is(received.length, pieces.length);
  assert.not.ok(sink.writableEnded);
  sink.end();
});

test("a stream that fails stops the source and fails the write with its error", async () => {
  const { iterable, state } = source();
  const { sink } = slowSink({ failAt: 3 });
  const error = await rejection(writeToStream(iterable, sink, { end: true }));
  assert.is(error.message, "sink broke");
  assert.ok(state.stopped);
});

test("a source that fails destroys the stream and fails the write with its error", async () => {
  const { iterable } = source({ failAt: 5 });
  const { sink, received } = slowSink();
  const error = await rejection(writeToStream(iterable, sink, { end: true }));
  assert.is(error.message, "source broke");
  assert.is(received.length, 5);
  assert.ok(sink.destroyed);
});

test("a stream closed by someone else fails the write", async () => {
  const { iterable, state } = source();
  const { sink } = slowSink();
  sink.destroy();
  const error = await rejection(writeToStream(iterable, sink, { end: true }));
  assert.match(error.message, "closed before the download ended");
  assert.is(state.taken, 0);
});

test("an aborted signal stops the source and fails the write with its reason", async () => {
  const { iterable, state } = source();
  const controller = new AbortController();
  const { sink, received } = slowSink();
  const writing = writeToStream(iterable, sink, { end: true, signal: controller.signal });
  sink.once("drain", () => controller.abort(new Error("stopped by the caller")));
  const error = await rejection(writing);
  assert.is(error.message, "stopped by the caller");
  assert.ok(state.stopped);
  assert.ok(received.length < pieces.length);
});

test.run();
