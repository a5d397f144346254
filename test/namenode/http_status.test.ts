import { createServer } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NameNode, parseNamenodeConfig } from "#namenode";
import { createLogger } from "#protocol";
import { fetchMetrics, fetchText } from "../helpers/http_side_port.js";
import {
  Harness,
  type LogLine,
  rejection,
  testSecret,
  writeFile,
} from "../helpers/namenode_harness.js";
import { waitFor } from "../helpers/wait.js";

const deadlineMs = 5_000;
/** A DataNode id as a hostile peer might choose it: the page must show it as text. */
const hostileId = `dn-<script>alert("x")</script>&'`;

async function withHarness(body: (harness: Harness) => Promise<void>): Promise<void> {
  const harness = new Harness();
  try {
    await body(harness);
  } finally {
    await harness.cleanup();
  }
}

/** A NameNode with two fake DataNodes and one file of two chunks on both. */
async function smallCluster(harness: Harness, logLines?: LogLine[]): Promise<NameNode> {
  const namenode = await harness.start(
    await harness.folder(),
    ["--replication", "2"],
    logLines ? { logLines } : {},
  );
  const first = await harness.datanode(namenode, "dn-1");
  const second = await harness.datanode(namenode, hostileId);
  const client = await harness.client(namenode);
  await writeFile(
    client,
    "/data/a",
    [
      { size: 10, xxh64: 1n },
      { size: 20, xxh64: 2n },
    ],
    {
      reportFrom: [first, second],
      replication: 2,
    },
  );
  // One refused request, to be counted as an error.
  await rejection(client.request("STAT", { path: "/missing" }));
  return namenode;
}

test("/health answers ok with the safe mode state, and the bound port is logged", async () => {
  await withHarness(async (harness) => {
    const logLines: LogLine[] = [];
    const namenode = await smallCluster(harness, logLines);
    const { status, headers, body } = await fetchText(namenode.httpAddress, "/health");
    assert.is(status, 200);
    assert.match(headers.get("content-type") ?? "", /^application\/json/);
    const health = JSON.parse(body) as Record<string, unknown>;
    assert.is(health.status, "ok");
    assert.is(health.safeMode, false);
    assert.is(health.liveDatanodes, 2);
    const listening = logLines.find((line) => line.msg === "HTTP listening");
    assert.is(listening?.httpPort, namenode.httpAddress.port);
    const started = logLines.find((line) => line.msg === "NameNode listening");
    assert.is(started?.httpPort, namenode.httpAddress.port);
  });
});

test("/metrics reports requests, chunks, DataNodes, heartbeats, the edit log and replication", async () => {
  await withHarness(async (harness) => {
    const namenode = await smallCluster(harness);
    const metrics = await fetchMetrics(namenode.httpAddress);
    assert.is(metrics.types.get("bigfs_requests_total"), "counter");
    assert.is(metrics.value("bigfs_requests_total", { message: "REGISTER" }), 2);
    assert.is(metrics.value("bigfs_requests_total", { message: "COMPLETE" }), 1);
    assert.is(
      metrics.value("bigfs_request_errors_total", { message: "STAT", code: "NOT_FOUND" }),
      1,
    );
    assert.ok(metrics.value("bigfs_request_duration_seconds_count", { message: "CREATE" }) >= 1);
    assert.is(metrics.value("bigfs_namenode_safe_mode"), 0);
    assert.is(metrics.value("bigfs_namenode_files"), 1);
    assert.is(metrics.value("bigfs_namenode_directories"), 2);
    assert.is(metrics.value("bigfs_namenode_chunks"), 2);
    assert.is(metrics.value("bigfs_namenode_chunks_by_status", { status: "healthy" }), 2);
    for (const status of ["under_replicated", "over_replicated", "corrupt", "missing"]) {
      assert.is(metrics.value("bigfs_namenode_chunks_by_status", { status }), 0, status);
    }
    assert.is(metrics.value("bigfs_namenode_datanodes", { state: "live" }), 2);
    assert.is(metrics.value("bigfs_namenode_datanodes", { state: "dead" }), 0);
    assert.is(metrics.value("bigfs_namenode_capacity_bytes"), 2 * 1024 ** 4);
    for (const datanode of ["dn-1", hostileId]) {
      const ageSeconds = metrics.value("bigfs_namenode_datanode_heartbeat_age_seconds", {
        datanode,
      });
      assert.ok(ageSeconds >= 0 && ageSeconds < 5, `${datanode}: ${ageSeconds}`);
    }
    const syncs = metrics.value("bigfs_namenode_edit_log_syncs_total");
    assert.ok(syncs >= 1);
    assert.is(metrics.types.get("bigfs_namenode_edit_log_sync_duration_seconds"), "histogram");
    assert.ok(metrics.value("bigfs_namenode_edit_log_sync_duration_seconds_count") >= syncs);
    assert.ok(metrics.value("bigfs_namenode_edit_log_txid") >= 4);
    assert.is(metrics.value("bigfs_namenode_replication_queue_chunks", { priority: "0" }), 0);
    assert.is(metrics.value("bigfs_namenode_replication_in_flight", { work: "copy" }), 0);
    assert.is(metrics.value("bigfs_namenode_replications_completed_total"), 0);
    assert.ok(metrics.value("process_cpu_seconds_total") > 0);
  });
});

