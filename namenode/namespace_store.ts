/**
 * The durable namespace: the in-memory {@linkcode Namespace}, the edit log that makes each
 * change durable before it is acknowledged, and the checkpoints that bound replay time.
 *
 * Folder layout under the NameNode's data folder:
 *
 * ```text
 * <data-dir>/in_use.lock      the pid of the NameNode using the folder
 * <data-dir>/current/         edit log segments (edit_log.ts) and images (checkpoint.ts)
 * ```
 *
 * A change is applied in memory and handed to the edit log in one synchronous step, so the
 * log's order is the order of the changes; the caller's reply waits until the log has made it
 * durable (group commit shares one fdatasync among concurrent changes). If the log fails, the
 * store refuses every later change: nothing it could not make durable is ever acknowledged.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BigFsError, type FolderLock, type Logger, lockFolder } from "#protocol";
import { loadNewestImage, writeImage } from "./checkpoint.js";
import { EditLog, type EditLogOptions } from "./edit_log.js";
import { decodeOp, encodeOp, Namespace, type NamespaceOp, type OpResult } from "./namespace.js";

/** Options for {@linkcode NamespaceStore.open}. */
export interface NamespaceStoreOptions {
  logger: Logger;
  /** Cut the edit log at the first bad record instead of refusing to start. */
  recover?: boolean;
  /** Checkpoint after this many changes; default 100,000. */
  checkpointEveryRecords?: number;
  /** Checkpoint when changes are this old; default 1 hour. */
  checkpointEveryMs?: number;
  /** Opens edit log segment files (the NameNode's metrics time their fdatasyncs). */
  openSegmentFile?: EditLogOptions["openSegmentFile"];
}

/** The namespace, made durable by the edit log and checkpoints. */
export class NamespaceStore {
  readonly namespace: Namespace;
  readonly #log: EditLog;
  readonly #folder: string;
  readonly #lock: FolderLock;
  readonly #logger: Logger;
  readonly #checkpointEveryRecords: number;
  readonly #timer: NodeJS.Timeout;
  #checkpointTxid: bigint;
  #checkpointing: Promise<void> | undefined;
  #failure: Error | undefined;
  #closed = false;

