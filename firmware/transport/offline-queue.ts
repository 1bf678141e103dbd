// Bounded queue of outbound messages held while the broker is unreachable. Bounded both in count
// and in bytes (a flood of candidates must not grow memory). When full, the oldest non-seal goes
// first: seals are the node's work product and each one is small; telemetry and status are not.
export interface QueuedMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly seal: boolean;
  /** ms since epoch; 0 = never expires. */
  readonly expiresAt: number;
  /** Resolved when the broker acknowledged (QoS 1) or the packet was written (QoS 0); rejected when dropped. */
  readonly settle: { resolve: () => void; reject: (e: Error) => void };
}

export interface OfflineQueueLimits {
  readonly maxCount: number;
  readonly maxBytes: number;
}

export class OfflineQueue {
  readonly #items: QueuedMessage[] = [];
  #bytes = 0;
  constructor(readonly limits: OfflineQueueLimits) {}

  get size(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Adds `m`; returns what had to be evicted to make room (possibly `m` itself if it can never fit). */
  push(m: QueuedMessage): QueuedMessage[] {
    if (m.payload.length > this.limits.maxBytes) return [m];
    this.#items.push(m);
    this.#bytes += m.payload.length;
    const evicted: QueuedMessage[] = [];
    while (this.#items.length > this.limits.maxCount || this.#bytes > this.limits.maxBytes) {
      let i = this.#items.findIndex((x) => !x.seal);
      if (i < 0) i = 0; // only seals left: the oldest is for the oldest round, the least useful
      evicted.push(this.#remove(i));
    }
    return evicted;
  }

  /** Removes and returns the oldest message. */
  shift(): QueuedMessage | undefined {
    return this.#items.length === 0 ? undefined : this.#remove(0);
  }

  /** Puts a message back at the head (a send that failed before hand-over). */
  unshift(m: QueuedMessage): void {
    this.#items.unshift(m);
    this.#bytes += m.payload.length;
  }

  /** Removes `m` if it is still queued; false when it already left (sent, evicted, drained). */
  remove(m: QueuedMessage): boolean {
    const i = this.#items.indexOf(m);
    if (i < 0) return false;
    this.#remove(i);
    return true;
  }

  /** Removes everything (on close). */
  drain(): QueuedMessage[] {
    const all = this.#items.splice(0);
    this.#bytes = 0;
    return all;
  }

  #remove(i: number): QueuedMessage {
    const [m] = this.#items.splice(i, 1);
    this.#bytes -= m!.payload.length;
    return m!;
  }
}
