/**
 * How many chunks an upload keeps in flight: a file's chunks hold no bytes, so the memory bound
 * does not shrink its window; a stream's chunks are held until stored, so it does.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { clientDefaults, uploadWindowFor } from "../../client/options.js";

const mib = 1024 * 1024;
const { chunksInFlight, bufferBytesMax } = clientDefaults;

test("from a file, the window is chunksInFlight whatever the chunk size", () => {
  assert.is(uploadWindowFor(true, 64 * mib, chunksInFlight, bufferBytesMax), chunksInFlight);
  assert.is(uploadWindowFor(true, 1024 * mib, chunksInFlight, bufferBytesMax), chunksInFlight);
  assert.is(uploadWindowFor(true, 64 * mib, 1, bufferBytesMax), 1);
});

test("from a stream, the window is what the memory bound holds, at least one chunk", () => {
  assert.is(uploadWindowFor(false, 64 * mib, chunksInFlight, bufferBytesMax), 2);
  assert.is(uploadWindowFor(false, 1 * mib, chunksInFlight, bufferBytesMax), chunksInFlight);
  assert.is(uploadWindowFor(false, 1024 * mib, chunksInFlight, bufferBytesMax), 1);
});

test.run();
