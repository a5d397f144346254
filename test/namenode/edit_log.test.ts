import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  EditLog,
  EditLogCorruptError,
  type EditLogOpenResult,
  type EditLogOptions,
  type SegmentFile,
} from "../../namenode/edit_log.js";

const firstSegment = "edits_00000000000000000001.log";
const recordHeaderBytes = 20;
const segmentHeaderBytes = 32;

/** Record i (0-based) has txid i + 1 and 40 to 99 bytes of a pattern of its own. */
function payloadOf(index: number): Uint8Array {
  const length = 40 + ((index * 37) % 60);
  return Uint8Array.from({ length }, (_, at) => (index * 13 + at * 7) & 0xff);
}

async function withFolder(body: (folder: string) => Promise<void>): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), "bigfs-"));
  try {
    await body(folder);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** Appends `count` records one after another and closes; returns each record's offset and the end. */
async function writeLog(folder: string, count: number, options: EditLogOptions = {}) {
  const { log } = await EditLog.open(folder, options);
  const offsets: number[] = [segmentHeaderBytes];
  for (let index = 0; index < count; index++) {
    await log.append(payloadOf(index));
    offsets.push(offsets.at(-1)! + recordHeaderBytes + payloadOf(index).byteLength);
  }
  await log.close();
  return offsets;
}

/** Opens the log only to read it, and closes it again. */
async function openAndClose(folder: string, options: EditLogOptions = {}) {
  const opened = await EditLog.open(folder, options);
  await opened.log.close();
  return opened;
}

function assertRecords(opened: EditLogOpenResult, fromTxid: number, count: number): void {
  assert.is(opened.records.length, count, "record count");
  opened.records.forEach((record, index) => {
    assert.is(record.txid, BigInt(fromTxid + index));
    assert.equal(record.payload, payloadOf(fromTxid + index - 1));
  });
}

async function segmentNames(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => /^edits_\d{20}\.log$/.test(name)).sort();
}

async function brokenNames(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => name.includes(".broken")).sort();
}

/** Asserts that `action` rejects with a message matching `expects`, or an error it accepts. */
async function rejects(
  action: () => Promise<unknown>,
  expects: RegExp | ((error: unknown) => boolean),
): Promise<void> {
  let settled = false;
  try {
    await action();
    settled = true;
  } catch (error) {
    if (expects instanceof RegExp) assert.match(String((error as Error)?.message), expects);
    else assert.ok(expects(error), `unexpected error: ${String(error)}`);
  }
  if (settled) assert.unreachable("it resolved");
}

function flipBit(bytes: Uint8Array, offset: number, bit = 0x01): Uint8Array {
  const copy = bytes.slice();
  copy[offset]! ^= bit;
  return copy;
}

function concat(...pieces: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(pieces));
}

/**
 * Yields to the event loop, a turn at a time, until `condition` holds: these tests observe the
 * log between its steps. Fails after 10 s naming `what`, rather than hanging the file.
 */
async function spinUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 10 s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test("records appended are read back in order with continuous txids", async () => {
  await withFolder(async (folder) => {
    const { log, records } = await EditLog.open(folder);
    assert.is(records.length, 0);
    assert.is(log.lastTxid, 0n);
    for (let index = 0; index < 25; index++) {
      assert.is(await log.append(payloadOf(index)), BigInt(index + 1));
    }
    assert.is(log.lastTxid, 25n);
    assert.is(log.durableTxid, 25n);
    await log.close();
    const reopened = await EditLog.open(folder);
    assertRecords(reopened, 1, 25);
    assert.is(reopened.truncatedTail, undefined);
    assert.is(reopened.log.lastTxid, 25n);
    assert.is(await reopened.log.append(payloadOf(25)), 26n);
    await reopened.log.close();
    assertRecords(await openAndClose(folder), 1, 26);
  });
});

