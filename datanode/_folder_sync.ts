/**
 * {@linkcode FolderSyncs}: fsyncs of chunk folders, shared by the replicas that need them.
 *
 * A rename into a folder is durable once the folder is fsynced after it. When many replicas
 * are finalised at once (small files, 16 clients), most land in the same folder, so the
 * fsyncs are grouped as an edit log groups its commits: a caller whose rename is done joins
 * the next fsync of that folder, which starts as soon as the one running (if any) ends, since
 * that one may have started before the rename. One fsync then stands for every replica that
 * asked while the last one ran.
 *
 * @module
 */
import { syncFolder } from "#protocol";

interface FolderState {
  running: Promise<void>;
  /** The fsync that starts when `running` ends; every caller since `running` began waits on it. */
  next: Promise<void> | undefined;
}

/** Grouped fsyncs of folders. */
export class FolderSyncs {
  readonly #folders = new Map<string, FolderState>();
  #syncs = 0;

  /** How many fsyncs were run: fewer than the calls when they were shared. */
  get syncs(): number {
    return this.#syncs;
  }

  /** Resolves once `folder` has been fsynced after this call was made. */
  sync(folder: string): Promise<void> {
    const state = this.#folders.get(folder);
    if (state === undefined) {
      const fresh: FolderState = { running: Promise.resolve(), next: undefined };
      this.#folders.set(folder, fresh);
      fresh.running = this.#start(folder, fresh);
      return fresh.running;
    }
    state.next ??= state.running.then(ignore, ignore).then(() => {
      state.next = undefined;
      state.running = this.#start(folder, state);
      return state.running;
    });
    return state.next;
  }

  #start(folder: string, state: FolderState): Promise<void> {
    this.#syncs += 1;
    const running = syncFolder(folder);
    // Forget the folder once nothing more waits on it; the check runs before `next` starts.
    running.then(ignore, ignore).then(() => {
      if (state.running === running && state.next === undefined) this.#folders.delete(folder);
    });
    return running;
  }
}

function ignore(): void {}
