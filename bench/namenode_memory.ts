/**
 * The NameNode's side of `meta`: resident memory per file and restart time, on a NameNode
 * process of the bench's own (no DataNodes), so nothing else in it grows meanwhile.
 *
 * Files have one chunk each, as in the target. No bytes are stored: a stand-in
 * DataNode registers over the protocol, is handed every chunk, and reports each replica, so
 * the NameNode holds the same file, chunk and replica records as for real one-chunk files.
 *
 * Restart: the NameNode checkpoints as it does in service (its default policy, never asked
 * by the bench), so after `kill -9` it loads its newest image and replays the edit log
 * written since, however the crash fell; after SIGTERM (which checkpoints) it loads the
 * image alone.
 *
 * Stalls: while the files are created (and the NameNode checkpoints every 100,000 changes, as
 * the namespace grows to its full size), a PING on a connection of its own every 10 ms
 * records the longest round trip: how long the NameNode answered nothing at worst.
 */
import type { HostPort } from "#protocol";
import type { DaemonProcess } from "./daemon_process.js";
import { startNamenodeProcess } from "./local_cluster.js";
import { NamenodeConnections, timedOps } from "./namenode_load.js";
import type { Progress } from "./progress.js";
import { type BenchResult, withTarget } from "./result.js";
import { elapsedMs } from "./stats.js";

const stallProbeIntervalMs = 10;

/** NameNode flags for the bench's own NameNode: no safe mode wait; checkpoints as default. */
export const metaNamenodeFlags = ["--safe-mode-threshold", "0", "--dead-after", "1h"] as const;

const standInId = "bigfs-bench-stand-in";

/** Options for {@linkcode measureNamenodeMemory}. */
export interface NamenodeMemoryOptions {
  secret: Uint8Array;
  secretFile: string;
  dataDir: string;
  files: number;
  concurrency: number;
  connections: number;
  progress: Progress;
}

/**
 * PINGs `namenode` every 10 ms on a connection of its own until `stop` resolves; resolves
 * with the longest round trip, in milliseconds.
 */
async function longestPing(
  namenode: HostPort,
  secret: Uint8Array,
  stop: Promise<unknown>,
): Promise<number> {
  const probe = await NamenodeConnections.open(namenode, { secret, count: 1 });
  let stopped = false;
  const markStopped = () => {
    stopped = true;
  };
  stop.then(markStopped, markStopped);
  let longestMs = 0;
  try {
    while (!stopped) {
      const startMs = performance.now();
      await probe.for(0).request("PING", {});
      longestMs = Math.max(longestMs, elapsedMs(startMs));
      await new Promise((resolve) => setTimeout(resolve, stallProbeIntervalMs));
    }
  } finally {
    probe.close();
  }
  return longestMs;
}

/**
 * Creates `files` one-chunk files under `/bench-memory`, replicas reported by a stand-in;
 * resolves with the longest PING round trip meanwhile.
 */
async function createOneChunkFiles(
  namenode: HostPort,
  options: NamenodeMemoryOptions,
): Promise<number> {
  const clients = await NamenodeConnections.open(namenode, {
    secret: options.secret,
    count: options.connections,
  });
  const standIn = await NamenodeConnections.open(namenode, {
    secret: options.secret,
    count: 1,
    role: "datanode",
  });
  try {
    const datanode = standIn.for(0);
    await datanode.request("REGISTER", {
      datanodeId: standInId,
      address: "127.0.0.1:9",
      capacityBytes: 2 ** 50,
      usedBytes: 0,
      chunks: [],
    });
    const clientName = `bigfs-bench-memory-${process.pid}`;
    await clients.for(0).request("MKDIR", { path: "/bench-memory", parents: true });
    // COMPLETE waits until a DataNode has reported the file's chunk, so the stand-in reports
    // each chunk before its file completes: like a real DataNode, every chunk committed in
    // one event-loop turn goes into one CHUNK_REPORT (at most `concurrency` of them).
    let pending: { id: bigint; generation: bigint; size: number }[] = [];
    let reported: Promise<unknown> | undefined;
    const report = (chunk: { id: bigint; generation: bigint; size: number }) => {
      pending.push(chunk);
      reported ??= new Promise((resolve) => setImmediate(resolve)).then(() => {
        const added = pending;
        pending = [];
        reported = undefined;
        return datanode.request("CHUNK_REPORT", { datanodeId: standInId, added, removed: [] });
      });
      return reported;
    };
    options.progress.stage(`meta memory: ${options.files} one-chunk files`);
    let loaded: () => void = () => {};
    const probing = longestPing(
      namenode,
      options.secret,
      new Promise<void>((resolve) => {
        loaded = resolve;
      }),
    );
    // Awaited below, unless creating the files fails first.
    probing.catch(() => {});
    const creating = timedOps(
      options.files,
      options.concurrency,
      async (index) => {
        const on = clients.for(index);
        const path = `/bench-memory/f-${index}`;
        const created = await on.request("CREATE", {
          path,
          clientName,
          replication: 1,
          chunkSizeBytes: 4096,
        });
        const { fileId } = created;
        const chunk = await on.request("ADD_CHUNK", { path, fileId, clientName });
        await on.request("COMMIT_CHUNK", {
          path,
          fileId,
          clientName,
          chunkId: chunk.chunkId,
          generation: chunk.generation,
          size: 4096,
          xxh64: 0n,
        });
        await report({ id: chunk.chunkId, generation: chunk.generation, size: 4096 });
        await on.request("COMPLETE", { path, fileId, clientName });
      },
      (done) => options.progress.update(done, options.files, "files"),
    );
    try {
      await creating;
    } finally {
      loaded();
    }
    return await probing;
  } finally {
    clients.close();
    standIn.close();
  }
}

