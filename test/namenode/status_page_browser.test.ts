/**
 * The NameNode's status page in a real headless browser (Debian's Chromium through
 * playwright-core) against a real cluster: one NameNode and three DataNodes as processes, with
 * heartbeats every 200 ms and death after 2 s of silence. The page is loaded once and never
 * reloaded or navigated by the test, so every change after the first load reaches it through
 * its own refresh. The tests share the cluster and the page and run in order. The page as it
 * shows a dead DataNode is saved to `test-artifacts/status_page.png`.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { deriveChunkTokenKey, dial, formatSize } from "#protocol";
import { distDir } from "../helpers/daemon.js";
import { type HeadlessChromium, launchChromium } from "../helpers/headless_chromium.js";
import { ProcessCluster } from "../helpers/process_cluster.js";
import { waitFor } from "../helpers/wait.js";

const datanodeCount = 3;
const capacityBytesEach = 32 * 1024 ** 2;
const chunkBytes = 64 * 1024;
/** 17 chunks, the last one short. */
const fileBytes = 16 * chunkBytes + 1_000;
const fileChunks = Math.ceil(fileBytes / chunkBytes);
const filePath = "/data/sample.bin";
/** Dead after 2 s of silence, then up to one page refresh, on a busy two-core machine. */
const deathShownWithinMs = 20_000;
const screenshotPath = join(dirname(distDir), "test-artifacts", "status_page.png");
/** Set on the page's window once; gone if the page is ever loaded again. */
const loadMarker = "bigfsFirstLoad";

/** What the page shows, read in one go inside the browser. */
interface PageView {
  generatedAtMs: number;
  /** The value of the marker set on the first load; undefined after a navigation. */
  loadMarker: unknown;
  stale: string | undefined;
  safeMode: string | undefined;
  /** Each DataNode row's cells by their column's heading, so a new column moves nothing. */
  datanodes: { id: string; state: string; cells: Record<string, string> }[];
  summary: Record<string, string>;
  chunkStatus: Record<string, string>;
  events: { kind: string; text: string }[];
}

let cluster: ProcessCluster;
let browser: HeadlessChromium | undefined;
/** Why the cluster or the browser did not start; every test fails with it. */
let setupError: unknown;
const pageErrors: string[] = [];

// uvu drops an error thrown by a `before` hook without printing it, so it is kept for the tests.
test.before(async () => {
  try {
    // The browser first: without it, fail at once with how to install it.
    browser = await launchChromium();
    cluster = await ProcessCluster.start({
      datanodes: datanodeCount,
      datanodeFlags: ["--capacity", `${capacityBytesEach}`],
    });
    const { page } = browser;
    page.on("pageerror", (error) => pageErrors.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(`console: ${message.text()}`);
    });
    const response = await page.goto(statusPageUrl());
    if (response?.status() !== 200) throw new Error(`GET / answered ${response?.status()}`);
    await page.evaluate(`window.${loadMarker} = "yes"`);
  } catch (error) {
    setupError = error;
  }
});

test.before.each(() => {
  if (setupError !== undefined) throw setupError;
});

test.after(async () => {
  await browser?.close();
  await cluster?.stop();
});

test("the page lists every DataNode by id and address, each live", async () => {
  // The cluster was started only once the NameNode counted every DataNode live.
  const view = await readView();
  assert.is(view.datanodes.length, datanodeCount, "one row per DataNode");
  for (let index = 0; index < datanodeCount; index++) {
    const row = rowOf(view, cluster.idOf(index));
    assert.is(row.state, "live");
    assert.is(row.cells.Id, cluster.idOf(index));
    assert.is(row.cells.Address, advertisedAddressOf(index));
    assert.is(row.cells.State, "live");
  }
  assert.is(view.summary["datanode-counts"], "3 live, 0 dead, 0 decommissioning, 0 decommissioned");
  assert.is(view.summary.capacity, formatSize(datanodeCount * capacityBytesEach));
});

