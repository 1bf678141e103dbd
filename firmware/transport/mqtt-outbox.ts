// Outbound side of the transport: a message is sent at once while online, otherwise held in the
// bounded OfflineQueue and flushed in order on the next connect; one past its expiresAt is never
// sent, and settles as expired at its deadline while still queued. QoS 1 messages stay in flight until acknowledged; when the client is lost they go back to
// the head of the queue, in order, so they may arrive twice (receivers dedupe, [MQTT-4.3.2]).
// Every message settles with a PublishOutcome, never a rejection.
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { TransportError } from './errors.ts';
import type { ProtocolFallback } from './mqtt-protocol.ts';
import type { PublishOutcome, TransportStats } from './mqtt-types.ts';
import { OfflineQueue, type OfflineQueueLimits, type QueuedMessage } from './offline-queue.ts';

export interface OutboxConfig {
  readonly limits: OfflineQueueLimits;
  readonly protocol: ProtocolFallback;
  /** The connection's current client (null while offline). */
  readonly client: () => MqttClient | null;
  readonly stats: TransportStats;
  readonly log: Logger;
  readonly now: () => number;
}

export type OutboundMessage = Omit<QueuedMessage, 'settle'>;

/** JSON for objects (with `expiresAt` added when given: the 3.1.1 substitute for message expiry). */
export function encodePayload(payload: Uint8Array | string | Record<string, unknown>, expiresAt: number): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new TransportError('ERR_TRANSPORT_PAYLOAD', 'payload must be bytes, a string or a JSON object');
  const value = expiresAt > 0 && payload['expiresAt'] === undefined ? { ...payload, expiresAt } : payload;
  try {
    return Buffer.from(JSON.stringify(value), 'utf8');
  } catch (e) {
    throw new TransportError('ERR_TRANSPORT_PAYLOAD', `payload is not serializable: ${(e as Error).message}`);
  }
}

function outcome(o: PublishOutcome): TransportError {
  return new TransportError('ERR_TRANSPORT_CLOSED', `message not delivered: ${o}`, { outcome: o });
}

export class Outbox {
  readonly #c: OutboxConfig;
  readonly #queue: OfflineQueue;
  readonly #inflight = new Set<QueuedMessage>();
  #lastRefusal: string | null = null;

  constructor(config: OutboxConfig) {
    this.#c = config;
    this.#queue = new OfflineQueue(config.limits);
  }

  /** The last publish the broker refused: its reason and topic (null: none). */
  get lastRefusal(): string | null {
    return this.#lastRefusal;
  }

  get queued(): { count: number; bytes: number } {
    return { count: this.#queue.size, bytes: this.#queue.bytes };
  }

  /** Sends `m` now when `online`, else queues it; resolves with what became of it. */
  submit(m: OutboundMessage, online: boolean): Promise<PublishOutcome> {
    return new Promise<PublishOutcome>((resolve) => {
      const q: QueuedMessage = {
        ...m,
        settle: { resolve: () => resolve('delivered'), reject: (e) => resolve(((e as TransportError).detail?.['outcome'] as PublishOutcome | undefined) ?? 'rejected') },
      };
      if (online) this.#send(q);
      else this.#enqueue(q);
    });
  }

  /** Sends the queue in order while `online()` holds. */
  flush(online: () => boolean): void {
    for (let m = this.#queue.shift(); m !== undefined && online(); m = this.#queue.shift()) this.#send(m);
  }

  /** The client is gone: unacknowledged messages go back to the head, in order. */
  requeueInflight(): void {
    const back = [...this.#inflight];
    this.#inflight.clear();
    for (let i = back.length - 1; i >= 0; i--) {
      this.#queue.unshift(back[i]!);
      this.#expireQueued(back[i]!);
    }
  }

  /** On close: everything in flight or queued settles as 'closed'. */
  settleClosed(): void {
    for (const m of [...this.#inflight, ...this.#queue.drain()]) m.settle.reject(outcome('closed'));
    this.#inflight.clear();
  }

  /**
   * A queued message with a deadline (a seal: worthless after its round) settles as expired at
   * that deadline even if the broker never comes back (a revoked node's connection stays
   * refused), so nobody waits on it for ever.
   */
  #expireQueued(m: QueuedMessage): void {
    if (m.expiresAt <= 0) return;
    const t = setTimeout(() => {
      if (!this.#queue.remove(m)) return;
      this.#c.stats.queueExpired++;
      m.settle.reject(outcome('expired'));
    }, Math.max(0, m.expiresAt - this.#c.now()));
    t.unref();
  }

  #enqueue(m: QueuedMessage): void {
    this.#expireQueued(m);
    for (const e of this.#queue.push(m)) {
      this.#c.stats.queueEvicted++;
      this.#c.log.warn({ topic: e.topic, seal: e.seal, bytes: e.payload.length }, 'offline queue full, dropped oldest');
      e.settle.reject(outcome('evicted'));
    }
  }

  #send(m: QueuedMessage): void {
    const client = this.#c.client();
    if (!client) { this.#enqueue(m); return; }
    const now = this.#c.now();
    if (m.expiresAt > 0 && now >= m.expiresAt) {
      this.#c.stats.queueExpired++;
      m.settle.reject(outcome('expired'));
      return;
    }
    const opts: IClientPublishOptions = { qos: m.qos, retain: m.retain, ...this.#c.protocol.publishProperties(m.expiresAt, now) };
    this.#inflight.add(m);
    client.publish(m.topic, Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength), opts, (err) => {
      if (client !== this.#c.client()) return; // stale client: its unacked messages were requeued on close
      if (!this.#inflight.delete(m)) return;
      if (err) {
        this.#c.stats.publishRefused++;
        this.#lastRefusal = `${err.message.replace(/^Publish error: /, '').slice(0, 120)} on ${m.topic.slice(0, 200)}`;
        this.#c.log.warn({ topic: m.topic, err: err.message }, 'publish rejected');
        m.settle.reject(outcome('rejected'));
      } else {
        this.#c.stats.published++;
        m.settle.resolve();
      }
    });
  }
}
