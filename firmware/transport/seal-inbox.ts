// Clerk-side deduplication of seals. QoS 1 is at-least-once [MQTT-4.3.2]: a seal can arrive twice
// (a resend after a lost PUBACK, a queued copy flushed after a reconnect). A seal is identified by
// (node, blockHash, round); the inbox remembers a bounded number of recent ids.
import { toHex } from '../core/bytes.ts';
export interface SealIdentity {
  readonly nodeId: string;
  readonly blockHash: Uint8Array | string;
  readonly round: number;
}

export class SealInbox {
  readonly #seen = new Set<string>();
  readonly #max: number;
  #duplicates = 0;

  constructor(options: { maxRemembered?: number } = {}) {
    this.#max = options.maxRemembered ?? 100_000;
  }

  static key(seal: SealIdentity): string {
    const hash = typeof seal.blockHash === 'string' ? seal.blockHash.toLowerCase() : toHex(seal.blockHash);
    return `${seal.nodeId}\n${hash}\n${seal.round}`;
  }

  /** True the first time a seal is seen, false for every duplicate. */
  accept(seal: SealIdentity): boolean {
    const key = SealInbox.key(seal);
    if (this.#seen.has(key)) {
      this.#duplicates++;
      return false;
    }
    this.#seen.add(key);
    if (this.#seen.size > this.#max) {
      // Sets iterate in insertion order: evict the oldest.
      const oldest = this.#seen.values().next().value as string;
      this.#seen.delete(oldest);
    }
    return true;
  }

  get duplicates(): number {
    return this.#duplicates;
  }

  get size(): number {
    return this.#seen.size;
  }
}
