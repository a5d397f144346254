/**
 * Carries out the NameNode's commands.
 *
 * - `delete`: each listed replica whose generation matches is deleted from the store, then
 *   reported removed. A replica already gone is reported removed too, so the NameNode's map
 *   heals; one of another generation is left alone (the command was about a replica that is
 *   no longer here).
 * - `replicate`: chunk `chunks[i]` is read from the store (verified) and sent with a
 *   WRITE_CHUNK of purpose `replicate` and token `tokens[i]` to `targets[0]`, with the other
 *   targets as its downstream: the receivers check every frame as in a client's write.
 *   Transfers run at most `transfersMax` at once; the rest wait in a bounded queue.
 */
import {
  BigFsError,
  type ConnectionPool,
  type DataToSend,
  isBigFsError,
  type Logger,
  untilAborted,
  xxh64,
} from "#protocol";
import { Downstream } from "./_downstream.js";
import type { DataNodeRef } from "./_naming.js";
import type { ChunkStore, ReadPiece } from "./chunk_store.js";
import type { DataNodeCommand } from "./namenode_link.js";

/** What a {@linkcode CommandRunner} works with. */
export interface CommandRunnerOptions {
  store: ChunkStore;
  peers: ConnectionPool;
  logger: Logger;
  /** Called for each replica deleted (or found already gone). */
  onRemoved: (chunk: { id: bigint; generation: bigint }) => void;
  /** Called when a transfer finds the local replica corrupt. */
  onCorrupt: (chunk: { id: bigint; generation: bigint }, reason: string) => void;
  /** Transfers at once; default 4. */
  transfersMax?: number;
  /** Transfers waiting; more are dropped (the NameNode retries work that times out). Default 1024. */
  queuedTransfersMax?: number;
  /** Deadline of one transfer; default 5 min. */
  transferTimeoutMs?: number;
}

interface Transfer {
  key: string;
  chunk: { id: bigint; generation: bigint };
  token: Uint8Array;
  targets: DataNodeRef[];
}

/** Runs delete and replicate commands, with bounded transfers. */
export class CommandRunner {
  readonly #options: CommandRunnerOptions;
  readonly #queue: Transfer[] = [];
  readonly #keys = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  /** Aborts when the runner stops, so no transfer waits on a stalled peer past that. */
  readonly #controller = new AbortController();
  #deletes: Promise<void> = Promise.resolve();

  constructor(options: CommandRunnerOptions) {
    this.#options = options;
  }

  /** Transfers running or waiting. */
  get activeTransfers(): number {
    return this.#running.size + this.#queue.length;
  }