test("after a small upload the summary counts the file, its chunks and the bytes stored", async () => {
  await cluster.client.mkdir("/data", { parents: true });
  await cluster.client.put(Readable.from([randomBytes(fileBytes)]), filePath);
  // What the DataNodes hold on disk, data and checksums: what they count as used.
  const footprints = await Promise.all(
    Array.from({ length: datanodeCount }, (_, index) => cluster.footprintBytesOn(index)),
  );
  const usedBytes = footprints.reduce((sum, bytes) => sum + bytes, 0);
  assert.ok(usedBytes >= datanodeCount * fileBytes, "three replicas of every byte on disk");
  const capacityBytes = datanodeCount * capacityBytesEach;
  const used = `${formatSize(usedBytes)} of ${formatSize(capacityBytes)}`;
  const view = await waitForView(
    (shown) =>
      shown.summary.files === "1" &&
      shown.chunkStatus.healthy === String(fileChunks) &&
      shown.summary.used?.startsWith(used) === true,
    `the page to show 1 file, ${fileChunks} healthy chunks and ${used} used`,
  );
  assert.is(view.safeMode, "false", "the NameNode is in service");
  assert.is(view.summary.directories, "2", "/ and /data");
  assert.is(view.summary.chunks, String(fileChunks));
  assert.is(view.summary["files-under-construction"], "0");
  assert.is(view.summary.remaining, formatSize(capacityBytes - usedBytes));
  const percent = ((100 * usedBytes) / capacityBytes).toFixed(1);
  assert.is(view.summary.used, `${used} (${percent}%)`);
  for (const status of ["under-replicated", "over-replicated", "corrupt", "missing"]) {
    assert.is(view.chunkStatus[status], "0", status);
  }
  for (let index = 0; index < datanodeCount; index++) {
    const row = rowOf(view, cluster.idOf(index));
    assert.is(row.cells.Replicas, String(fileChunks), `replicas on DataNode ${index}`);
    const usedHere = `${formatSize(footprints[index]!)} of ${formatSize(capacityBytesEach)}`;
    assert.ok(
      row.cells["Used of capacity"]?.startsWith(usedHere),
      `DataNode ${index}: ${row.cells["Used of capacity"]}`,
    );
  }
});

test("a DataNode killed with SIGKILL shows as dead on the page, which refreshes by itself", async () => {
  const before = await readView();
  const victim = cluster.idOf(1);
  await cluster.killDatanode(1);
  // Only two DataNodes are left for three replicas: every chunk stays under-replicated.
  const view = await waitForView(
    (shown) =>
      rowOf(shown, victim).state === "dead" &&
      shown.chunkStatus["under-replicated"] === String(fileChunks),
    `the page to show DataNode ${victim} dead and ${fileChunks} chunks under-replicated`,
    deathShownWithinMs,
  );
  // Saved before the assertions below, so that it is there to look at when one fails.
  await mkdir(dirname(screenshotPath), { recursive: true });
  await browser!.page.screenshot({ path: screenshotPath, fullPage: true });
  const png = await readFile(screenshotPath);
  assert.ok(png.subarray(0, 8).equals(Buffer.from("\x89PNG\r\n\x1a\n", "latin1")), "a PNG");

  assert.is(view.loadMarker, "yes", "the page refreshed in place, it was not loaded again");
  assert.ok(view.generatedAtMs > before.generatedAtMs, "the figures are newer");
  assert.is(view.stale, "false", "the last refresh reached the NameNode");
  assert.is(rowOf(view, victim).cells.State, "dead");
  for (const index of [0, 2]) assert.is(rowOf(view, cluster.idOf(index)).state, "live");
  assert.is(view.summary["datanode-counts"], "2 live, 1 dead, 0 decommissioning, 0 decommissioned");
  assert.is(view.summary.capacity, formatSize(2 * capacityBytesEach), "alive DataNodes only");
  assert.is(view.chunkStatus.healthy, "0");
  const death = view.events.find((event) => event.kind === "datanode-dead");
  assert.ok(death?.text.includes(`DataNode ${victim} declared dead`), JSON.stringify(view.events));
  assert.ok(death?.text.includes(`(${fileChunks} replicas lost)`), death?.text);
  assert.equal(pageErrors, [], "the page's script ran without an error");
});