  private constructor(
    namespace: Namespace,
    log: EditLog,
    folder: string,
    lock: FolderLock,
    checkpointTxid: bigint,
    options: NamespaceStoreOptions,
  ) {
    this.namespace = namespace;
    this.#log = log;
    this.#folder = folder;
    this.#lock = lock;
    this.#logger = options.logger;
    this.#checkpointTxid = checkpointTxid;
    this.#checkpointEveryRecords = options.checkpointEveryRecords ?? 100_000;
    this.#timer = setInterval(() => {
      if (this.#log.lastTxid > this.#checkpointTxid) this.#startCheckpoint("timer");
    }, options.checkpointEveryMs ?? 3_600_000);
    this.#timer.unref();
  }

  /** Locks the data folder, loads the newest image and replays the edit log after it. */
  static async open(dataDir: string, options: NamespaceStoreOptions): Promise<NamespaceStore> {
    const { logger } = options;
    await mkdir(dataDir, { recursive: true });
    const lock = await lockFolder(dataDir, "NameNode");
    try {
      const folder = join(dataDir, "current");
      await mkdir(folder, { recursive: true });
      const startedMs = Date.now();
      const loaded = await loadNewestImage(folder, { logger });
      for (const skipped of loaded?.skipped ?? []) {
        logger.warn(
          { file: skipped.file, reason: skipped.reason },
          "skipped a bad namespace image",
        );
      }
      const namespace = loaded ? Namespace.fromImage(loaded.image) : new Namespace();
      const afterTxid = loaded?.txid ?? 0n;
      // Each record is applied as it is read, so only one segment is in memory at a time.
      const opened = await EditLog.open(folder, {
        afterTxid,
        logger,
        onRecord: (txid, payload) => {
          try {
            namespace.apply(decodeOp(payload));
          } catch (error) {
            throw new Error(
              `Cannot replay edit log: record ${txid} does not apply: ${(error as Error).message}`,
              { cause: error },
            );
          }
        },
        ...(options.recover ? { recover: true } : {}),
        ...(options.openSegmentFile ? { openSegmentFile: options.openSegmentFile } : {}),
      });
      if (opened.truncatedTail) {
        logger.warn(opened.truncatedTail, "cut a torn record at the end of the edit log");
      }
      if (opened.droppedRecords !== undefined) {
        logger.warn(
          { droppedRecords: opened.droppedRecords },
          `recovery dropped ${opened.droppedRecords} edit log records`,
        );
      }
      logger.info(
        {
          imageTxid: String(afterTxid),
          replayedRecords: opened.recordCount,
          files: namespace.fileCount,
          directories: namespace.directoryCount,
          durationMs: Date.now() - startedMs,
        },
        "namespace loaded",
      );
      return new NamespaceStore(namespace, opened.log, folder, lock, afterTxid, options);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Edit log fdatasyncs so far (group commit makes this far fewer than changes). */
  get syncCount(): number {
    return this.#log.syncCount;
  }

  /** The txid of the newest change. */
  get lastTxid(): bigint {
    return this.#log.lastTxid;
  }

  /** Why the edit log failed, once it has: every change since was refused. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Applies a change and resolves once it is durable. A change the namespace refuses throws
   * its `BigFsError` and is not logged; a log failure rejects with `UNAVAILABLE`, and so does
   * every later change (thrown at once). `action` names the change in those errors, such as
   * `create a directory /a`.
   */
  commit(
    op: NamespaceOp,
    action = "change the namespace",
  ): { result: OpResult; durable: Promise<void> } {
    if (this.#failure) {
      throw new BigFsError(
        "UNAVAILABLE",
        `Cannot ${action}: the edit log failed earlier (${this.#failure.message}); the NameNode is read-only until its disk is fixed and it is restarted`,
        { cause: this.#failure },
      );
    }
    const result = this.namespace.apply(op);
    const durable = this.#log.append(encodeOp(op)).then(
      (txid) => {
        if (txid - this.#checkpointTxid >= BigInt(this.#checkpointEveryRecords)) {
          this.#startCheckpoint("records");
        }
      },
      (error: Error) => {
        if (!this.#failure) {
          this.#failure = error;
          this.#logger.fatal({ err: error }, "edit log failed: refusing every further change");
        }
        throw new BigFsError(
          "UNAVAILABLE",
          `Cannot ${action}: the edit log could not make it durable (${error.message}); the NameNode is read-only until its disk is fixed and it is restarted`,
          { cause: error },
        );
      },
    );
    return { result, durable };
  }

  /** Writes a checkpoint now (or waits for the one in progress). */
  checkpoint(): Promise<void> {
    return this.#startCheckpoint("requested");
  }

  #startCheckpoint(reason: string): Promise<void> {
    if (this.#checkpointing) return this.#checkpointing;
    if (this.#failure || this.#closed) return Promise.resolve();
    this.#checkpointing = this.#writeCheckpoint(reason)
      .catch((error: Error) => this.#logger.error({ err: error }, "checkpoint failed"))
      .finally(() => {
        this.#checkpointing = undefined;
      });
    return this.#checkpointing;
  }

  async #writeCheckpoint(reason: string): Promise<void> {
    const startedMs = Date.now();
    // The image and its txid are taken in one synchronous step, so it holds exactly those
    // edits; it is then encoded a slice at a time while later edits go on (`imageInSlices`).
    const txid = this.#log.lastTxid;
    if (txid === this.#checkpointTxid) return;
    const image = await this.namespace.imageInSlices();
    await this.#log.rollSegment();
    const { oldestKeptTxid, file } = await writeImage(this.#folder, txid, image);
    await this.#log.dropSegmentsThrough(oldestKeptTxid);
    this.#checkpointTxid = txid;
    this.#logger.info(
      {
        txid: String(txid),
        file,
        imageBytes: image.byteLength,
        reason,
        durationMs: Date.now() - startedMs,
      },
      "checkpoint written",
    );
  }

  /** Checkpoints (when the log is healthy), closes the log and releases the folder. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    if (this.#checkpointing) await this.#checkpointing;
    if (!this.#failure) await this.#startCheckpoint("shutdown");
    this.#closed = true;
    await this.#log
      .close()
      .catch((error: Error) => this.#logger.error({ err: error }, "edit log close failed"));
    await this.#lock.release();
  }
}
