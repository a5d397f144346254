/**
 * Write leases, as HDFS has them: a client that creates a file holds a lease on it until it
 * completes or abandons it, and keeps the lease by renewing it. A client that stops renewing
 * (it crashed, or lost the network) loses its lease after `leaseTimeoutMs`, and the NameNode
 * removes its partial files and collects their chunks.
 *
 * Leases are not persisted: after a restart every file still under construction gets a fresh
 * lease for its client, so a writer that is still alive can carry on and a dead one expires
 * on the normal schedule.
 */

/** Options for {@linkcode LeaseManager}. */
export interface LeaseManagerOptions {
  /** A lease not renewed for this long expires. */
  leaseTimeoutMs: number;
}

interface Lease {
  renewedAtMs: number;
  fileIds: Set<bigint>;
}

/** Who writes which files under construction, and since when they last said they are alive. */
export class LeaseManager {
  readonly #leaseTimeoutMs: number;
  readonly #byClient = new Map<string, Lease>();
  readonly #clientByFile = new Map<bigint, string>();

  constructor(options: LeaseManagerOptions) {
    this.#leaseTimeoutMs = options.leaseTimeoutMs;
  }

  /** How long a lease lasts without renewal. */
  get leaseTimeoutMs(): number {
    return this.#leaseTimeoutMs;
  }

  /** Files under a lease. */
  get fileCount(): number {
    return this.#clientByFile.size;
  }

  /** Gives `clientName` the lease on a new file under construction, and renews its lease. */
  add(clientName: string, fileId: bigint, nowMs: number): void {
    let lease = this.#byClient.get(clientName);
    if (lease === undefined) {
      lease = { renewedAtMs: nowMs, fileIds: new Set() };
      this.#byClient.set(clientName, lease);
    }
    lease.renewedAtMs = nowMs;
    lease.fileIds.add(fileId);
    this.#clientByFile.set(fileId, clientName);
  }

  /** Renews every lease the client holds; false when it holds none. */
  renew(clientName: string, nowMs: number): boolean {
    const lease = this.#byClient.get(clientName);
    if (lease === undefined) return false;
    lease.renewedAtMs = nowMs;
    return true;
  }

  /** Releases the lease on a file (completed, abandoned or deleted). */
  remove(fileId: bigint): void {
    const clientName = this.#clientByFile.get(fileId);
    if (clientName === undefined) return;
    this.#clientByFile.delete(fileId);
    const lease = this.#byClient.get(clientName);
    lease?.fileIds.delete(fileId);
    if (lease?.fileIds.size === 0) this.#byClient.delete(clientName);
  }

  /** The client holding the lease on a file, if any. */
  holder(fileId: bigint): string | undefined {
    return this.#clientByFile.get(fileId);
  }

  /** Files whose lease expired by `nowMs`; they stay listed until {@linkcode remove}d. */
  expired(nowMs: number): bigint[] {
    const files: bigint[] = [];
    for (const lease of this.#byClient.values()) {
      if (nowMs - lease.renewedAtMs > this.#leaseTimeoutMs) files.push(...lease.fileIds);
    }
    return files;
  }
}
