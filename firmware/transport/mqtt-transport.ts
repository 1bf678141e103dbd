// MQTT transport of a node (docs/components.md) over mqtt.js: the public face. The parts live apart:
// - mqtt-protocol.ts: MQTT 5 first, 3.1.1 fallback, v5-only properties;
// - mqtt-connection.ts: the connection state machine (jittered backoff, presence and last will);
// - mqtt-outbox.ts + offline-queue.ts: outbound messages, the bounded offline queue, in-flight QoS 1;
// - mqtt-inbound.ts: subscriptions and the checks on every inbound message.
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { TransportError } from './errors.ts';
import { MqttConnection, OFFLINE_STATUS } from './mqtt-connection.ts';
import { Inbound, type Subscription } from './mqtt-inbound.ts';
import { encodePayload, Outbox } from './mqtt-outbox.ts';
import { ProtocolFallback } from './mqtt-protocol.ts';
import type { BrokerIdentity, DropEvent, InboundMessage, MqttTransportOptions, PublishOptions, PublishOutcome, StreamOptions, SubscribeOptions, TransportState, TransportStats } from './mqtt-types.ts';
import { assertTopicFilter, assertTopicName, topicsFor, topicSegment, type Topics } from '../protocol/topics.ts';
import { mqttClientIdFromSpki } from '../protocol/identity.ts';

export type {
  TransportState, ProtocolChoice, DropReason, PublishOutcome, MqttTransportOptions, InboundMessage, SubscribeOptions, PublishOptions, TransportStats, DropEvent, StreamOptions,
  BrokerIdentity,
} from './mqtt-types.ts';
export { OFFLINE_STATUS };

/**
 * Inbound caps, from the outside in (firmware/transport/README.md):
 * - the device ceiling: the most one message may hold on this device, whatever it is; sent to
 *   the broker as MQTT 5's maximum packet size, so a broker holds back anything larger. 16 MiB
 *   takes a candidate of the default parameters' 10,000 transactions as JSON at its largest
 *   (4 x 1.92 MB) and a 4 MiB revocation list with room, and binary candidates up to 16 MiB;
 * - each subscription's own cap below it: a message schema's (manifest 256 KiB, final 320 KiB,
 *   revocation list 4 MiB), the candidates' from the manifest in force (the agent), and
 *   DEFAULT_SUBSCRIPTION_BYTES for a subscription that names none.
 */
export const DEVICE_MAX_INBOUND_BYTES = 16 * 1024 * 1024;
/** The cap of a subscription that names none (status, Home Assistant's birth message). */
export const DEFAULT_SUBSCRIPTION_BYTES = 256 * 1024;
const BROKER_URL = /^(mqtts?|wss?|tcp):\/\//;
/** A cluster's other members a client may fall back to (a handful in practice). */
const MAX_FALLBACK_URLS = 16;
const DEFAULTS = { keepalive: 30, connectTimeout: 10_000, maxInbound: DEVICE_MAX_INBOUND_BYTES, maxOutbound: 1024 * 1024, queueCount: 1000, queueBytes: 4 * 1024 * 1024 };

/** `btn-` + first 16 hex digits of SHA-256(SPKI): stable per sealing key, unique per node. */
export function clientIdFromSpki(spki: Uint8Array): string {
  if (!(spki instanceof Uint8Array) || spki.length < 16 || spki.length > 4096) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'sealingKeySpki must be 16..4096 bytes of DER');
  return mqttClientIdFromSpki(spki);
}

/** What subscribe() returns: the unsubscribe function, with `ready` settled by the broker's SUBACK. */
export type Subscribed = (() => void) & { readonly ready: Promise<boolean> };

