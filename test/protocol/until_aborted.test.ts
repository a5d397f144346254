/**
 * `untilAborted`: a wait a signal cuts short, which keeps nothing once it settled. The
 * DataNode waits on every received frame this way for a whole chunk; a wait that stayed
 * reachable from the signal would keep every frame of the chunk in memory.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { untilAborted } from "#protocol";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

test("a wait resolves with the promise's value and rejects with its error", async () => {
  const signal = new AbortController().signal;
  assert.is(await untilAborted(Promise.resolve(42), signal), 42);
  const error = await untilAborted(Promise.reject(new Error("boom")), signal).catch(
    (caught: Error) => caught,
  );
  assert.match((error as Error).message, "boom");
});

test("a wait rejects with the signal's reason when it aborts, or has aborted", async () => {
  const controller = new AbortController();
  const waiting = untilAborted(new Promise(() => {}), controller.signal);
  controller.abort(new Error("stopped"));
  assert.match(((await waiting.catch((caught) => caught)) as Error).message, "stopped");
  const late = untilAborted(Promise.resolve(1), controller.signal);
  assert.match(((await late.catch((caught) => caught)) as Error).message, "stopped");
});

/** Waits for one new frame; nothing of it is left in the caller. */
async function waitForFrame(signal: AbortSignal, refs: WeakRef<Uint8Array>[]): Promise<void> {
  const frame = new Uint8Array(1024 * 1024);
  refs.push(new WeakRef(frame));
  await untilAborted(Promise.resolve(frame), signal);
}

test("values waited for are not kept by a signal that stays pending", async () => {
  const signal = new AbortController().signal;
  const refs: WeakRef<Uint8Array>[] = [];
  for (let index = 0; index < 8; index++) await waitForFrame(signal, refs);
  // WeakRef targets live at least until the end of the current job: collect in a later one.
  await nextTurn();
  collectGarbage();
  await nextTurn();
  assert.is(refs.filter((ref) => ref.deref() !== undefined).length, 0, "every frame was freed");
  assert.not.ok(signal.aborted);
});

test.run();