/** Starts the NameNode again on the same folder; milliseconds until it listens. */
async function timedStart(options: NamenodeMemoryOptions) {
  const startMs = performance.now();
  const started = await startNamenodeProcess(options.dataDir, options.secretFile, {
    flags: metaNamenodeFlags,
    name: "namenode (meta)",
  });
  return { ...started, durationMs: elapsedMs(startMs) };
}

/**
 * Measures resident memory per one-chunk file on `namenode` (a process of the bench's own),
 * then kills and restarts it twice. Returns the results and the NameNode now running.
 */
export async function measureNamenodeMemory(
  namenode: { process: DaemonProcess; port: number },
  options: NamenodeMemoryOptions,
): Promise<{ results: Record<string, BenchResult>; running: DaemonProcess }> {
  const address = { host: "127.0.0.1", port: namenode.port };
  const rssBeforeBytes = await namenode.process.residentBytes();
  const longestPingMs = await createOneChunkFiles(address, options);
  const rssAfterBytes = await namenode.process.residentBytes();

  options.progress.stage("meta restart after kill -9 (edit log replay)");
  await namenode.process.kill();
  const afterKill = await timedStart(options);
  const rssAfterReplayBytes = await afterKill.process.residentBytes();

  options.progress.stage("meta restart after SIGTERM (checkpoint, then image load)");
  const stopStartMs = performance.now();
  await afterKill.process.stop();
  const stopMs = elapsedMs(stopStartMs);
  const afterStop = await timedStart(options);
  const rssAfterImageBytes = await afterStop.process.residentBytes();

  const files = options.files;
  const perFile = (bytes: number) => bytes / files;
  // The targets are stated for a million files; a smaller run shows them, unjudged.
  const atAMillion = files >= 1_000_000;
  return {
    running: afterStop.process,
    results: {
      rssBefore: { label: "NameNode resident memory before", value: rssBeforeBytes, unit: "bytes" },
      rssAfter: {
        label: `NameNode resident memory after ${files} one-chunk files`,
        value: rssAfterBytes,
        unit: "bytes",
      },
      longestPing: {
        label: `longest PING round trip while creating them (checkpoints, collections)`,
        value: longestPingMs,
        unit: "ms",
      },
      bytesPerFile: withTarget(
        {
          label: "resident memory per one-chunk file (growth ÷ files)",
          value: perFile(rssAfterBytes - rssBeforeBytes),
          unit: "bytes",
        },
        "≤ 1,024 bytes (at 1M files)",
        { atMost: 1_024, applies: atAMillion },
      ),
      replayRestart: withTarget(
        {
          label: `restart after kill -9: newest image + edit log since (${files} files)`,
          value: afterKill.durationMs,
          unit: "ms",
        },
        "≤ 10 s (at 1M files)",
        { atMost: 10_000, applies: atAMillion },
      ),
      rssAfterReplay: {
        label: "NameNode resident memory after replay",
        value: rssAfterReplayBytes,
        unit: "bytes",
      },
      checkpointStop: {
        label: "stop with SIGTERM (writes a checkpoint)",
        value: stopMs,
        unit: "ms",
      },
      imageRestart: withTarget(
        {
          label: `restart after SIGTERM: image load (${files} files)`,
          value: afterStop.durationMs,
          unit: "ms",
        },
        "≤ 10 s (at 1M files)",
        { atMost: 10_000, applies: atAMillion },
      ),
      rssAfterImage: {
        label: "NameNode resident memory after image load",
        value: rssAfterImageBytes,
        unit: "bytes",
      },
    },
  };
}