export class MqttTransport extends EventEmitter {
  readonly topics: Topics;
  readonly clientId: string;
  readonly nodeId: string;
  readonly #o: MqttTransportOptions;
  readonly #protocol: ProtocolFallback;
  readonly #conn: MqttConnection;
  readonly #outbox: Outbox;
  readonly #inbound: Inbound;
  readonly #stats: TransportStats = {
    received: 0, delivered: 0, published: 0, queueEvicted: 0, queueExpired: 0, connects: 0, reconnectAttempts: 0, protocolRefusals: 0, publishRefused: 0,
    dropped: { oversize: 0, 'invalid-utf8': 0, 'malformed-json': 0, expired: 0, invalid: 0, 'handler-failed': 0, backlog: 0 },
  };
  #onAbort: (() => void) | null = null;

  constructor(options: MqttTransportOptions) {
    super();
    if (typeof options?.url !== 'string' || !BROKER_URL.test(options.url)) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'url must be mqtt://, mqtts://, tcp://, ws:// or wss://');
    const fallbacks = options.fallbackUrls ?? [];
    if (!Array.isArray(fallbacks) || fallbacks.length > MAX_FALLBACK_URLS || !fallbacks.every((u) => typeof u === 'string' && BROKER_URL.test(u))) {
      throw new TransportError('ERR_TRANSPORT_OPTIONS', `fallbackUrls must be at most ${MAX_FALLBACK_URLS} mqtt://, mqtts://, tcp://, ws:// or wss:// URLs`);
    }
    if (options.maxSubscribeQos !== undefined && options.maxSubscribeQos !== 0 && options.maxSubscribeQos !== 1) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'maxSubscribeQos must be 0 or 1');
    this.#o = options;
    this.nodeId = topicSegment(options.nodeId, 'nodeId');
    this.topics = topicsFor(options.prefix);
    if (options.clientId !== undefined) this.clientId = topicSegment(options.clientId, 'clientId');
    else if (options.sealingKeySpki !== undefined) this.clientId = clientIdFromSpki(options.sealingKeySpki);
    else throw new TransportError('ERR_TRANSPORT_OPTIONS', 'give sealingKeySpki (preferred) or clientId');
    this.#protocol = new ProtocolFallback(options.protocol);
    const log: Logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'mqtt-transport', clientId: this.clientId });
    const now = options.now ?? Date.now;
    const stats = this.#stats;
    this.#inbound = new Inbound({ stats, log, now, maxQos: options.maxSubscribeQos ?? 1, dropped: (e: DropEvent) => this.emit('drop', e) });
    this.#conn = new MqttConnection({
      options, clientId: this.clientId, statusTopic: this.topics.status(this.nodeId), protocol: this.#protocol,
      maxInboundBytes: options.maxInboundBytes ?? DEFAULTS.maxInbound, keepaliveSeconds: options.keepaliveSeconds ?? DEFAULTS.keepalive,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeout, stats, log, now,
      setTimer: options.setTimer ?? ((fn, ms) => { const t = setTimeout(fn, ms); return () => clearTimeout(t); }),
      queuedCount: () => this.#outbox.queued.count,
      hooks: {
        connected: (client) => this.#inbound.resubscribe(client),
        state: (s) => {
          // Queued messages first, in the order they were published: what a listener sends on
          // 'online' is newer (a fresh retained status must not be overwritten by a queued one).
          if (s === 'online') this.#outbox.flush(() => this.#conn.state === 'online');
          this.emit('state', s);
        },
        message: (topic, payload, packet) => this.#inbound.dispatch(topic, payload, packet),
        lost: () => this.#outbox.requeueInflight(),
      },
    });
    this.#outbox = new Outbox({
      limits: { maxCount: options.queue?.maxCount ?? DEFAULTS.queueCount, maxBytes: options.queue?.maxBytes ?? DEFAULTS.queueBytes },
      protocol: this.#protocol, client: () => this.#conn.client, stats, log, now,
    });
  }

  /** The device ceiling of one inbound message (bytes): no subscription takes more. */
  get inboundCeiling(): number {
    return this.#o.maxInboundBytes ?? DEFAULTS.maxInbound;
  }

  get state(): TransportState {
    return this.#conn.state;
  }

  /** Who this connection is on the broker, and what the broker refused it: connections and publishes (never the password). */
  get identity(): BrokerIdentity {
    return { ...this.#conn.identity, publishRefused: this.#stats.publishRefused, lastPublishRefusal: this.#outbox.lastRefusal };
  }

  /** The broker identity from now on (a node's, released by its TPM at activation): reconnects at once. Never logged. */
  useCredentials(username: string, password: string): void {
    this.#conn.useCredentials(username, password);
  }

  /** Protocol in use (or to be tried next): 5, or 4 (= 3.1.1) after a refusal. */
  get protocolVersion(): 5 | 4 {
    return this.#protocol.version;
  }

  get queued(): { count: number; bytes: number } {
    return this.#outbox.queued;
  }

  stats(): TransportStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Starts connecting (non-blocking); the transport works offline and reconnects by itself. */
  start(): void {
    if (this.state !== 'idle') return;
    const signal = this.#o.signal;
    if (signal) {
      if (signal.aborted) { void this.close(); return; }
      this.#onAbort = () => void this.close();
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    this.#conn.start();
  }

  /** Resolves when online (now or later); rejects with ERR_TRANSPORT_CLOSED if closed first. */
  online(signal?: AbortSignal): Promise<void> {
    if (this.state === 'online') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed'));
    return new Promise((resolve, reject) => {
      const done = (s: TransportState): void => {
        if (s === 'online') { cleanup(); resolve(); }
        if (s === 'closed') { cleanup(); reject(new TransportError('ERR_TRANSPORT_CLOSED', 'transport closed before it came online')); }
      };
      const abort = (): void => { cleanup(); reject(new TransportError('ERR_TRANSPORT_CLOSED', 'aborted while waiting to come online')); };
      const cleanup = (): void => { this.off('state', done); signal?.removeEventListener('abort', abort); };
      this.on('state', done);
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  /**
   * Subscribes; returns the unsubscribe function, which also carries `ready`: resolves when the
   * broker has answered the SUBSCRIBE (true: granted, false: refused), so a caller (a test) waits
   * on the SUBACK instead of a sleep. Offline, it resolves once the subscription is sent on the
   * next connection.
   */
  subscribe<T = unknown>(filter: string, handler: (m: InboundMessage<T>) => void | Promise<void>, options: SubscribeOptions<T> = {}): Subscribed {
    if (this.state === 'closed') throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    assertTopicFilter(filter);
    let acked: (granted: boolean) => void = () => undefined;
    const ready = new Promise<boolean>((resolve) => { acked = resolve; });
    const sub: Subscription = {
      filter,
      qos: options.qos ?? 1,
      maxBytes: capOf(options.maxBytes ?? options.schema?.maxBytes ?? DEFAULT_SUBSCRIPTION_BYTES, this.inboundCeiling),
      onOversize: options.onOversize,
      read: options.schema === undefined ? undefined : (value) => options.schema!.read(value),
      onInvalid: options.onInvalid,
      raw: options.raw ?? false,
      handler: handler as Subscription['handler'],
      acked: (granted) => acked(granted),
    };
    this.#inbound.add(sub);
    if (this.state === 'online') this.#inbound.send(this.#conn.client!, [sub]);
    const unsubscribe = (): void => {
      const unused = this.#inbound.remove(sub);
      if (this.state === 'online' && unused) this.#conn.client!.unsubscribe(filter);
    };
    return Object.assign(unsubscribe, { ready });
  }

  /**
   * Publishes (or queues while offline). Objects are sent as JSON; with `expiresAt`, the JSON gets
   * an `expiresAt` field (the 3.1.1 substitute for message expiry). Bad arguments throw; runtime
   * outcomes resolve (never reject), so a caller may ignore the promise.
   */
  publish(topic: string, payload: Uint8Array | string | Record<string, unknown>, options: PublishOptions = {}): Promise<PublishOutcome> {
    if (this.state === 'closed') throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    assertTopicName(topic);
    const expiresAt = options.expiresAt ?? 0;
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'expiresAt must be ms since the epoch');
    const bytes = encodePayload(payload, expiresAt);
    const max = this.#o.maxOutboundBytes ?? DEFAULTS.maxOutbound;
    if (bytes.length > max) throw new TransportError('ERR_TRANSPORT_PAYLOAD', `payload is ${bytes.length} bytes, max ${max}`, { topic, bytes: bytes.length });
    const m = { topic, payload: bytes, qos: options.qos ?? (options.seal ? 1 : 0), retain: options.retain ?? false, seal: options.seal ?? false, expiresAt };
    return this.#outbox.submit(m, this.state === 'online');
  }

  /**
   * A seal for a clerk: QoS 1, expires at the round deadline. Pass the object (its `expiresAt` is
   * used), or already-encoded JSON (e.g. protocol's encodeSealMessage(), which carries expiresAt)
   * together with the deadline. The topic names the sealing node (`sender`, this connection's node
   * id by default), the id the seal carries: receivers refuse a seal under another node's name.
   */
  publishSeal(clerkFingerprint: string, seal: (Record<string, unknown> & { expiresAt: number }) | string, expiresAt?: number, sender: string = this.#o.nodeId): Promise<PublishOutcome> {
    const deadline = typeof seal === 'string' ? expiresAt : seal.expiresAt;
    if (deadline === undefined) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'publishSeal needs the round deadline (expiresAt)');
    return this.publish(this.topics.sealFrom(clerkFingerprint, sender), seal, { qos: 1, seal: true, expiresAt: deadline });
  }

  publishTelemetry(value: Record<string, unknown>): Promise<PublishOutcome> {
    return this.publish(this.topics.telemetry(this.nodeId), value, { qos: 0 });
  }

  /**
   * Async-iterable subscription (subscribed at once) with a bounded buffer: a consumer slower than
   * the network loses the oldest messages (counted as 'backlog' drops), never memory. Ends on
   * `signal`, close() or the iterator's return(). Carries the subscription's `ready` (the SUBACK).
   */
  stream<T = unknown>(filter: string, options: StreamOptions<T> = {}): AsyncGenerator<InboundMessage<T>> & { readonly ready: Promise<boolean> } {
    const max = options.maxBuffered ?? 256;
    const buf: InboundMessage<T>[] = [];
    let wake: (() => void) | null = null;
    const poke = (): void => { const w = wake; wake = null; w?.(); };
    const unsubscribe = this.subscribe<T>(filter, (m) => {
      buf.push(m);
      if (buf.length > max) this.#inbound.drop(buf.shift()!.topic, 'backlog', `consumer ${max} messages behind`);
      poke();
    }, options);
    const onState = (s: TransportState): void => { if (s === 'closed') poke(); };
    const stop = (): void => { unsubscribe(); this.off('state', onState); options.signal?.removeEventListener('abort', onAbort); };
    const onAbort = (): void => { stop(); poke(); };
    this.on('state', onState);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const closed = (): boolean => this.state === 'closed';
    const iterator = (async function* iterate(): AsyncGenerator<InboundMessage<T>> {
      try {
        for (;;) {
          const m = buf.shift();
          if (m) { yield m; continue; }
          if (closed() || options.signal?.aborted) return;
          await new Promise<void>((r) => { wake = r; });
        }
      } finally {
        stop();
      }
    })();
    return Object.assign(iterator, { ready: unsubscribe.ready });
  }

  /** Ends cleanly: retained offline status if online, disconnect, queued messages settle as 'closed'. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.#onAbort) this.#o.signal?.removeEventListener('abort', this.#onAbort);
    await this.#conn.close(() => this.#outbox.settleClosed());
  }
}

function capOf(cap: number | ((payload: Uint8Array) => number), ceiling: number): (payload: Uint8Array) => number {
  if (typeof cap === 'number') {
    const fixed = Math.min(cap, ceiling);
    return () => fixed;
  }
  return (payload) => Math.min(cap(payload), ceiling);
}

/** Creates and starts a transport. */
export function createMqttTransport(options: MqttTransportOptions): MqttTransport {
  const t = new MqttTransport(options);
  t.start();
  return t;
}
