import { test } from "uvu";
import * as assert from "uvu/assert";
import { BigFsError, SendWindow, sendWindowBytesDefault, sendWindowStartBytes } from "#protocol";

/** Whether `promise` has settled by the end of this turn of the event loop. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

test("a window starts small, and the receiver moves it up to its ceiling, below 8 MiB", () => {
  assert.ok(sendWindowBytesDefault > 0 && sendWindowBytesDefault <= 4 * 1024 * 1024);
  const window = new SendWindow();
  assert.is(window.bytesMax, sendWindowStartBytes);
  assert.is(window.ceilingBytes, sendWindowBytesDefault);
  window.resize(64 * 1024 * 1024);
  assert.is(window.bytesMax, sendWindowBytesDefault);
  window.resize(300_000);
  assert.is(window.bytesMax, 300_000);
});

test("a larger window lets a waiting frame go; a smaller one holds the next ones back", async () => {
  const window = new SendWindow(1000, 4000);
  window.sent(1000);
  const room = window.room(500);
  assert.not.ok(await settled(room));
  window.resize(1500);
  await room;
  window.sent(500);
  window.resize(1000);
  // 1,500 unacknowledged: none fits until acknowledgements bring it under 1,000.
  assert.not.ok(window.fits(1));
  window.acknowledged(1000);
  assert.ok(window.fits(500));
  assert.not.ok(window.fits(501));
});

test("frames go while they fit; the one that does not waits for an acknowledgement", async () => {
  const window = new SendWindow(1000);
  for (let sent = 0; sent < 1000; sent += 250) {
    assert.ok(window.fits(250), `at ${sent}`);
    window.sent(250);
  }
  assert.is(window.unacknowledgedBytes, 1000);
  assert.not.ok(window.fits(1));
  const room = window.room(250);
  assert.not.ok(await settled(room), "no room before an acknowledgement");
  // Not enough yet: 900 unacknowledged + 250 > 1000.
  window.acknowledged(100);
  assert.not.ok(await settled(room), "still no room for 250");
  window.acknowledged(250);
  await room;
  assert.is(window.unacknowledgedBytes, 750);
});

test("acknowledgements are running totals: an older, smaller one changes nothing", () => {
  const window = new SendWindow(1000);
  window.sent(800);
  window.acknowledged(600);
  window.acknowledged(300);
  assert.is(window.unacknowledgedBytes, 200);
});

test("a frame larger than the window goes when nothing is unacknowledged", async () => {
  const window = new SendWindow(1000);
  assert.ok(window.fits(5000));
  window.sent(5000);
  const room = window.room(10);
  assert.not.ok(await settled(room));
  window.acknowledged(5000);
  await room;
});

test("a failed stream rejects the wait under way and every later one", async () => {
  const window = new SendWindow(100);
  window.sent(100);
  const room = window.room(50);
  const reason = new BigFsError("UNAVAILABLE", "the pipeline failed");
  window.fail(reason);
  assert.is(await room.catch((error: unknown) => error), reason);
  assert.is(await window.room(0).catch((error: unknown) => error), reason);
});

test("a second wait at once is a bug, and a window must be positive", async () => {
  const window = new SendWindow(100);
  window.sent(100);
  window.room(1).catch(() => {});
  const error = (await window.room(1).catch((caught: unknown) => caught)) as BigFsError;
  assert.is(error.code, "INTERNAL");
  assert.throws(() => new SendWindow(0), /must be positive/);
  assert.throws(() => new SendWindow(1, 0), /must be positive/);
});

test.run();