test("the status page lists every DataNode as escaped text, and never the secret", async () => {
  await withHarness(async (harness) => {
    const namenode = await smallCluster(harness);
    const { status, headers, body } = await fetchText(namenode.httpAddress, "/");
    assert.is(status, 200);
    assert.match(headers.get("content-type") ?? "", /^text\/html/);
    assert.match(headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.match(body, /<tr data-datanode-id="dn-1" data-state="live">/);
    assert.ok(
      body.includes(
        `data-datanode-id="dn-&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;&#39;"`,
      ),
    );
    assert.not.ok(body.includes("<script>alert"), "a DataNode id is never markup");
    assert.match(body, /<dd data-summary="files">1<\/dd>/);
    assert.match(body, /<dd data-chunk-status="healthy">2<\/dd>/);
    assert.match(body, /data-event-kind="datanode-registered"/);
    assert.match(body, /data-event-kind="safe-mode-left"/);
    const secretForms = [
      testSecret.toString("latin1"),
      testSecret.toString("hex"),
      testSecret.toString("base64"),
    ];
    for (const form of secretForms) assert.not.ok(body.includes(form), "the secret is not shown");
    const json = await fetchText(namenode.httpAddress, "/status.json");
    for (const form of secretForms) assert.not.ok(json.body.includes(form));
    const figures = JSON.parse(json.body) as {
      summary: { files: number };
      datanodes: { id: string }[];
    };
    assert.is(figures.summary.files, 1);
    assert.equal(figures.datanodes.map((datanode) => datanode.id).sort(), ["dn-1", hostileId]);
  });
});

test("a DataNode that goes silent shows as dead on the page, then as returned", async () => {
  await withHarness(async (harness) => {
    const namenode = await harness.start(await harness.folder());
    await harness.datanode(namenode, "dn-stays");
    const leaving = await harness.datanode(namenode, "dn-leaves");
    leaving.stopHeartbeats();
    const body = await waitFor(
      async () => {
        const page = await fetchText(namenode.httpAddress, "/");
        const dead = page.body.includes(`data-datanode-id="dn-leaves" data-state="dead"`);
        return dead ? page.body : undefined;
      },
      deadlineMs,
      { what: "the page to show dn-leaves dead" },
    );
    assert.match(body, /data-datanode-id="dn-stays" data-state="live"/);
    assert.match(
      body,
      /data-event-kind="datanode-dead">[^<]*<time[^>]*>[^<]*<\/time> DataNode dn-leaves declared dead/,
    );
    const metrics = await fetchMetrics(namenode.httpAddress);
    assert.is(metrics.value("bigfs_namenode_datanodes", { state: "dead" }), 1);
    await leaving.register();
    leaving.startHeartbeats();
    const back = await fetchText(namenode.httpAddress, "/");
    assert.match(back.body, /data-datanode-id="dn-leaves" data-state="live"/);
    assert.match(back.body, /data-event-kind="datanode-returned"/);
  });
});

test("a corrupt replica shows in chunk health, the metrics and the events", async () => {
  await withHarness(async (harness) => {
    const namenode = await harness.start(await harness.folder(), ["--replication", "2"]);
    const first = await harness.datanode(namenode, "dn-1");
    const second = await harness.datanode(namenode, "dn-2");
    const client = await harness.client(namenode);
    const written = await writeFile(client, "/f", [{ size: 10, xxh64: 1n }], {
      reportFrom: [first, second],
      replication: 2,
    });
    const chunk = written.chunks[0]!;
    await first.connection.request("REPORT_CORRUPT", {
      datanodeId: "dn-1",
      chunkId: chunk.id,
      generation: chunk.generation,
      reason: "checksum <mismatch>",
    });
    // Chunk health is recomputed at most once a second.
    const metrics = await waitFor(
      async () => {
        const scraped = await fetchMetrics(namenode.httpAddress);
        const corrupt = scraped.value("bigfs_namenode_chunks_by_status", { status: "corrupt" });
        return corrupt === 1 ? scraped : undefined;
      },
      deadlineMs,
      { what: "the corrupt chunk in the metrics" },
    );
    assert.is(metrics.value("bigfs_namenode_chunks_by_status", { status: "healthy" }), 0);
    const { body } = await fetchText(namenode.httpAddress, "/");
    assert.match(body, /<dd data-chunk-status="corrupt" class="problem">1<\/dd>/);
    assert.match(body, /data-event-kind="corrupt-replica"/);
    assert.ok(body.includes(`on DataNode dn-1 (corrupt): checksum &#60;mismatch&#62;`));
  });
});

test("the side port serves GET and HEAD only, and nothing else", async () => {
  await withHarness(async (harness) => {
    const namenode = await harness.start(await harness.folder());
    assert.is((await fetchText(namenode.httpAddress, "/nope")).status, 404);
    assert.is((await fetchText(namenode.httpAddress, "/health?x=1")).status, 200);
    const post = await fetchText(namenode.httpAddress, "/health", { method: "POST", body: "x" });
    assert.is(post.status, 405);
    assert.is(post.headers.get("allow"), "GET, HEAD");
    const head = await fetchText(namenode.httpAddress, "/metrics", { method: "HEAD" });
    assert.is(head.status, 200);
    assert.is(head.body, "");
  });
});

test("an HTTP port in use stops start-up with an error naming it, and frees the folder", async () => {
  const harness = new Harness();
  const blocker = createServer();
  try {
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as { port: number };
    const dataDir = await harness.folder();
    const config = parseNamenodeConfig([
      "--data-dir",
      dataDir,
      "--port",
      "0",
      "--http-port",
      String(port),
    ]);
    const logger = createLogger({ name: "namenode", level: "silent" });
    const error = await rejection(NameNode.start(config, { logger, secret: testSecret }));
    assert.match(
      error.message,
      `Cannot serve HTTP on 127.0.0.1:${port} (--http-port): the port is already in use`,
    );
    // The data folder and the protocol port were released: the same folder starts now.
    const namenode = await harness.start(dataDir);
    assert.ok(namenode.httpAddress.port > 0);
  } finally {
    blocker.close();
    await harness.cleanup();
  }
});

test.run();