test("the page never shows the secret, the chunk token key or a chunk token", async () => {
  const { page } = browser!;
  const html = await page.content();
  // biome-ignore lint/performance/useDomNodeTextContent: the text a person sees, without the script
  const text = await page.locator("body").innerText();
  const namenode = await dial(
    { host: "127.0.0.1", port: cluster.namenodePort },
    { secret: cluster.secret, role: "client" },
  );
  let tokens: Uint8Array[];
  try {
    tokens = (await namenode.request("OPEN", { path: filePath })).chunks.map((c) => c.token);
  } finally {
    namenode.close();
  }
  assert.is(tokens.length, fileChunks);
  const secrets = [cluster.secret, deriveChunkTokenKey(cluster.secret), ...tokens];
  for (const secret of secrets) {
    const bytes = Buffer.from(secret);
    for (const encoding of ["latin1", "hex", "base64", "base64url"] as const) {
      const form = bytes.toString(encoding);
      assert.not.ok(html.includes(form), `${bytes.length} secret bytes in the page, ${encoding}`);
    }
  }
  assert.not.match(text, /secret|token/i);
  assert.not.match(text, /[0-9a-f]{32,}/i, "no long hex string");
  assert.not.match(text, /[A-Za-z0-9+/]{40,}/, "no long base64 string");
  // The words and numbers are there: this is the page, not an error.
  assert.ok(text.includes(cluster.idOf(0)), text);
});

test.run();

function statusPageUrl(): string {
  const line = cluster.namenode.lines.find((entry) => entry.msg === "NameNode listening");
  if (line === undefined) throw new Error("The NameNode never logged its HTTP port");
  return `http://127.0.0.1:${Number(line.httpPort)}/`;
}

function advertisedAddressOf(index: number): string {
  const line = cluster.datanode(index)?.lines.find((entry) => entry.msg === "DataNode started");
  if (line === undefined) throw new Error(`DataNode ${index} never logged its address`);
  return String(line.address);
}

function rowOf(view: PageView, datanodeId: string): PageView["datanodes"][number] {
  const row = view.datanodes.find((datanode) => datanode.id === datanodeId);
  if (row === undefined) throw new Error(`The page lists no DataNode ${datanodeId}`);
  return row;
}

/** Reads the page as it is now, in one pass, so that a refresh cannot land halfway through. */
async function readView(): Promise<PageView> {
  return browser!.page.locator("#status").evaluate((status, marker): PageView => {
    const text = (element: { textContent: string | null } | null) =>
      (element?.textContent ?? "").trim();
    const byData = (attribute: string) =>
      Object.fromEntries(
        [...status.querySelectorAll(`[data-${attribute}]`)].map((element) => [
          element.getAttribute(`data-${attribute}`) ?? "",
          text(element),
        ]),
      );
    const window = status.ownerDocument.defaultView as unknown as Record<string, unknown>;
    const headings = [...status.querySelectorAll("#datanodes thead th")].map(text);
    return {
      generatedAtMs: Number(status.getAttribute("data-generated-at-ms")),
      loadMarker: window[marker],
      stale: status.ownerDocument.body.dataset.stale,
      safeMode: status.querySelector("#safe-mode")?.getAttribute("data-safe-mode") ?? undefined,
      datanodes: [...status.querySelectorAll("tr[data-datanode-id]")].map((row) => ({
        id: row.getAttribute("data-datanode-id") ?? "",
        state: row.getAttribute("data-state") ?? "",
        cells: Object.fromEntries(
          [...row.querySelectorAll("td")].map((cell, index) => [
            headings[index] ?? index,
            text(cell),
          ]),
        ),
      })),
      summary: byData("summary"),
      chunkStatus: byData("chunk-status"),
      events: [...status.querySelectorAll("li[data-event-kind]")].map((item) => ({
        kind: item.getAttribute("data-event-kind") ?? "",
        text: text(item),
      })),
    };
  }, loadMarker);
}

/** Waits until the page, refreshing by itself, satisfies `predicate`; resolves with that view. */
async function waitForView(
  predicate: (view: PageView) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<PageView> {
  let last: PageView | undefined;
  try {
    return await waitFor(
      async () => {
        last = await readView();
        return predicate(last) ? last : undefined;
      },
      timeoutMs,
      { what, intervalMs: 100 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; the page last showed ${JSON.stringify(last)}`);
  }
}