test("records at or before afterTxid are skipped", async () => {
  await withFolder(async (folder) => {
    await writeLog(folder, 10);
    const opened = await EditLog.open(folder, { afterTxid: 6n });
    assertRecords(opened, 7, 4);
    assert.is(opened.log.lastTxid, 10n);
    await opened.log.close();
  });
});

test("onRecord receives each record as it is read, across segments, instead of a list", async () => {
  await withFolder(async (folder) => {
    // Records of 60 to 119 bytes: segments of 300 bytes hold two or three each.
    await writeLog(folder, 30, { segmentBytesMax: 300 });
    assert.ok((await segmentNames(folder)).length > 5, "several segments");
    const seen: { txid: bigint; payload: Uint8Array }[] = [];
    const opened = await openAndClose(folder, {
      afterTxid: 4n,
      onRecord: (txid, payload) => seen.push({ txid, payload: payload.slice() }),
    });
    assert.is(opened.records.length, 0);
    assert.is(opened.recordCount, 26);
    assert.equal(
      seen.map(({ txid }) => txid),
      Array.from({ length: 26 }, (_, index) => BigInt(index + 5)),
    );
    for (const { txid, payload } of seen) assert.equal(payload, payloadOf(Number(txid) - 1));
  });
});

test("a throw from onRecord stops the open and leaves the log as it was", async () => {
  await withFolder(async (folder) => {
    await writeLog(folder, 10);
    const before = await readFile(join(folder, firstSegment));
    const seen: bigint[] = [];
    await rejects(
      () =>
        EditLog.open(folder, {
          onRecord: (txid) => {
            if (txid === 4n) throw new Error("record 4 does not apply");
            seen.push(txid);
          },
        }),
      /record 4 does not apply/,
    );
    assert.equal(seen, [1n, 2n, 3n]);
    assert.equal(await readFile(join(folder, firstSegment)), before);
    assertRecords(await openAndClose(folder), 1, 10);
  });
});

test("a log that ends before the image's txid refuses to open", async () => {
  await withFolder(async (folder) => {
    await writeLog(folder, 3);
    await rejects(() => EditLog.open(folder, { afterTxid: 10n }), /ends at txid 3/);
  });
});

test("an empty folder starts a log after afterTxid", async () => {
  await withFolder(async (folder) => {
    const { log, records } = await EditLog.open(join(folder, "current"), { afterTxid: 41n });
    assert.is(records.length, 0);
    assert.is(await log.append(payloadOf(0)), 42n);
    await log.close();
    assert.equal(await segmentNames(join(folder, "current")), ["edits_00000000000000000042.log"]);
  });
});

// Byte fixtures on a single segment of 10 records (txids 1 to 10). `offsets[i]` is where
// record i starts, `offsets[10]` the end of the file.
type Fixture = {
  name: string;
  mutate: (bytes: Uint8Array, offsets: number[]) => Uint8Array;
} & (
  | { outcome: "cut"; cutAt: (offsets: number[], size: number) => number; records: number }
  | {
      outcome: "refuse";
      at: (offsets: number[]) => number;
      problem: RegExp;
      recoveredRecords: number;
      dropped: number;
    }
);

const sector = 512;
const garbage = Uint8Array.from({ length: 300 }, (_, index) => (index * 151 + 89) & 0xff);

/** The first record that a zeroed last sector reaches into. */
function firstRecordReaching(offsets: number[], from: number): number {
  return offsets.findIndex((_offset, index) => index < 10 && offsets[index + 1]! > from);
}

