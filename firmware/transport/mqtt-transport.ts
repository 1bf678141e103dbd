// MQTT transport of a node (DESIGN.md §7) over mqtt.js:
// - MQTT 5 first; a broker that answers "unacceptable protocol version" (aedes 1.2) gets 3.1.1,
//   remembered for the life of the transport. v5-only features degrade: seal expiry travels as
//   messageExpiryInterval on v5 and always as `expiresAt` in the JSON, which receivers enforce.
// - mqtt.js's fixed-interval reconnect is off (reconnectPeriod 0); each attempt uses a fresh
//   client after a capped, fully jittered backoff. Unacknowledged QoS 1 messages go back to the
//   head of our own bounded offline queue; receivers dedupe (QoS 1 is at-least-once, [MQTT-4.3.2]).
// - Inbound: size cap, UTF-8 + JSON parse, expiry, per-subscription validator; every failure is a
//   counted, logged drop with a reason; nothing thrown into the event loop.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { connect, type IClientOptions, type IClientPublishOptions, type MqttClient, type IPublishPacket } from 'mqtt';
import { pino, type Logger } from 'pino';
import { Backoff } from './backoff.ts';
import type { DropEvent, DropReason, InboundMessage, MqttTransportOptions, PublishOptions, PublishOutcome, StreamOptions, SubscribeOptions, TransportState, TransportStats } from './mqtt-types.ts';
import { TransportError } from './errors.ts';
import { OfflineQueue, type QueuedMessage } from './offline-queue.ts';
import { assertTopicFilter, assertTopicName, topicMatches, topicsFor, topicSegment, type Topics } from './topics.ts';

export type {
  TransportState, ProtocolChoice, DropReason, PublishOutcome, MqttTransportOptions, InboundMessage, SubscribeOptions, PublishOptions, TransportStats, DropEvent, StreamOptions,
} from './mqtt-types.ts';

interface Subscription {
  readonly filter: string;
  readonly qos: 0 | 1;
  readonly maxBytes: number;
  readonly validate: ((value: unknown, topic: string) => unknown) | undefined;
  readonly handler: (m: InboundMessage<unknown>) => void | Promise<void>;
}

export const OFFLINE_STATUS = '{"state":"offline"}';
// Room for the fixed header, topic and properties around the largest payload we accept.
const PACKET_OVERHEAD = 64 * 1024;
const DEFAULTS = { keepalive: 30, connectTimeout: 10_000, maxInbound: 256 * 1024, maxOutbound: 1024 * 1024, queueCount: 1000, queueBytes: 4 * 1024 * 1024 };

/** `btn-` + first 16 hex digits of SHA-256(SPKI): stable per sealing key, unique per node. */
export function clientIdFromSpki(spki: Uint8Array): string {
  if (!(spki instanceof Uint8Array) || spki.length < 16 || spki.length > 4096) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'sealingKeySpki must be 16..4096 bytes of DER');
  return 'btn-' + createHash('sha256').update(spki).digest('hex').slice(0, 16);
}

/** Refusal of MQTT 5 by a 3.1.1-only broker: CONNACK 1 (3.1.1 §3.2.2.3) or 0x84 (MQTT 5 §3.2.2.2). */
function isProtocolRefusal(err: Error & { code?: unknown }): boolean {
  return err.code === 1 || err.code === 0x84 || /protocol version/i.test(err.message);
}

