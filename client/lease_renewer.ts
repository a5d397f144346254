/**
 * Keeps this client's write leases alive: while at least one file is being written, RENEW_LEASE
 * goes to the NameNode every `intervalMs`. The NameNode's leases are per client name, so one
 * renewer serves every upload of the client. A failed renewal is logged and tried again at the
 * next tick; an upload whose lease did expire learns it from its next ADD_CHUNK or COMPLETE.
 */
import type { Logger } from "#protocol";

/** Options for {@linkcode LeaseRenewer}. */
export interface LeaseRenewerOptions {
  /** Time between renewals; keep it well under the NameNode's lease timeout (60 s default). */
  intervalMs: number;
  /** Sends one RENEW_LEASE. */
  renew: () => Promise<unknown>;
  logger: Logger;
}

/** Renews leases while any upload holds one. */
export class LeaseRenewer {
  readonly #options: LeaseRenewerOptions;
  #holders = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LeaseRenewerOptions) {
    this.#options = options;
  }

  /** Uploads holding a lease now. */
  get holders(): number {
    return this.#holders;
  }

  /** Starts renewing (if not already) for one more upload; call the result once it ends. */
  hold(): () => void {
    this.#holders++;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#renew(), this.#options.intervalMs);
      // Uploads keep the process alive; the renewal timer alone must not.
      this.#timer.unref();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holders--;
      if (this.#holders === 0) this.stop();
    };
  }

  /** Stops renewing, whoever still holds a lease. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #renew(): void {
    this.#options.renew().catch((error: unknown) => {
      this.#options.logger.warn({ err: error }, "lease renewal failed");
    });
  }
}