const fixtures: Fixture[] = [
  {
    name: "the last record cut short",
    mutate: (bytes, offsets) => bytes.subarray(0, offsets[9]! + recordHeaderBytes + 5),
    outcome: "cut",
    cutAt: (offsets) => offsets[9]!,
    records: 9,
  },
  {
    name: "the last record's header cut short",
    mutate: (bytes, offsets) => bytes.subarray(0, offsets[9]! + 7),
    outcome: "cut",
    cutAt: (offsets) => offsets[9]!,
    records: 9,
  },
  {
    name: "a bit flipped in the last record's payload",
    mutate: (bytes, offsets) => flipBit(bytes, offsets[9]! + recordHeaderBytes + 3),
    outcome: "cut",
    cutAt: (offsets) => offsets[9]!,
    records: 9,
  },
  {
    name: "a bit flipped in the last record's length",
    mutate: (bytes, offsets) => flipBit(bytes, offsets[9]! + 3, 0x10),
    outcome: "cut",
    cutAt: (offsets) => offsets[9]!,
    records: 9,
  },
  {
    name: "a bit flipped in the last record's checksum",
    mutate: (bytes, offsets) => flipBit(bytes, offsets[9]! + 15),
    outcome: "cut",
    cutAt: (offsets) => offsets[9]!,
    records: 9,
  },
  {
    name: "a zeroed sector over the end",
    mutate: (bytes) => concat(bytes.subarray(0, bytes.byteLength - sector), new Uint8Array(sector)),
    outcome: "cut",
    cutAt: (offsets, size) => offsets[firstRecordReaching(offsets, size - sector)]!,
    records: -1, // computed from cutAt
  },
  {
    name: "a zeroed sector appended",
    mutate: (bytes) => concat(bytes, new Uint8Array(sector)),
    outcome: "cut",
    cutAt: (_offsets, size) => size,
    records: 10,
  },
  {
    name: "garbage appended after the last record",
    mutate: (bytes) => concat(bytes, garbage),
    outcome: "cut",
    cutAt: (_offsets, size) => size,
    records: 10,
  },
  {
    name: "a record header appended whose length reaches past the end",
    mutate: (bytes) => {
      const partial = new Uint8Array(recordHeaderBytes + 10);
      const view = new DataView(partial.buffer);
      view.setUint32(0, 1000);
      view.setBigUint64(4, 11n);
      return concat(bytes, partial);
    },
    outcome: "cut",
    cutAt: (_offsets, size) => size,
    records: 10,
  },
  {
    name: "a header cut short (a roll torn by a crash)",
    mutate: (bytes) => bytes.subarray(0, 20),
    outcome: "cut",
    cutAt: () => 0,
    records: 0,
  },
  {
    name: "a bit flipped in a middle record's payload",
    mutate: (bytes, offsets) => flipBit(bytes, offsets[4]! + recordHeaderBytes + 5),
    outcome: "refuse",
    at: (offsets) => offsets[4]!,
    problem: /checksum mismatch/,
    recoveredRecords: 4,
    dropped: 6,
  },
  {
    name: "a bit flipped in a middle record's length",
    mutate: (bytes, offsets) => flipBit(bytes, offsets[4]! + 2),
    outcome: "refuse",
    at: (offsets) => offsets[4]!,
    problem: /checksum mismatch|cut short/,
    recoveredRecords: 4,
    dropped: 6,
  },
  {
    name: "a bit flipped in a middle record's txid",
    mutate: (bytes, offsets) => flipBit(bytes, offsets[4]! + 11),
    outcome: "refuse",
    at: (offsets) => offsets[4]!,
    problem: /checksum mismatch/,
    recoveredRecords: 4,
    dropped: 6,
  },
  {
    name: "a zeroed run in the middle",
    mutate: (bytes, offsets) => {
      const copy = bytes.slice();
      copy.fill(0, offsets[3]! + 10, offsets[3]! + 10 + 64);
      return copy;
    },
    outcome: "refuse",
    at: (offsets) => offsets[3]!,
    problem: /checksum mismatch/,
    recoveredRecords: 3,
    dropped: 7,
  },
  {
    name: "the last record written twice (valid checksum, txid goes back)",
    mutate: (bytes, offsets) => concat(bytes, bytes.subarray(offsets[9]!)),
    outcome: "refuse",
    at: (offsets) => offsets[10]!,
    problem: /txid discontinuity \(expected 11, found 10\)/,
    recoveredRecords: 10,
    dropped: 1,
  },
  {
    name: "a bit flipped in the header's magic",
    mutate: (bytes) => flipBit(bytes, 0),
    outcome: "refuse",
    at: () => 0,
    problem: /bad header magic/,
    recoveredRecords: 0,
    dropped: 10,
  },
  {
    name: "a bit flipped in the header's first txid",
    mutate: (bytes) => flipBit(bytes, 23),
    outcome: "refuse",
    at: () => 0,
    problem: /header checksum mismatch/,
    recoveredRecords: 0,
    dropped: 10,
  },
];

