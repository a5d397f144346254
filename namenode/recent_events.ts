/**
 * The NameNode's recent events, for its status page: DataNodes registering, dying and
 * returning, running out of room and having room again, corrupt replicas, leaving safe mode. A ring buffer: the newest `eventsMax` are
 * kept and older ones are dropped, so a flapping DataNode cannot grow memory. The log keeps
 * the full history; this is what an operator glancing at the page wants to see first.
 */

/** What happened. */
export type RecentEventKind =
  | "datanode-registered"
  | "datanode-dead"
  | "datanode-returned"
  | "datanode-full"
  | "datanode-has-room"
  | "corrupt-replica"
  | "safe-mode-left";

/** One event. Ids and addresses come from the network: whoever shows them escapes them. */
export interface RecentEvent {
  /** Milliseconds since the epoch. */
  readonly timeMs: number;
  readonly kind: RecentEventKind;
  /** One line for people, such as `DataNode dn-1 declared dead (12 replicas lost)`. */
  readonly message: string;
  readonly datanode?: string;
  readonly chunkId?: bigint;
}

/** Options for {@linkcode RecentEvents}. */
export interface RecentEventsOptions {
  /** Events kept; default 200. */
  eventsMax?: number;
}

/** A bounded buffer of the newest events. */
export class RecentEvents {
  readonly #eventsMax: number;
  readonly #events: RecentEvent[] = [];
  /** Index of the oldest event once the buffer is full. */
  #start = 0;
  #total = 0;

  constructor(options: RecentEventsOptions = {}) {
    const eventsMax = options.eventsMax ?? 200;
    if (!Number.isSafeInteger(eventsMax) || eventsMax < 1) {
      throw new RangeError(`Cannot keep recent events: eventsMax ${eventsMax} is not 1 or more`);
    }
    this.#eventsMax = eventsMax;
  }

  /** Events recorded since start-up, dropped ones included. */
  get total(): number {
    return this.#total;
  }

  /** Records an event, dropping the oldest when full. */
  add(event: RecentEvent): void {
    this.#total++;
    if (this.#events.length < this.#eventsMax) {
      this.#events.push(event);
      return;
    }
    this.#events[this.#start] = event;
    this.#start = (this.#start + 1) % this.#eventsMax;
  }

  /** The kept events, newest first; at most `limit`. */
  newest(limit = this.#eventsMax): RecentEvent[] {
    const events: RecentEvent[] = [];
    const count = Math.min(limit, this.#events.length);
    for (let index = 0; index < count; index++) {
      const position = (this.#start + this.#events.length - 1 - index) % this.#events.length;
      events.push(this.#events[position]!);
    }
    return events;
  }
}