  /** Starts the commands; deletes run in order, transfers as slots free up. */
  run(commands: readonly DataNodeCommand[]): void {
    if (this.#controller.signal.aborted) return;
    for (const command of commands) {
      if (command.action === "delete") {
        const chunks = command.chunks;
        this.#deletes = this.#deletes.then(() => this.#delete(chunks));
      } else this.#enqueue(command);
    }
    this.#pump();
  }

  /** Drops queued transfers, cancels running ones and waits for them and pending deletes. */
  async stop(): Promise<void> {
    this.#controller.abort(new BigFsError("UNAVAILABLE", "The DataNode is stopping"));
    this.#queue.length = 0;
    await Promise.allSettled([...this.#running, this.#deletes]);
  }

  async #delete(chunks: DataNodeCommand["chunks"]): Promise<void> {
    const { store, logger } = this.#options;
    for (const chunk of chunks) {
      if (this.#controller.signal.aborted) return;
      const replica = store.get(chunk.id);
      try {
        if (replica !== undefined && replica.generation !== chunk.generation) {
          logger.info(
            { chunkId: chunk.id, generation: chunk.generation, stored: replica.generation },
            "delete command skipped: another generation is stored",
          );
          continue;
        }
        if (replica !== undefined) await store.delete(chunk.id);
        this.#options.onRemoved({ id: chunk.id, generation: chunk.generation });
      } catch (error) {
        logger.error({ chunkId: chunk.id, err: error }, "delete command failed");
      }
    }
  }

  #enqueue(command: DataNodeCommand): void {
    const { logger } = this.#options;
    const targets = command.targets ?? [];
    if (targets.length === 0) {
      logger.warn({ chunks: command.chunks.length }, "replicate command without targets ignored");
      return;
    }
    command.chunks.forEach((chunk, index) => {
      const token = command.tokens?.[index];
      const key = `${chunk.id}:${targets.map((target) => target.id).join(",")}`;
      if (token === undefined) {
        logger.warn({ chunkId: chunk.id }, "replicate command without a token ignored");
      } else if (this.#keys.has(key)) {
        logger.debug({ chunkId: chunk.id }, "replicate command already queued");
      } else if (this.#queue.length >= (this.#options.queuedTransfersMax ?? 1024)) {
        logger.warn({ chunkId: chunk.id }, "replicate command dropped: too many queued");
      } else {
        this.#keys.add(key);
        this.#queue.push({ key, chunk, token, targets });
      }
    });
  }

  #pump(): void {
    const transfersMax = this.#options.transfersMax ?? 4;
    while (this.#running.size < transfersMax && this.#queue.length > 0) {
      const transfer = this.#queue.shift()!;
      const running: Promise<void> = this.#transfer(transfer).finally(() => {
        this.#running.delete(running);
        this.#keys.delete(transfer.key);
        this.#pump();
      });
      this.#running.add(running);
    }
  }

  async #transfer({ chunk, token, targets }: Transfer): Promise<void> {
    const { store, peers, logger } = this.#options;
    const stopped = this.#controller.signal;
    const [first, ...rest] = targets as [DataNodeRef, ...DataNodeRef[]];
    const startedMs = Date.now();
    let downstream: Downstream | undefined;
    let pieces: AsyncGenerator<ReadPiece, void, undefined> | undefined;
    try {
      const replica = store.get(chunk.id);
      if (replica === undefined || replica.generation !== chunk.generation) {
        throw new BigFsError(
          "NOT_FOUND",
          `Cannot replicate chunk ${chunk.id} generation ${chunk.generation}: no such replica here`,
        );
      }
      downstream = await Downstream.open(
        peers,
        first,
        {
          chunkId: chunk.id,
          generation: chunk.generation,
          token,
          downstream: rest,
          purpose: "replicate",
        },
        { timeoutMs: this.#options.transferTimeoutMs ?? 300_000 },
      );
      pieces = store.read(chunk.id);
      let held: DataToSend | undefined;
      for (;;) {
        const piece = await pieces.next().catch((error: unknown) => {
          if (isBigFsError(error, "CHECKSUM_MISMATCH")) {
            this.#options.onCorrupt(chunk, `replication: ${error.message}`);
          }
          throw error;
        });
        if (piece.done) break;
        if (this.#controller.signal.aborted) throw this.#controller.signal.reason;
        // One frame is held back so the last one can carry `end`.
        // Not raced against a promise pending for the runner's life: each race would stay
        // reachable from it until the DataNode stops (see `untilAborted`).
        if (held !== undefined) {
          await untilAborted(Promise.race([downstream.send(held), downstream.failure]), stopped);
        }
        const { offset, bytes, xxh64: checksum } = piece.value;
        held = { chunkId: chunk.id, offset: BigInt(offset), bytes, xxh64: checksum };
      }
      const empty = new Uint8Array(0);
      held ??= { chunkId: chunk.id, offset: 0n, bytes: empty, xxh64: xxh64(empty) };
      await untilAborted(downstream.send({ ...held, end: true }), stopped);
      const result = await untilAborted(downstream.result(), stopped);
      if (result.size !== replica.size || result.xxh64 !== replica.xxh64) {
        throw new BigFsError(
          "CHECKSUM_MISMATCH",
          `Replica of chunk ${chunk.id} differs at the target`,
        );
      }
      logger.info(
        {
          chunkId: chunk.id,
          targets: result.stored,
          size: result.size,
          durationMs: Date.now() - startedMs,
        },
        "chunk replicated",
      );
    } catch (error) {
      const reason = isBigFsError(error) ? error : new BigFsError("INTERNAL", String(error));
      downstream?.cancel(reason);
      logger.warn({ chunkId: chunk.id, target: first.id, err: reason }, "replication failed");
    } finally {
      // Closes the replica's file when the transfer stopped early.
      await pieces?.return(undefined).catch(() => {});
    }
  }
}