for (const fixture of fixtures) {
  test(`last segment fixture: ${fixture.name} → ${fixture.outcome}`, async () => {
    await withFolder(async (folder) => {
      const offsets = await writeLog(folder, 10);
      const path = join(folder, firstSegment);
      const pristine = new Uint8Array(await readFile(path));
      assert.is(pristine.byteLength, offsets[10]);
      const mutated = fixture.mutate(pristine, offsets);
      await writeFile(path, mutated);

      if (fixture.outcome === "cut") {
        const cutAt = fixture.cutAt(offsets, pristine.byteLength);
        const records = fixture.records >= 0 ? fixture.records : offsets.indexOf(cutAt);
        const opened = await EditLog.open(folder);
        assert.ok(opened.truncatedTail, "the tail was cut");
        assert.is(opened.truncatedTail.file, path);
        assert.is(opened.truncatedTail.offset, cutAt);
        assert.is(opened.droppedRecords, undefined);
        assert.equal(new Uint8Array(await readFile(opened.truncatedTail.brokenCopy)), mutated);
        assertRecords(opened, 1, records);
        assert.is(opened.log.lastTxid, BigInt(records));
        assert.is(await opened.log.append(payloadOf(records)), BigInt(records + 1));
        await opened.log.close();
        // Cut where said (or replaced whole when its header was torn), then appended to.
        const expectedSize =
          Math.max(cutAt, segmentHeaderBytes) + recordHeaderBytes + payloadOf(records).byteLength;
        assert.is((await stat(path)).size, expectedSize);
        const again = await EditLog.open(folder);
        assert.is(again.truncatedTail, undefined);
        assertRecords(again, 1, records + 1);
        await again.log.close();
        return;
      }

      const at = fixture.at(offsets);
      try {
        const opened = await EditLog.open(folder);
        await opened.log.close();
        assert.unreachable("the log opened");
      } catch (error) {
        if (!(error instanceof EditLogCorruptError)) throw error;
        assert.is(error.file, path);
        assert.is(error.offset, at);
        assert.match(
          error.message,
          new RegExp(`^Cannot open edit log segment ${firstSegment}: .* at offset ${at}$`),
        );
        assert.match(error.message, fixture.problem);
      }
      assert.equal(new Uint8Array(await readFile(path)), mutated, "left as it was");
      assert.equal(await brokenNames(folder), []);

      const recovered = await EditLog.open(folder, { recover: true });
      assert.is(recovered.droppedRecords, fixture.dropped);
      assert.ok(recovered.truncatedTail);
      assert.is(recovered.truncatedTail.offset, at);
      assert.equal(new Uint8Array(await readFile(recovered.truncatedTail.brokenCopy)), mutated);
      assertRecords(recovered, 1, fixture.recoveredRecords);
      const next = fixture.recoveredRecords + 1;
      assert.is(await recovered.log.append(payloadOf(next - 1)), BigInt(next));
      await recovered.log.close();
      const again = await EditLog.open(folder);
      assert.is(again.truncatedTail, undefined);
      assertRecords(again, 1, next);
      await again.log.close();
    });
  });
}

