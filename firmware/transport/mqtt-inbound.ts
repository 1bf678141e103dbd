// Inbound side of the transport: subscriptions and the checks every message passes before a
// handler sees it (the subscription's size cap, UTF-8 + JSON parse once, expiry, its schema). Every
// failure is a counted, logged drop with a reason; nothing is thrown into the event loop.
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { DropEvent, DropReason, InboundMessage, TransportStats } from './mqtt-types.ts';
import { topicMatches } from '../protocol/topics.ts';

export interface Subscription {
  readonly filter: string;
  readonly qos: 0 | 1;
  /** The cap for this payload, read at each message (it may follow the network's manifest). */
  readonly maxBytes: (payload: Uint8Array) => number;
  readonly onOversize?: ((bytes: number, cap: number, topic: string) => void) | undefined;
  /** The schema's reader: the handler gets what it returns. */
  readonly read: ((value: unknown) => unknown) | undefined;
  readonly onInvalid?: ((err: Error, topic: string) => void) | undefined;
  /** Hand over the payload bytes unparsed. */
  readonly raw: boolean;
  readonly handler: (m: InboundMessage<unknown>) => void | Promise<void>;
  /** Called with the broker's answer to the SUBSCRIBE that carried this subscription (true: granted). */
  readonly acked?: (granted: boolean) => void;
}

export interface InboundConfig {
  readonly stats: TransportStats;
  readonly log: Logger;
  readonly now: () => number;
  /** The highest QoS a SUBSCRIBE asks for (MqttTransportOptions.maxSubscribeQos). */
  readonly maxQos: 0 | 1;
  /** Emits the drop to the transport's listeners. */
  readonly dropped: (event: DropEvent) => void;
}

/** Reconnects in a row for SUBSCRIBEs the broker failed without a reason, before the transport stops asking. */
const MAX_FAILED_SUBSCRIBE_RECONNECTS = 10;

export class Inbound {
  readonly #c: InboundConfig;
  readonly #subs: Subscription[] = [];
  #failedReconnects = 0;
  readonly #utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(config: InboundConfig) {
    this.#c = config;
  }

  add(sub: Subscription): void {
    this.#subs.push(sub);
  }

  /** Removes `sub`; true when no other subscription uses its filter (time to UNSUBSCRIBE). */
  remove(sub: Subscription): boolean {
    const i = this.#subs.indexOf(sub);
    if (i >= 0) this.#subs.splice(i, 1);
    return !this.#subs.some((s) => s.filter === sub.filter);
  }

  /** Subscribes a (new) client to every filter, each at the highest QoS asked for it. */
  resubscribe(client: MqttClient): void {
    if (this.#subs.length > 0) this.send(client, this.#subs);
  }

  send(client: MqttClient, subs: readonly Subscription[]): void {
    const map: Record<string, { qos: 0 | 1 }> = {};
    for (const s of subs) map[s.filter] = { qos: Math.min(this.#c.maxQos, Math.max(map[s.filter]?.qos ?? 0, s.qos)) as 0 | 1 };
    client.subscribe(map, (err, granted) => {
      if (err) this.#c.log.warn({ err: err.message }, 'subscribe failed');
      // 0x80 with no reason (3.1.1 "Failure", MQTT 5 "Unspecified error") is what a clustered
      // broker answers while it cannot place a subscription (nats-server during a JetStream leader
      // election after losing a member). Asking again on the same connection did not always bring
      // the messages back, a new connection (clean session, every subscription afresh, retained
      // messages again) did: so the connection is dropped, a bounded number of times in a row. A
      // refusal with a reason (0x87 Not authorized) stands.
      if (err && (err as Error & { packet?: { granted?: unknown[] } }).packet?.granted?.includes(0x80) === true) {
        if (this.#failedReconnects < MAX_FAILED_SUBSCRIBE_RECONNECTS && client.connected) {
          this.#failedReconnects++;
          this.#c.log.warn({ times: this.#failedReconnects }, 'subscription failed without a reason: reconnecting');
          client.end(true);
        }
      } else if (!err) this.#failedReconnects = 0;
      const refused = new Set<string>();
      for (const g of granted ?? []) {
        if (g.qos === 128) {
          refused.add(g.topic);
          this.#c.log.warn({ filter: g.topic }, 'subscription refused by broker');
        }
      }
      // A failed SUBSCRIBE is tried again on the next connection; a SUBACK settles the wait.
      if (!err) for (const s of subs) s.acked?.(!refused.has(s.filter));
    });
  }

  dispatch(topic: string, payload: Buffer, packet: IPublishPacket): void {
    this.#c.stats.received++;
    const subs = this.#subs.filter((s) => topicMatches(s.filter, topic));
    if (subs.length === 0) return;
    const caps = subs.map((s) => s.maxBytes(payload));
    const fits = subs.filter((_, i) => payload.length <= caps[i]!);
    if (fits.length === 0) {
      this.drop(topic, 'oversize', `${payload.length} bytes > cap ${caps[0]!}`);
      subs.forEach((s, i) => s.onOversize?.(payload.length, caps[i]!, topic));
      return;
    }
    // JSON subscribers need a parsed, unexpired value; raw ones take the bytes whatever they are
    let value: unknown;
    let parsed = fits.some((s) => !s.raw);
    if (parsed) {
      try {
        value = JSON.parse(this.#utf8.decode(payload));
      } catch (e) {
        this.drop(topic, e instanceof SyntaxError ? 'malformed-json' : 'invalid-utf8', (e as Error).message.slice(0, 160));
        parsed = false;
      }
      if (parsed && value !== null && typeof value === 'object' && typeof (value as { expiresAt?: unknown }).expiresAt === 'number' && this.#c.now() >= (value as { expiresAt: number }).expiresAt) {
        this.drop(topic, 'expired', `expiresAt ${(value as { expiresAt: number }).expiresAt}`);
        parsed = false;
      }
    }
    for (const s of fits) {
      if (!s.raw && !parsed) continue;
      let typed: unknown = s.raw ? new Uint8Array(payload.buffer, payload.byteOffset, payload.length) : value;
      if (s.read && !s.raw) {
        try {
          typed = s.read(value);
        } catch (e) {
          this.drop(topic, 'invalid', (e as Error)?.message?.slice(0, 200) ?? String(e));
          s.onInvalid?.(e instanceof Error ? e : new Error(String(e)), topic);
          continue;
        }
      }
      const m: InboundMessage<unknown> = { topic, value: typed, retain: packet.retain, bytes: payload.length, messageExpiryInterval: packet.properties?.messageExpiryInterval };
      try {
        const r = s.handler(m);
        if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch((e: unknown) => this.drop(topic, 'handler-failed', String((e as Error)?.message ?? e)));
        this.#c.stats.delivered++;
      } catch (e) {
        this.drop(topic, 'handler-failed', String((e as Error)?.message ?? e));
      }
    }
  }

  drop(topic: string, reason: DropReason, detail: string): void {
    this.#c.stats.dropped[reason]++;
    this.#c.log.warn({ topic, reason, detail }, 'inbound message dropped');
    this.#c.dropped({ topic, reason, detail });
  }
}
