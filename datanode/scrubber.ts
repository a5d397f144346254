/**
 * The scrubber: re-verifies every chunk replica in the background, at a bounded rate, so that
 * corruption of data at rest is found before a client needs the bytes (HDFS's block scanner).
 *
 * A pass walks a snapshot of the store's replicas and verifies each one in full (metadata,
 * every segment, the whole-chunk xxh64) through {@linkcode ChunkStore.verify}, taking each
 * segment's bytes from a token bucket first. The scrubber holds no lock: it reads through its
 * own file handles, and before each segment it checks that the replica is still the one it
 * started on, so a chunk deleted or replaced mid-scan is dropped at once (and its space is not
 * held by an open handle while the scrubber sleeps). A mismatch goes to `onCorrupt`; any other
 * error is logged and the pass goes on.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type BigFsError, createLogger, isBigFsError, type Logger } from "#protocol";
import { TokenBucket } from "./_token_bucket.js";
import type { ChunkStore, ReplicaInfo } from "./chunk_store.js";

/** Options for {@linkcode Scrubber}. */
export interface ScrubberOptions {
  /** The most chunk bytes read per second, averaged; a burst of up to 1/8 s of it is allowed. */
  bytesPerSecond: number;
  /** Called once per corrupt replica found; an error it throws is logged. */
  onCorrupt: (replica: ReplicaInfo, error: BigFsError) => void;
  logger?: Logger;
  /** Pause between full passes when started; default one hour. */
  intervalMs?: number;
}

/** What one pass found. */
export interface ScrubResult {
  /** Replicas verified to the end, good or corrupt. */
  chunks: number;
  corrupt: number;
}

const intervalMsDefault = 60 * 60 * 1000;
const burstBytesMax = 4 * 1024 * 1024;

/** Thrown from a verify hook when the replica changed under the scrubber. */
class ReplicaGone extends Error {}

/** Re-verifies a store's chunks in the background at a bounded rate. */
export class Scrubber {
  readonly #store: ChunkStore;
  readonly #options: ScrubberOptions;
  readonly #logger: Logger;
  readonly #bucket: TokenBucket;
  #controller = new AbortController();
  #loop: Promise<void> | undefined;
  #bytesVerified = 0;
  #passes = 0;

  constructor(store: ChunkStore, options: ScrubberOptions) {
    const intervalMs = options.intervalMs ?? intervalMsDefault;
    if (!(intervalMs >= 0) || !Number.isFinite(intervalMs)) {
      throw new RangeError(`Cannot create scrubber: intervalMs ${intervalMs} is out of range`);
    }
    this.#store = store;
    this.#options = options;
    this.#logger = options.logger ?? createLogger({ name: "datanode", level: "silent" });
    this.#bucket = new TokenBucket(
      options.bytesPerSecond,
      Math.min(options.bytesPerSecond / 8, burstBytesMax),
    );
  }

  /** Chunk bytes read and found good so far, over all passes. */
  get bytesVerified(): number {
    return this.#bytesVerified;
  }

  /** Full passes finished so far. */
  get passes(): number {
    return this.#passes;
  }

  /** Starts passes in the background, `intervalMs` apart. A no-op when already started. */
  start(): void {
    if (this.#loop !== undefined) return;
    const signal = this.#controller.signal;
    this.#loop = this.#run(signal);
  }

  /** Stops the background passes and any pass under way; resolves once they have stopped. */
  async stop(): Promise<void> {
    this.#controller.abort();
    this.#controller = new AbortController();
    const loop = this.#loop;
    this.#loop = undefined;
    await loop;
  }

  /**
   * Runs one full pass now, sharing the rate with the background passes; {@linkcode stop} ends
   * it early. Unlike background passes, its timers keep the process alive until it is done.
   */
  scrubOnce(): Promise<ScrubResult> {
    return this.#pass(this.#controller.signal, true);
  }

  async #run(signal: AbortSignal): Promise<void> {
    const intervalMs = this.#options.intervalMs ?? intervalMsDefault;
    while (!signal.aborted) {
      try {
        const startedMs = Date.now();
        const result = await this.#pass(signal, false);
        if (!signal.aborted) {
          this.#logger.info({ ...result, durationMs: Date.now() - startedMs }, "scrub pass done");
        }
        await sleep(intervalMs, undefined, { ref: false, signal });
      } catch (error) {
        if (signal.aborted) return;
        // A bug in a pass must not end scrubbing for good; the pause bounds the retry rate.
        this.#logger.error({ err: error }, "scrub pass failed");
        await sleep(intervalMs, undefined, { ref: false, signal }).catch(() => {});
      }
    }
  }

  async #pass(signal: AbortSignal, ref: boolean): Promise<ScrubResult> {
    const result: ScrubResult = { chunks: 0, corrupt: 0 };
    const replicas = Array.from(this.#store.list());
    for (const replica of replicas) {
      if (signal.aborted) return result;
      if (this.#store.get(replica.id) !== replica) continue;
      const error = await this.#verify(replica, signal, ref);
      if (signal.aborted) return result;
      if (error === "gone") continue;
      result.chunks++;
      if (error === undefined) continue;
      result.corrupt++;
      this.#logger.warn({ chunkId: replica.id, err: error }, "scrubber found a corrupt chunk");
      try {
        this.#options.onCorrupt(replica, error);
      } catch (callbackError) {
        this.#logger.error({ chunkId: replica.id, err: callbackError }, "onCorrupt threw");
      }
    }
    this.#passes++;
    return result;
  }

  /** Verifies one replica; returns its mismatch, "gone" when it changed, else undefined. */
  async #verify(
    replica: ReplicaInfo,
    signal: AbortSignal,
    ref: boolean,
  ): Promise<BigFsError | "gone" | undefined> {
    try {
      await this.#store.verify(replica.id, {
        beforeSegment: async (segmentBytes) => {
          await this.#bucket.take(segmentBytes, signal, ref);
          if (this.#store.get(replica.id) !== replica) throw new ReplicaGone();
        },
        afterSegment: (segmentBytes) => {
          this.#bytesVerified += segmentBytes;
        },
      });
      return undefined;
    } catch (error) {
      if (signal.aborted || error instanceof ReplicaGone) return "gone";
      // A replica deleted or replaced mid-read is not corrupt.
      if (this.#store.get(replica.id) !== replica || isBigFsError(error, "NOT_FOUND"))
        return "gone";
      if (isBigFsError(error, "CHECKSUM_MISMATCH")) return error;
      this.#logger.error({ chunkId: replica.id, err: error }, "scrubber cannot verify a chunk");
      return "gone";
    }
  }
}