/** Two segments: txids 1 to 5 in the first, 6 to 10 in the second. */
async function writeTwoSegments(folder: string): Promise<number[]> {
  const { log } = await EditLog.open(folder);
  const offsets: number[] = [segmentHeaderBytes];
  for (let index = 0; index < 5; index++) {
    await log.append(payloadOf(index));
    offsets.push(offsets.at(-1)! + recordHeaderBytes + payloadOf(index).byteLength);
  }
  assert.is(await log.rollSegment(), 6n);
  for (let index = 5; index < 10; index++) await log.append(payloadOf(index));
  await log.close();
  assert.equal(await segmentNames(folder), [firstSegment, "edits_00000000000000000006.log"]);
  return offsets;
}

test("damage at the end of an older segment refuses to open, naming that segment", async () => {
  for (const damage of ["bit flip", "cut short"] as const) {
    await withFolder(async (folder) => {
      const offsets = await writeTwoSegments(folder);
      const path = join(folder, firstSegment);
      const bytes = new Uint8Array(await readFile(path));
      if (damage === "bit flip") await writeFile(path, flipBit(bytes, offsets[4]! + 30));
      else await truncate(path, offsets[4]! + 25);
      try {
        await EditLog.open(folder);
        assert.unreachable("the log opened");
      } catch (error) {
        if (!(error instanceof EditLogCorruptError)) throw error;
        assert.is(error.file, path);
        assert.is(error.offset, offsets[4]);
        assert.match(error.message, `Cannot open edit log segment ${firstSegment}: `);
      }
      assert.equal(await brokenNames(folder), []);

      const recovered = await EditLog.open(folder, { recover: true });
      assert.is(recovered.droppedRecords, 6);
      assertRecords(recovered, 1, 4);
      assert.equal(await segmentNames(folder), [firstSegment]);
      assert.equal(await brokenNames(folder), [
        `${firstSegment}.broken`,
        "edits_00000000000000000006.log.broken",
      ]);
      assert.is(await recovered.log.append(payloadOf(4)), 5n);
      await recovered.log.close();
      assertRecords(await openAndClose(folder), 1, 5);
    });
  }
});

test("a gap between segments refuses to open", async () => {
  await withFolder(async (folder) => {
    const { log } = await EditLog.open(folder);
    for (let index = 0; index < 6; index++) {
      await log.append(payloadOf(index));
      if (index % 2 === 1) await log.rollSegment();
    }
    await log.close();
    assert.equal(await segmentNames(folder), [
      firstSegment,
      "edits_00000000000000000003.log",
      "edits_00000000000000000005.log",
      "edits_00000000000000000007.log",
    ]);
    await rm(join(folder, "edits_00000000000000000003.log"));
    await rejects(
      () => EditLog.open(folder),
      (error: unknown) =>
        error instanceof EditLogCorruptError &&
        error.file === join(folder, "edits_00000000000000000005.log") &&
        /starts at txid 5 but the one before ends at txid 2/.test(error.message),
    );
  });
});

test("a newest segment whose creation was torn is set aside", async () => {
  await withFolder(async (folder) => {
    await writeTwoSegments(folder);
    const path = join(folder, "edits_00000000000000000006.log");
    await writeFile(path, new Uint8Array(0));
    const opened = await EditLog.open(folder);
    assert.equal(opened.truncatedTail, { file: path, offset: 0, brokenCopy: `${path}.broken` });
    assertRecords(opened, 1, 5);
    assert.is(await opened.log.append(payloadOf(5)), 6n);
    assert.is(await opened.log.rollSegment(), 7n);
    await opened.log.close();
    assert.equal(await segmentNames(folder), [firstSegment, "edits_00000000000000000007.log"]);
    assertRecords(await openAndClose(folder), 1, 6);
  });
});