export class MqttTransport extends EventEmitter {
  readonly topics: Topics;
  readonly clientId: string;
  readonly nodeId: string;
  readonly #o: MqttTransportOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #setTimer: (fn: () => void, ms: number) => () => void;
  readonly #backoff: Backoff;
  readonly #queue: OfflineQueue;
  readonly #subs: Subscription[] = [];
  readonly #inflight = new Set<QueuedMessage>();
  readonly #stats: TransportStats = {
    received: 0, delivered: 0, published: 0, queueEvicted: 0, queueExpired: 0, connects: 0, reconnectAttempts: 0, protocolRefusals: 0,
    dropped: { oversize: 0, 'invalid-utf8': 0, 'malformed-json': 0, expired: 0, invalid: 0, 'handler-failed': 0, backlog: 0 },
  };
  readonly #utf8 = new TextDecoder('utf-8', { fatal: true });
  #client: MqttClient | null = null;
  #version: 5 | 4;
  #state: TransportState = 'idle';
  #cancelTimer: (() => void) | null = null;
  #onAbort: (() => void) | null = null;

  constructor(options: MqttTransportOptions) {
    super();
    if (typeof options?.url !== 'string' || !/^(mqtts?|wss?|tcp):\/\//.test(options.url)) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'url must be mqtt://, mqtts://, tcp://, ws:// or wss://');
    this.#o = options;
    this.nodeId = topicSegment(options.nodeId, 'nodeId');
    this.topics = topicsFor(options.prefix);
    if (options.clientId !== undefined) this.clientId = topicSegment(options.clientId, 'clientId');
    else if (options.sealingKeySpki !== undefined) this.clientId = clientIdFromSpki(options.sealingKeySpki);
    else throw new TransportError('ERR_TRANSPORT_OPTIONS', 'give sealingKeySpki (preferred) or clientId');
    const protocol = options.protocol ?? 'auto';
    if (protocol !== 'auto' && protocol !== 5 && protocol !== 4) throw new TransportError('ERR_TRANSPORT_OPTIONS', `protocol must be 'auto', 5 or 4`);
    this.#version = protocol === 4 ? 4 : 5;
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'mqtt-transport', clientId: this.clientId });
    this.#now = options.now ?? Date.now;
    this.#setTimer = options.setTimer ?? ((fn, ms) => { const t = setTimeout(fn, ms); return () => clearTimeout(t); });
    this.#backoff = new Backoff(options.backoff);
    this.#queue = new OfflineQueue({ maxCount: options.queue?.maxCount ?? DEFAULTS.queueCount, maxBytes: options.queue?.maxBytes ?? DEFAULTS.queueBytes });
  }

  get state(): TransportState {
    return this.#state;
  }

  /** Protocol in use (or to be tried next): 5, or 4 (= 3.1.1) after a refusal. */
  get protocolVersion(): 5 | 4 {
    return this.#version;
  }

  get queued(): { count: number; bytes: number } {
    return { count: this.#queue.size, bytes: this.#queue.bytes };
  }

  stats(): TransportStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Starts connecting (non-blocking); the transport works offline and reconnects by itself. */
  start(): void {
    if (this.#state !== 'idle') return;
    const signal = this.#o.signal;
    if (signal) {
      if (signal.aborted) { void this.close(); return; }
      this.#onAbort = () => void this.close();
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    this.#attempt();
  }

  /** Resolves when online (now or later); rejects with ERR_TRANSPORT_CLOSED if closed first. */
  online(signal?: AbortSignal): Promise<void> {
    if (this.#state === 'online') return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed'));
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

  subscribe<T = unknown>(filter: string, handler: (m: InboundMessage<T>) => void | Promise<void>, options: SubscribeOptions<T> = {}): () => void {
    if (this.#state === 'closed') throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    assertTopicFilter(filter);
    const sub: Subscription = {
      filter,
      qos: options.qos ?? 1,
      maxBytes: Math.min(options.maxBytes ?? Infinity, this.#o.maxInboundBytes ?? DEFAULTS.maxInbound),
      validate: options.validate,
      handler: handler as Subscription['handler'],
    };
    this.#subs.push(sub);
    if (this.#state === 'online') this.#sendSubscribe(this.#client!, [sub]);
    return () => {
      const i = this.#subs.indexOf(sub);
      if (i >= 0) this.#subs.splice(i, 1);
      if (this.#state === 'online' && !this.#subs.some((s) => s.filter === filter)) this.#client!.unsubscribe(filter);
    };
  }

  /**
   * Publishes (or queues while offline). Objects are sent as JSON; with `expiresAt`, the JSON gets
   * an `expiresAt` field (the 3.1.1 substitute for message expiry). Bad arguments throw; runtime
   * outcomes resolve (never reject), so a caller may ignore the promise.
   */
  publish(topic: string, payload: Uint8Array | string | Record<string, unknown>, options: PublishOptions = {}): Promise<PublishOutcome> {
    if (this.#state === 'closed') throw new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed');
    assertTopicName(topic);
    const expiresAt = options.expiresAt ?? 0;
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'expiresAt must be ms since the epoch');
    const bytes = this.#encode(payload, expiresAt);
    const max = this.#o.maxOutboundBytes ?? DEFAULTS.maxOutbound;
    if (bytes.length > max) throw new TransportError('ERR_TRANSPORT_PAYLOAD', `payload is ${bytes.length} bytes, max ${max}`, { topic, bytes: bytes.length });
    return new Promise<PublishOutcome>((resolve) => {
      const m: QueuedMessage = {
        topic, payload: bytes, qos: options.qos ?? (options.seal ? 1 : 0), retain: options.retain ?? false, seal: options.seal ?? false, expiresAt,
        settle: { resolve: () => resolve('delivered'), reject: (e) => resolve(((e as TransportError).detail?.['outcome'] as PublishOutcome | undefined) ?? 'rejected') },
      };
      if (this.#state === 'online') this.#send(m);
      else this.#enqueue(m);
    });
  }

  /**
   * A seal for a clerk: QoS 1, expires at the round deadline. Pass the object (its `expiresAt` is
   * used), or already-encoded JSON (e.g. protocol's encodeSealMessage(), which carries expiresAt)
   * together with the deadline.
   */
  publishSeal(clerkFingerprint: string, seal: (Record<string, unknown> & { expiresAt: number }) | string, expiresAt?: number): Promise<PublishOutcome> {
    const deadline = typeof seal === 'string' ? expiresAt : seal.expiresAt;
    if (deadline === undefined) throw new TransportError('ERR_TRANSPORT_OPTIONS', 'publishSeal needs the round deadline (expiresAt)');
    return this.publish(this.topics.seals(clerkFingerprint), seal, { qos: 1, seal: true, expiresAt: deadline });
  }

  publishTelemetry(value: Record<string, unknown>): Promise<PublishOutcome> {
    return this.publish(this.topics.telemetry(this.nodeId), value, { qos: 0 });
  }

  /**
   * Async-iterable subscription (subscribed at once) with a bounded buffer: a consumer slower than
   * the network loses the oldest messages (counted as 'backlog' drops), never memory. Ends on
   * `signal`, close() or the iterator's return().
   */
  stream<T = unknown>(filter: string, options: StreamOptions<T> = {}): AsyncGenerator<InboundMessage<T>> {
    const max = options.maxBuffered ?? 256;
    const buf: InboundMessage<T>[] = [];
    let wake: (() => void) | null = null;
    const poke = (): void => { const w = wake; wake = null; w?.(); };
    const unsubscribe = this.subscribe<T>(filter, (m) => {
      buf.push(m);
      if (buf.length > max) this.#drop(buf.shift()!.topic, 'backlog', `consumer ${max} messages behind`);
      poke();
    }, options);
    const onState = (s: TransportState): void => { if (s === 'closed') poke(); };
    const stop = (): void => { unsubscribe(); this.off('state', onState); options.signal?.removeEventListener('abort', onAbort); };
    const onAbort = (): void => { stop(); poke(); };
    this.on('state', onState);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const self = this;
    return (async function* iterate(): AsyncGenerator<InboundMessage<T>> {
      try {
        for (;;) {
          const m = buf.shift();
          if (m) { yield m; continue; }
          if (self.#state === 'closed' || options.signal?.aborted) return;
          await new Promise<void>((r) => { wake = r; });
        }
      } finally {
        stop();
      }
    })();
  }

  /** Ends cleanly: publishes retained offline status (a clean DISCONNECT suppresses the will, [MQTT-3.14.4-3]), disconnects, settles queued messages as 'closed'. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    if (this.#onAbort) this.#o.signal?.removeEventListener('abort', this.#onAbort);
    const client = this.#client;
    const wasOnline = this.#state === 'online';
    if (client && wasOnline && (this.#o.status ?? true)) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 2000);
        client.publish(this.topics.status(this.nodeId), OFFLINE_STATUS, { qos: 1, retain: true }, () => { clearTimeout(t); r(); });
      });
    }
    this.#client = null;
    this.#setState('closed');
    for (const m of [...this.#inflight, ...this.#queue.drain()]) m.settle.reject(outcome('closed'));
    this.#inflight.clear();
    if (client) {
      client.on('error', () => {});
      // A graceful end waits for in-flight acks; a broker that died unnoticed must not hang close().
      await new Promise<void>((r) => {
        const t = setTimeout(() => client.end(true, {}, () => r()), 2000);
        client.end(!wasOnline, {}, () => { clearTimeout(t); r(); });
      });
    }
  }

  #encode(payload: Uint8Array | string | Record<string, unknown>, expiresAt: number): Uint8Array {
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

  #setState(s: TransportState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.emit('state', s);
  }

  #attempt(): void {
    if (this.#state === 'closed') return;
    this.#setState('connecting');
    this.#stats.reconnectAttempts++;
    const persistent = (this.#o.sessionExpirySeconds ?? 0) > 0;
    const status = this.#o.status ?? true;
    const opts: IClientOptions = {
      clientId: this.clientId,
      protocolVersion: this.#version,
      reconnectPeriod: 0, // we back off ourselves
      resubscribe: false,
      queueQoSZero: false,
      keepalive: this.#o.keepaliveSeconds ?? DEFAULTS.keepalive,
      connectTimeout: this.#o.connectTimeoutMs ?? DEFAULTS.connectTimeout,
      clean: !persistent,
      ...(this.#o.username !== undefined ? { username: this.#o.username } : {}),
      ...(this.#o.password !== undefined ? { password: this.#o.password } : {}),
      ...(status ? { will: { topic: this.topics.status(this.nodeId), payload: Buffer.from(OFFLINE_STATUS), qos: 1, retain: true } } : {}),
      // MQTT 5 §3.1.2.11.4: the broker must not send us packets above this size; on 3.1.1 only our own cap applies.
      ...(this.#version === 5
        ? { properties: { maximumPacketSize: (this.#o.maxInboundBytes ?? DEFAULTS.maxInbound) + PACKET_OVERHEAD, ...(persistent ? { sessionExpiryInterval: this.#o.sessionExpirySeconds! } : {}) } }
        : {}),
    };
    const client = connect(this.#o.url, opts);
    this.#client = client;
    let refused = false;
    client.on('connect', (connack) => {
      if (client !== this.#client) return;
      this.#backoff.reset();
      this.#stats.connects++;
      this.#log.info({ protocolVersion: this.#version, sessionPresent: connack.sessionPresent }, 'connected');
      if (status) client.publish(this.topics.status(this.nodeId), JSON.stringify({ state: 'online', clientId: this.clientId, at: this.#now() }), { qos: 1, retain: true });
      if (this.#subs.length > 0) this.#sendSubscribe(client, this.#subs);
      this.#setState('online');
      this.#flush();
    });
    client.on('message', (topic, payload, packet) => {
      if (client === this.#client) this.#onMessage(topic, payload, packet);
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      if (client !== this.#client) return;
      if (this.#version === 5 && (this.#o.protocol ?? 'auto') === 'auto' && isProtocolRefusal(err)) {
        refused = true;
        this.#version = 4;
        this.#stats.protocolRefusals++;
        this.#log.warn({ err: err.message }, 'broker refused MQTT 5, falling back to 3.1.1');
      } else {
        this.#log.warn({ err: err.message, code: err.code }, 'mqtt error');
      }
    });
    client.on('close', () => {
      if (client !== this.#client) return;
      this.#client = null;
      client.removeAllListeners('connect');
      client.removeAllListeners('message');
      client.on('error', () => {}); // late errors of a dead client must not become uncaught
      client.end(true);
      // Unacknowledged messages go back to the head, in order; they may arrive twice (receivers dedupe).
      const back = [...this.#inflight];
      this.#inflight.clear();
      for (let i = back.length - 1; i >= 0; i--) this.#queue.unshift(back[i]!);
      if (this.#state === 'closed') return;
      this.#setState('offline');
      if (refused) {
        // Not a failure to back off from: retry at once with 3.1.1.
        const h = setImmediate(() => { this.#cancelTimer = null; this.#attempt(); });
        this.#cancelTimer = () => clearImmediate(h);
        return;
      }
      const delay = this.#backoff.next();
      this.#log.info({ delayMs: delay, attempt: this.#backoff.attempt, queued: this.#queue.size }, 'disconnected, reconnecting');
      this.#cancelTimer = this.#setTimer(() => { this.#cancelTimer = null; this.#attempt(); }, delay);
    });
  }

  #sendSubscribe(client: MqttClient, subs: readonly Subscription[]): void {
    const map: Record<string, { qos: 0 | 1 }> = {};
    for (const s of subs) map[s.filter] = { qos: Math.max(map[s.filter]?.qos ?? 0, s.qos) as 0 | 1 };
    client.subscribe(map, (err, granted) => {
      if (err) this.#log.warn({ err: err.message }, 'subscribe failed');
      for (const g of granted ?? []) if (g.qos === 128) this.#log.warn({ filter: g.topic }, 'subscription refused by broker');
    });
  }

  #enqueue(m: QueuedMessage): void {
    for (const e of this.#queue.push(m)) {
      this.#stats.queueEvicted++;
      this.#log.warn({ topic: e.topic, seal: e.seal, bytes: e.payload.length }, 'offline queue full, dropped oldest');
      e.settle.reject(outcome('evicted'));
    }
  }

  #flush(): void {
    for (let m = this.#queue.shift(); m !== undefined && this.#state === 'online'; m = this.#queue.shift()) this.#send(m);
  }

  #send(m: QueuedMessage): void {
    const client = this.#client;
    if (!client) { this.#enqueue(m); return; }
    const now = this.#now();
    if (m.expiresAt > 0 && now >= m.expiresAt) {
      this.#stats.queueExpired++;
      m.settle.reject(outcome('expired'));
      return;
    }
    const opts: IClientPublishOptions = { qos: m.qos, retain: m.retain };
    // MQTT 5 §3.3.2.3.3: the broker discards the message once the interval has passed.
    if (this.#version === 5 && m.expiresAt > 0) opts.properties = { messageExpiryInterval: Math.max(1, Math.ceil((m.expiresAt - now) / 1000)) };
    this.#inflight.add(m);
    client.publish(m.topic, Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength), opts, (err) => {
      if (client !== this.#client) return; // stale client: its unacked messages were requeued on close
      if (!this.#inflight.delete(m)) return;
      if (err) {
        this.#log.warn({ topic: m.topic, err: err.message }, 'publish rejected');
        m.settle.reject(outcome('rejected'));
      } else {
        this.#stats.published++;
        m.settle.resolve();
      }
    });
  }

  #onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    this.#stats.received++;
    const subs = this.#subs.filter((s) => topicMatches(s.filter, topic));
    if (subs.length === 0) return;
    const fits = subs.filter((s) => payload.length <= s.maxBytes);
    if (fits.length === 0) return this.#drop(topic, 'oversize', `${payload.length} bytes > cap ${subs[0]!.maxBytes}`);
    let value: unknown;
    try {
      value = JSON.parse(this.#utf8.decode(payload));
    } catch (e) {
      return this.#drop(topic, e instanceof SyntaxError ? 'malformed-json' : 'invalid-utf8', (e as Error).message.slice(0, 160));
    }
    if (value !== null && typeof value === 'object' && typeof (value as { expiresAt?: unknown }).expiresAt === 'number' && this.#now() >= (value as { expiresAt: number }).expiresAt) {
      return this.#drop(topic, 'expired', `expiresAt ${(value as { expiresAt: number }).expiresAt}`);
    }
    for (const s of fits) {
      let typed: unknown = value;
      if (s.validate) {
        try {
          typed = s.validate(value, topic);
        } catch (e) {
          this.#drop(topic, 'invalid', (e as Error)?.message?.slice(0, 200) ?? String(e));
          continue;
        }
      }
      const m: InboundMessage<unknown> = { topic, value: typed, retain: packet.retain, bytes: payload.length, messageExpiryInterval: packet.properties?.messageExpiryInterval };
      try {
        const r = s.handler(m);
        if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch((e: unknown) => this.#drop(topic, 'handler-failed', String((e as Error)?.message ?? e)));
        this.#stats.delivered++;
      } catch (e) {
        this.#drop(topic, 'handler-failed', String((e as Error)?.message ?? e));
      }
    }
  }

  #drop(topic: string, reason: DropReason, detail: string): void {
    this.#stats.dropped[reason]++;
    this.#log.warn({ topic, reason, detail }, 'inbound message dropped');
    const event: DropEvent = { topic, reason, detail };
    this.emit('drop', event);
  }
}

function outcome(o: PublishOutcome): TransportError {
  return new TransportError('ERR_TRANSPORT_CLOSED', `message not delivered: ${o}`, { outcome: o });
}

/** Creates and starts a transport. */
export function createMqttTransport(options: MqttTransportOptions): MqttTransport {
  const t = new MqttTransport(options);
  t.start();
  return t;
}
