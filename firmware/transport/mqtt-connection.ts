// Connection state machine of the transport: idle -> connecting -> online <-> offline -> closed.
// - mqtt.js's fixed-interval reconnect is off (reconnectPeriod 0): each attempt uses a fresh client
//   after a capped, fully jittered backoff (a fleet must not reconnect in step after a broker
//   restart), except right after a protocol refusal, which retries at once with 3.1.1.
// - Presence: a retained online status on every connect, the retained offline status as last will,
//   and published by close() itself (a clean DISCONNECT suppresses the will, [MQTT-3.14.4-3]).
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.ts';
import { ProtocolFallback } from './mqtt-protocol.ts';
import { connectFailure } from './connect-failure.ts';
import type { BrokerIdentity, MqttTransportOptions, TransportState, TransportStats } from './mqtt-types.ts';

export const OFFLINE_STATUS = '{"state":"offline"}';

/** What the transport does at each step of the connection's life. */
export interface ConnectionHooks {
  /** A new client is connected, before the state turns 'online': resubscribe on it. */
  connected(client: MqttClient): void;
  /** The state changed (on 'online' the transport flushes its queue, then emits it). */
  state(s: TransportState): void;
  message(topic: string, payload: Buffer, packet: IPublishPacket): void;
  /** The client is gone, before 'offline': unacknowledged messages go back to the queue. */
  lost(): void;
}

export interface ConnectionConfig {
  readonly options: MqttTransportOptions;
  readonly clientId: string;
  readonly statusTopic: string;
  readonly protocol: ProtocolFallback;
  readonly maxInboundBytes: number;
  readonly keepaliveSeconds: number;
  readonly connectTimeoutMs: number;
  readonly stats: TransportStats;
  readonly log: Logger;
  readonly now: () => number;
  readonly setTimer: (fn: () => void, ms: number) => () => void;
  /** Messages waiting in the offline queue (logged with each reconnect). */
  readonly queuedCount: () => number;
  readonly hooks: ConnectionHooks;
}

export class MqttConnection {
  readonly #c: ConnectionConfig;
  readonly #backoff: Backoff;
  readonly #status: boolean;
  #client: MqttClient | null = null;
  #state: TransportState = 'idle';
  #cancelTimer: (() => void) | null = null;
  /** The broker identity: from the options, replaced by useCredentials (a node's TPM-released one after activation). */
  #credentials: { readonly username?: string; readonly password?: string };
  /** Connections the broker refused (bad credentials, not authorized, ...), and the last reason; cleared reason on connect. */
  #refused = 0;
  #lastRefusal: string | null = null;
  /** Why the last attempt failed before any broker answer (TLS, DNS, no route), in words; cleared on connect. */
  #lastFailure: string | null = null;
  /** The broker's URL and its cluster's other members, tried in turn; #urlAt is the one in use or next. */
  readonly #urls: readonly string[];
  #urlAt = 0;

  constructor(config: ConnectionConfig) {
    this.#c = config;
    const o = config.options;
    this.#urls = [o.url, ...(o.fallbackUrls ?? [])];
    this.#credentials = { ...(o.username === undefined ? {} : { username: o.username }), ...(o.password === undefined ? {} : { password: o.password }) };
    this.#backoff = new Backoff(config.options.backoff);
    this.#status = config.options.status ?? true;
  }

  get state(): TransportState {
    return this.#state;
  }