test("a second repair keeps the first .broken copy", async () => {
  await withFolder(async (folder) => {
    const offsets = await writeLog(folder, 3);
    const path = join(folder, firstSegment);
    await truncate(path, offsets[3]! - 1);
    await (await EditLog.open(folder)).log.close();
    await truncate(path, offsets[2]! - 1);
    const second = await EditLog.open(folder);
    assert.is(second.truncatedTail?.brokenCopy, `${path}.broken.1`);
    await second.log.close();
    assert.equal(await brokenNames(folder), [`${firstSegment}.broken`, `${firstSegment}.broken.1`]);
  });
});

test("group commit: 200 concurrent appends share far fewer than 200 syncs", async () => {
  await withFolder(async (folder) => {
    const { log } = await EditLog.open(folder);
    const txids = await Promise.all(
      Array.from({ length: 200 }, (_, index) => log.append(payloadOf(index))),
    );
    assert.equal(
      txids,
      Array.from({ length: 200 }, (_, index) => BigInt(index + 1)),
    );
    assert.ok(log.syncCount < 50, `${log.syncCount} syncs`);
    // Appends spread over many turns of the event loop, while syncs are in progress.
    const spread: Promise<bigint>[] = [];
    for (let wave = 0; wave < 20; wave++) {
      for (let index = 0; index < 10; index++) {
        spread.push(log.append(payloadOf(200 + wave * 10 + index)));
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const spreadTxids = await Promise.all(spread);
    assert.equal(
      spreadTxids,
      Array.from({ length: 200 }, (_, index) => BigInt(201 + index)),
    );
    await log.close();
    assertRecords(await openAndClose(folder), 1, 400);
  });
});

/** A segment file whose syncs wait for a gate, and which can be told to fail. */
function instrumented() {
  const counts = { writes: 0, datasyncs: 0 };
  const control = {
    counts,
    gate: undefined as Promise<void> | undefined,
    failWrite: undefined as Error | undefined,
    failSync: undefined as Error | undefined,
  };
  const openSegmentFile = async (path: string, flags: "r+" | "wx"): Promise<SegmentFile> => {
    const { open } = await import("node:fs/promises");
    const handle = await open(path, flags);
    return {
      async write(bytes, position) {
        counts.writes++;
        if (control.failWrite) throw control.failWrite;
        return (await handle.write(bytes, 0, bytes.byteLength, position)).bytesWritten;
      },
      async datasync() {
        counts.datasyncs++;
        if (control.gate) await control.gate;
        if (control.failSync) throw control.failSync;
        await handle.datasync();
      },
      sync: () => handle.sync(),
      close: () => handle.close(),
    };
  };
  return { control, openSegmentFile };
}

function errnoError(code: string, syscall: string): Error {
  return Object.assign(new Error(`${code}: injected failure, ${syscall}`), { code });
}

test("appends made while a sync is in progress go out in one write and one sync", async () => {
  await withFolder(async (folder) => {
    const { control, openSegmentFile } = instrumented();
    const { log } = await EditLog.open(folder, { openSegmentFile });
    const before = { ...control.counts };
    let release!: () => void;
    control.gate = new Promise((resolve) => {
      release = resolve;
    });
    const first = log.append(payloadOf(0));
    await spinUntil(() => control.counts.datasyncs !== before.datasyncs, "the first sync");
    const waiting = [1, 2, 3, 4].map((index) => log.append(payloadOf(index)));
    assert.is(control.counts.writes - before.writes, 1, "only the first record is written");
    control.gate = undefined;
    release();
    assert.equal(await Promise.all([first, ...waiting]), [1n, 2n, 3n, 4n, 5n]);
    assert.is(control.counts.writes - before.writes, 2);
    assert.is(control.counts.datasyncs - before.datasyncs, 2);
    assert.is(log.syncCount, 2);
    await log.close();
    assertRecords(await openAndClose(folder), 1, 5);
  });
});

test("a batch appended while another syncs starts its own sync at once, and is acknowledged after it", async () => {
  await withFolder(async (folder) => {
    const { control, openSegmentFile } = instrumented();
    const { log } = await EditLog.open(folder, { openSegmentFile });
    const before = { ...control.counts };
    let release!: () => void;
    control.gate = new Promise((resolve) => {
      release = resolve;
    });
    const acknowledged: bigint[] = [];
    const note = (txid: bigint) => {
      acknowledged.push(txid);
      return txid;
    };
    const first = log.append(payloadOf(0)).then(note);
    await spinUntil(() => control.counts.datasyncs - before.datasyncs >= 1, "the first sync");
    const second = log.append(payloadOf(1)).then(note);
    // The second batch is written and its sync started while the first sync still waits.
    await spinUntil(() => control.counts.datasyncs - before.datasyncs >= 2, "the second sync");
    assert.is(control.counts.writes - before.writes, 2);
    assert.equal(acknowledged, []);
    control.gate = undefined;
    release();
    assert.equal(await Promise.all([first, second]), [1n, 2n]);
    assert.equal(acknowledged, [1n, 2n], "acknowledged in txid order");
    assert.is(log.durableTxid, 2n);
    await log.close();
    assertRecords(await openAndClose(folder), 1, 2);
  });
});

test("at most 2 syncs run at once; appends made meanwhile wait and go out as one batch", async () => {
  await withFolder(async (folder) => {
    const { control, openSegmentFile } = instrumented();
    const { log } = await EditLog.open(folder, { openSegmentFile });
    const before = { ...control.counts };
    let release!: () => void;
    control.gate = new Promise((resolve) => {
      release = resolve;
    });
    const appends: Promise<bigint>[] = [];
    for (let index = 0; index < 2; index++) {
      appends.push(log.append(payloadOf(index)));
      await spinUntil(
        () => control.counts.datasyncs - before.datasyncs >= index + 1,
        `sync ${index + 1}`,
      );
    }
    for (let index = 2; index < 8; index++) appends.push(log.append(payloadOf(index)));
    for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.is(control.counts.datasyncs - before.datasyncs, 2, "no third sync while 2 run");
    assert.is(control.counts.writes - before.writes, 2);
    control.gate = undefined;
    release();
    assert.equal(
      await Promise.all(appends),
      Array.from({ length: 8 }, (_, index) => BigInt(index + 1)),
    );
    assert.is(control.counts.writes - before.writes, 3, "the 6 waiting appends in one write");
    assert.is(control.counts.datasyncs - before.datasyncs, 3);
    await log.close();
    assertRecords(await openAndClose(folder), 1, 8);
  });
});

test("a failed fdatasync rejects every waiting append, and every later one at once", async () => {
  await withFolder(async (folder) => {
    const { control, openSegmentFile } = instrumented();
    const { log } = await EditLog.open(folder, { openSegmentFile });
    assert.is(await log.append(payloadOf(0)), 1n);
    let release!: () => void;
    control.gate = new Promise((resolve) => {
      release = resolve;
    });
    control.failSync = errnoError("EIO", "fdatasync");
    const syncing = log.append(payloadOf(1));
    await spinUntil(() => control.counts.datasyncs >= 2, "the failing sync");
    const buffered = [log.append(payloadOf(2)), log.append(payloadOf(3))];
    release();
    await rejects(
      () => syncing,
      /^Cannot append to edit log: fdatasync of edits_\d{20}\.log failed: EIO/,
    );
    for (const append of buffered) {
      await rejects(() => append, /^Cannot append to edit log: the log failed earlier: EIO/);
    }
    await rejects(
      () => log.append(payloadOf(4)),
      /^Cannot append to edit log: the log failed earlier: EIO/,
    );
    await rejects(() => log.rollSegment(), /the log failed earlier: EIO/);
    assert.is(log.durableTxid, 1n);
    await log.close();
  });
});

test("a failed write (ENOSPC) fails the log", async () => {
  await withFolder(async (folder) => {
    const { control, openSegmentFile } = instrumented();
    const { log } = await EditLog.open(folder, { openSegmentFile });
    assert.is(await log.append(payloadOf(0)), 1n);
    control.failWrite = errnoError("ENOSPC", "write");
    const results = await Promise.allSettled([log.append(payloadOf(1)), log.append(payloadOf(2))]);
    for (const result of results) {
      assert.is(result.status, "rejected");
      assert.match(
        String((result as PromiseRejectedResult).reason),
        /Cannot append to edit log: writing edits_\d{20}\.log failed: ENOSPC/,
      );
    }
    control.failWrite = undefined;
    await rejects(() => log.append(payloadOf(3)), /the log failed earlier: ENOSPC/);
    await log.close();
    assertRecords(await openAndClose(folder), 1, 1);
  });
});

test("appends after close are refused", async () => {
  await withFolder(async (folder) => {
    const { log } = await EditLog.open(folder);
    const pending = log.append(payloadOf(0));
    await log.close();
    assert.is(await pending, 1n);
    await rejects(() => log.append(payloadOf(1)), /Cannot append to edit log: it is closed/);
  });
});

test("rollSegment starts a segment at lastTxid + 1; appends after it go there", async () => {
  await withFolder(async (folder) => {
    const { log } = await EditLog.open(folder);
    const before = log.append(payloadOf(0));
    const rolled = log.rollSegment();
    const after = log.append(payloadOf(1));
    assert.equal(await Promise.all([before, rolled, after]), [1n, 2n, 2n]);
    assert.is(await log.rollSegment(), 3n);
    assert.is(await log.rollSegment(), 3n, "an empty segment is not rolled again");
    await log.close();
    assert.equal(await segmentNames(folder), [
      firstSegment,
      "edits_00000000000000000002.log",
      "edits_00000000000000000003.log",
    ]);
    assertRecords(await openAndClose(folder), 1, 2);
  });
});

test("segments roll at segmentBytesMax; dropSegmentsThrough deletes only whole old segments", async () => {
  await withFolder(async (folder) => {
    const { log } = await EditLog.open(folder, { segmentBytesMax: 1024 });
    for (let index = 0; index < 50; index++) await log.append(payloadOf(index));
    const names = await segmentNames(folder);
    assert.ok(names.length >= 4, `${names.length} segments`);
    for (const name of names.slice(0, -1)) {
      const size = (await stat(join(folder, name))).size;
      assert.ok(size >= 1024 && size < 1024 + 200, `${name} is ${size} bytes`);
    }
    const firstTxids = names.map((name) => BigInt(name.slice(6, 26)));
    const dropped = await log.dropSegmentsThrough(20n);
    const kept = await segmentNames(folder);
    assert.is(dropped, names.length - kept.length);
    assert.ok(dropped >= 1);
    // The oldest kept segment holds txid 21; every deleted one ended at or before 20.
    const oldestKept = BigInt(kept[0]!.slice(6, 26));
    assert.ok(oldestKept <= 21n);
    assert.ok(firstTxids[dropped]! === oldestKept);
    assertRecords(await openAndClose(folder, { afterTxid: 20n }), 21, 30);
    await rejects(() => EditLog.open(folder), /txids 1 to \d+ are missing/);

    assert.is(await log.dropSegmentsThrough(1000n), kept.length - 1);
    assert.equal(await segmentNames(folder), [names.at(-1)!], "the newest segment stays");
    assert.is(await log.append(payloadOf(50)), 51n);
    await log.close();
    const reopened = await EditLog.open(folder, { afterTxid: 50n, segmentBytesMax: 1024 });
    assertRecords(reopened, 51, 1);
    await reopened.log.close();
  });
});

test("an oversized payload is refused without failing the log", async () => {
  await withFolder(async (folder) => {
    const { log } = await EditLog.open(folder);
    await rejects(
      () => log.append(new Uint8Array(16 * 1024 * 1024 + 1)),
      (error) => error instanceof RangeError,
    );
    assert.is(await log.append(payloadOf(0)), 1n);
    await log.close();
  });
});

test.run();
