import { test } from "uvu";
import * as assert from "uvu/assert";
import { ReplicaWaiters } from "../../namenode/_replica_waiters.js";

test("a wait ends when the last of its chunks is reported, and leaves nothing behind", async () => {
  const waiters = new ReplicaWaiters();
  const reported = new Set<bigint>([1n]);
  let done: bigint[] | undefined;
  const waiting = waiters
    .wait([1n, 2n, 3n], (id) => reported.has(id), 60_000)
    .then((missing) => {
      done = missing;
    });
  assert.is(waiters.size, 2, "only the chunks not reported yet are waited for");
  reported.add(2n);
  waiters.replicaStored(2n);
  await Promise.resolve();
  assert.is(done, undefined);
  reported.add(3n);
  waiters.replicaStored(3n);
  await waiting;
  assert.equal(done, []);
  assert.is(waiters.size, 0);
});

test("a report of a replica readers cannot use yet does not end the wait", async () => {
  const waiters = new ReplicaWaiters();
  let settled = false;
  const waiting = waiters
    .wait([7n], () => false, 30)
    .then((missing) => {
      settled = true;
      return missing;
    });
  waiters.replicaStored(7n);
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(settled, false);
  // The wait's timer does not keep a process alive (a stopping NameNode need not wait for
  // it), so this one does until the timeout has passed.
  const [missing] = await Promise.all([waiting, new Promise((resolve) => setTimeout(resolve, 60))]);
  assert.equal(missing, [7n], "after the timeout, the chunk is named as missing");
  assert.is(waiters.size, 0);
});

test("chunks already reported, or a wait of 0 ms, end at once", async () => {
  const waiters = new ReplicaWaiters();
  assert.equal(await waiters.wait([1n], () => true, 60_000), []);
  assert.equal(await waiters.wait([1n, 2n], (id) => id === 1n, 0), [2n]);
  assert.is(waiters.size, 0);
});

test.run();
