import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createLogger, type LoggerOptions } from "../../protocol/logger.js";

/** A logger whose lines land in `lines`, parsed. */
function capture(options: Omit<LoggerOptions, "destination">) {
  const lines: Record<string, unknown>[] = [];
  let pending = "";
  const destination = new Writable({
    write(piece: Buffer | string, _encoding, done) {
      pending += piece.toString();
      let end = pending.indexOf("\n");
      while (end !== -1) {
        lines.push(JSON.parse(pending.slice(0, end)));
        pending = pending.slice(end + 1);
        end = pending.indexOf("\n");
      }
      done();
    },
  });
  return { log: createLogger({ ...options, destination }), lines };
}

test("each log call writes one JSON line with the daemon name, level, time and message", () => {
  const { log, lines } = capture({ name: "namenode", env: {} });
  log.info({ path: "/a/b", durationMs: 3 }, "file created");
  assert.is(lines.length, 1);
  const line = lines[0]!;
  assert.is(line.name, "namenode");
  assert.is(line.level, 30);
  assert.type(line.time, "number");
  assert.is(line.msg, "file created");
  assert.is(line.path, "/a/b");
  assert.is(line.durationMs, 3);
});

test("bigint fields are written as decimal strings, beyond the range of a double", () => {
  const { log, lines } = capture({ name: "datanode", env: {} });
  log.info({ chunkId: 18446744073709551615n, generation: 7n }, "chunk written");
  assert.is(lines[0]!.chunkId, "18446744073709551615");
  assert.is(lines[0]!.generation, "7");
});

test("bigints nested in objects and arrays are written as strings too", () => {
  const { log, lines } = capture({ name: "datanode", env: {} });
  const report = { chunks: [{ chunkId: 1n, sizeBytes: 10 }, 2n], total: { count: 3n } };
  log.info({ report }, "block report");
  assert.equal(lines[0]!.report, {
    chunks: [{ chunkId: "1", sizeBytes: 10 }, "2"],
    total: { count: "3" },
  });
  assert.is(report.total.count, 3n, "the logged object is not changed");
});

test("bigints in child logger bindings are written as strings", () => {
  const { log, lines } = capture({ name: "client", env: {} });
  log.child({ chunkId: 42n }).warn("retrying");
  assert.is(lines[0]!.chunkId, "42");
  assert.is(lines[0]!.name, "client");
  log.child({ chunkId: 43n }, { level: "debug" }).child({ generation: 2n }).debug("deeper");
  assert.is(lines[1]!.chunkId, "43");
  assert.is(lines[1]!.generation, "2");
});

test("a logged error keeps its message and stack, and its bigint fields become strings", () => {
  const { log, lines } = capture({ name: "namenode", env: {} });
  const error = Object.assign(new Error("Cannot open chunk 9: gone"), { chunkId: 9n });
  log.error({ err: error }, "read failed");
  log.error(error);
  for (const line of lines) {
    const err = line.err as Record<string, unknown>;
    assert.is(err.message, "Cannot open chunk 9: gone");
    assert.is(err.chunkId, "9");
    assert.type(err.stack, "string");
  }
  assert.is(error.chunkId, 9n, "the error is not changed");
});

test("buffers and class instances are logged as pino would, not walked", () => {
  const { log, lines } = capture({ name: "datanode", env: {} });
  log.info({ tags: new Set([1]), when: new Date(0) }, "odd values");
  assert.equal(lines[0]!.tags, {});
  assert.is(lines[0]!.when, "1970-01-01T00:00:00.000Z");
});

test("a file descriptor can be the destination", () => {
  const folder = mkdtempSync(join(tmpdir(), "bigfs-logger-"));
  try {
    const file = join(folder, "daemon.log");
    const fd = openSync(file, "w");
    const log = createLogger({ name: "namenode", destination: fd, env: {} });
    log.info({ chunkId: 5n }, "to a file");
    log.flush();
    closeSync(fd);
    const line = JSON.parse(readFileSync(file, "utf8"));
    assert.is(line.chunkId, "5");
    assert.is(line.msg, "to a file");
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("the level given is respected: quieter calls write nothing", () => {
  const { log, lines } = capture({ name: "namenode", level: "warn", env: {} });
  log.debug("not written");
  log.info("not written");
  log.warn("written");
  log.error("written");
  assert.equal(
    lines.map((line) => line.level),
    [40, 50],
  );
});

test("the level defaults to info", () => {
  const { log, lines } = capture({ name: "namenode", env: {} });
  log.debug("not written");
  log.info("written");
  assert.is(lines.length, 1);
  assert.is(log.level, "info");
});

test("BIGFS_LOG_LEVEL sets the level when none is given, and loses to one that is", () => {
  assert.is(capture({ name: "n", env: { BIGFS_LOG_LEVEL: "debug" } }).log.level, "debug");
  assert.is(capture({ name: "n", env: { BIGFS_LOG_LEVEL: "" } }).log.level, "info");
  const given = capture({ name: "n", level: "error", env: { BIGFS_LOG_LEVEL: "debug" } });
  assert.is(given.log.level, "error");
});

test("an unknown level is refused, naming where it came from", () => {
  assert.throws(
    () => capture({ name: "n", env: { BIGFS_LOG_LEVEL: "loud" } }),
    (error: unknown) =>
      error instanceof RangeError && /BIGFS_LOG_LEVEL "loud" is not one of/.test(error.message),
  );
});

test.run();
