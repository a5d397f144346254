import { test } from "uvu";
import * as assert from "uvu/assert";
import { sendWindowBytesDefault } from "#protocol";
import { windowForWrites, writeBufferBytesDefault } from "../../datanode/write_pipeline.js";

const MiB = 1024 * 1024;

test("writes share the DataNode's write buffer equally, between one frame and 4 MiB each", () => {
  assert.is(writeBufferBytesDefault, 32 * MiB);
  assert.is(windowForWrites(writeBufferBytesDefault, 1), sendWindowBytesDefault);
  // One stream's four chunks in flight each get the most a sender keeps.
  assert.is(windowForWrites(writeBufferBytesDefault, 8), sendWindowBytesDefault);
  assert.is(windowForWrites(writeBufferBytesDefault, 16), 2 * MiB);
  assert.is(windowForWrites(writeBufferBytesDefault, 100), Math.floor((32 * MiB) / 100));
  assert.is(windowForWrites(writeBufferBytesDefault, 10_000), 256 * 1024);
  assert.is(windowForWrites(8 * MiB, 4), 2 * MiB);
  assert.is(windowForWrites(0, 1), 256 * 1024);
  // Up to 128 writes (a frame each) they never have more than the buffer on their way; past
  // that, a frame each.
  for (const writes of [1, 7, 33, 64, 100, 128]) {
    const total = writes * windowForWrites(writeBufferBytesDefault, writes);
    assert.ok(total <= writeBufferBytesDefault, `${writes} writes: ${total}`);
  }
});

test.run();