  /** Who this connection is on the broker and whether the broker refuses it (for the status page; never the password). */
  get identity(): Pick<BrokerIdentity, 'user' | 'refused' | 'lastRefusal' | 'lastFailure'> {
    return { user: this.#credentials.username ?? null, refused: this.#refused, lastRefusal: this.#lastRefusal, lastFailure: this.#lastFailure };
  }

  /** Connects again at once with this identity (the connection open now, if any, is closed). */
  useCredentials(username: string, password: string): void {
    this.#credentials = { username, password };
    if (this.#state === 'closed' || this.#state === 'idle') return;
    this.#backoff.reset();
    if (this.#client !== null) this.#client.end(true);
    else if (this.#cancelTimer !== null) {
      this.#cancelTimer();
      this.#cancelTimer = null;
      this.#attempt();
    }
  }

  /** The connected client while 'online' (or the one trying to connect); null otherwise. */
  get client(): MqttClient | null {
    return this.#client;
  }

  /** First attempt; later ones are scheduled by the state machine itself. */
  start(): void {
    this.#attempt();
  }

  /** Publishes the offline status if online, ends the client, then calls `settle` once 'closed'. */
  async close(settle: () => void): Promise<void> {
    if (this.#state === 'closed') return;
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    const client = this.#client;
    const wasOnline = this.#state === 'online';
    if (client && wasOnline && this.#status) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 2000);
        client.publish(this.#c.statusTopic, OFFLINE_STATUS, { qos: 1, retain: true }, () => { clearTimeout(t); r(); });
      });
    }
    this.#client = null;
    this.#setState('closed');
    settle();
    if (client) {
      client.on('error', () => {});
      // A graceful end waits for in-flight acks; a broker that died unnoticed must not hang close().
      await new Promise<void>((r) => {
        const t = setTimeout(() => client.end(true, {}, () => r()), 2000);
        client.end(!wasOnline, {}, () => { clearTimeout(t); r(); });
      });
    }
  }

  #setState(s: TransportState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.#c.hooks.state(s);
  }

  #connectOptions(): IClientOptions {
    const o = this.#c.options;
    const sessionExpiry = o.sessionExpirySeconds ?? 0;
    return {
      clientId: this.#c.clientId,
      protocolVersion: this.#c.protocol.version,
      reconnectPeriod: 0, // we back off ourselves
      resubscribe: false,
      queueQoSZero: false,
      keepalive: this.#c.keepaliveSeconds,
      connectTimeout: this.#c.connectTimeoutMs,
      clean: !(sessionExpiry > 0),
      ...this.#credentials,
      // A pinned CA: only the network's broker certificate is trusted, and its name must match.
      ...(o.ca !== undefined ? { ca: o.ca, rejectUnauthorized: true } : {}),
      ...(this.#status ? { will: { topic: this.#c.statusTopic, payload: Buffer.from(OFFLINE_STATUS), qos: 1, retain: true } } : {}),
      ...this.#c.protocol.connectProperties(this.#c.maxInboundBytes, sessionExpiry),
    };
  }

  #attempt(): void {
    if (this.#state === 'closed') return;
    this.#setState('connecting');
    this.#c.stats.reconnectAttempts++;
    const { hooks, log, protocol, stats } = this.#c;
    const url = this.#urls[this.#urlAt]!;
    const client = connect(url, this.#connectOptions());
    this.#client = client;
    let refused = false;
    client.on('connect', (connack) => {
      if (client !== this.#client) return;
      this.#backoff.reset();
      this.#lastRefusal = null;
      this.#lastFailure = null;
      stats.connects++;
      log.info({ url, protocolVersion: protocol.version, sessionPresent: connack.sessionPresent }, 'connected');
      if (this.#status) client.publish(this.#c.statusTopic, JSON.stringify({ state: 'online', clientId: this.#c.clientId, at: this.#c.now() }), { qos: 1, retain: true });
      hooks.connected(client);
      this.#setState('online');
    });
    client.on('message', (topic, payload, packet) => {
      if (client === this.#client) hooks.message(topic, payload, packet);
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      if (client !== this.#client) return;
      if (protocol.refusedBy(err)) {
        refused = true;
        stats.protocolRefusals++;
        log.warn({ err: err.message }, 'broker refused MQTT 5, falling back to 3.1.1');
      } else {
        // A CONNACK refusal (MQTT 5 reason codes 128 and up; 3.1.1 return codes 1-5): counted and shown.
        const refusal = typeof err.code === 'number' && (err.code >= 128 || (err.code >= 1 && err.code <= 5));
        if (refusal) {
          this.#refused++;
          this.#lastRefusal = err.message.replace(/^Connection refused: /, '').slice(0, 200);
        } else {
          this.#lastFailure = connectFailure(err);
        }
        // Refused while holding no credential is expected before activation (the status page counts it).
        if (refusal && this.#credentials.username === undefined) log.info({ err: err.message, code: err.code }, 'broker refused a client without credentials (not activated yet?)');
        else log.warn({ err: err.message, code: err.code }, 'mqtt error');
      }
    });
    client.on('close', () => {
      if (client !== this.#client) return;
      this.#client = null;
      client.removeAllListeners('connect');
      client.removeAllListeners('message');
      client.on('error', () => {}); // late errors of a dead client must not become uncaught
      client.end(true);
      hooks.lost();
      if (this.#state === 'closed') return;
      this.#setState('offline');
      if (refused) {
        // Not a failure to back off from: retry at once with 3.1.1 (same URL).
        const h = setImmediate(() => { this.#cancelTimer = null; this.#attempt(); });
        this.#cancelTimer = () => clearImmediate(h);
        return;
      }
      // The member we were on is gone or refuses us: the next attempt goes to the next one.
      this.#urlAt = (this.#urlAt + 1) % this.#urls.length;
      const delay = this.#backoff.next();
      log.info({ delayMs: delay, attempt: this.#backoff.attempt, queued: this.#c.queuedCount(), next: this.#urls[this.#urlAt] }, 'disconnected, reconnecting');
      this.#cancelTimer = this.#c.setTimer(() => { this.#cancelTimer = null; this.#attempt(); }, delay);
    });
  }
}
