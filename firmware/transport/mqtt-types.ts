// Options, messages and counters of the MQTT transport (kept apart from the state machine).
import type { Logger } from 'pino';
import type { BackoffOptions } from '../core/backoff.ts';
import type { MessageSchema } from '../core/json.ts';

export type TransportState = 'idle' | 'connecting' | 'online' | 'offline' | 'closed';
export type ProtocolChoice = 'auto' | 5 | 4;
export type DropReason = 'oversize' | 'invalid-utf8' | 'malformed-json' | 'expired' | 'invalid' | 'handler-failed' | 'backlog';
export type PublishOutcome = 'delivered' | 'expired' | 'evicted' | 'rejected' | 'closed';

export interface MqttTransportOptions {
  /** mqtt://host:port (or mqtts://, ws://). */
  readonly url: string;
  /**
   * Other members of the same broker cluster: after a lost connection or a failed attempt, the
   * next attempt goes to the next URL in turn (url, then these, then url again). mqtt.js's own
   * `servers` list rotates only with its built-in reconnect, which this transport does not use.
   */
  readonly fallbackUrls?: readonly string[];
  /**
   * The highest QoS asked for in SUBSCRIBE (default 1; a subscription asking for more gets this).
   * Sessions here are clean, so a QoS 1 subscription keeps nothing across connections that a
   * reconnect would not bring back; 0 spares a broker that pays for each QoS 1 subscription (on
   * nats-server every one is a replicated JetStream consumer, which 2.9 often fails to create
   * while a cluster member is down). Publishing keeps its own QoS.
   */
  readonly maxSubscribeQos?: 0 | 1;
  /** Node id used in status/telemetry topics. */
  readonly nodeId: string;
  /** SPKI (DER) of the sealing key: the client id is derived from it. Or give clientId. */
  readonly sealingKeySpki?: Uint8Array;
  readonly clientId?: string;
  readonly prefix?: string;
  readonly protocol?: ProtocolChoice;
  readonly username?: string;
  readonly password?: string;
  /** For mqtts://: the network's broker CA (PEM), pinned: the system's CAs are not consulted. */
  readonly ca?: string;
  readonly keepaliveSeconds?: number;
  readonly connectTimeoutMs?: number;
  /** > 0: persistent session (v5 sessionExpiryInterval, 3.1.1 clean=false). 0: clean session. */
  readonly sessionExpirySeconds?: number;
  /**
   * The device's ceiling for one inbound message (bytes; default DEVICE_MAX_INBOUND_BYTES). Sent
   * to the broker as MQTT 5's maximum packet size (plus room for the headers); no subscription's
   * cap goes above it.
   */
  readonly maxInboundBytes?: number;
  /** Largest outbound payload (bytes). */
  readonly maxOutboundBytes?: number;
  readonly queue?: { readonly maxCount?: number; readonly maxBytes?: number };
  readonly backoff?: BackoffOptions;
  /** Publish retained online/offline status with a last will. Default true. */
  readonly status?: boolean;
  readonly now?: () => number;
  /** Schedules a reconnect; returns a cancel function (injected in tests). */
  readonly setTimer?: (fn: () => void, ms: number) => () => void;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
}

export interface InboundMessage<T> {
  readonly topic: string;
  readonly value: T;
  readonly retain: boolean;
  readonly bytes: number;
  /** Seconds of life left as the broker forwarded it (MQTT 5 only; undefined on 3.1.1). */
  readonly messageExpiryInterval: number | undefined;
}

export interface SubscribeOptions<T> {
  readonly qos?: 0 | 1;
  /**
   * The message's schema: its size cap applies before JSON.parse and its reader runs once; the
   * handler gets the typed value. A value it refuses is dropped with reason 'invalid'.
   */
  readonly schema?: MessageSchema<T>;
  /** Told of every value the schema refused (after the drop is counted), e.g. for the node's own counters. */
  readonly onInvalid?: (err: Error, topic: string) => void;
  /**
   * Size cap of this subscription (default: the schema's, else DEFAULT_SUBSCRIPTION_BYTES), never
   * above the transport's ceiling. A function is asked at each message, with its bytes: a cap that
   * follows the network's manifest, and may depend on the payload's encoding (its first byte).
   */
  readonly maxBytes?: number | ((payload: Uint8Array) => number);
  /** Told of every message above this subscription's cap (after the 'oversize' drop is counted). */
  readonly onOversize?: (bytes: number, cap: number, topic: string) => void;
  /** The payload's bytes (Uint8Array) as they came, not parsed as JSON: Home Assistant's birth "online" is a bare word. */
  readonly raw?: boolean;
}

export interface PublishOptions {
  readonly qos?: 0 | 1;
  readonly retain?: boolean;
  /** Marks a seal: last to be evicted from the offline queue. */
  readonly seal?: boolean;
  /** ms since epoch after which the message is worthless (not sent, dropped by receivers). */
  readonly expiresAt?: number;
}

export interface TransportStats {
  received: number;
  delivered: number;
  dropped: Record<DropReason, number>;
  published: number;
  queueEvicted: number;
  queueExpired: number;
  connects: number;
  reconnectAttempts: number;
  /** Times a broker refused MQTT 5 (at most 1: the fallback is remembered). */
  protocolRefusals: number;
  /** Publishes the broker acknowledged with a refusal (MQTT 5 reason code 0x80 and up, e.g. Not authorized by its ACL). */
  publishRefused: number;
}

/** Who a connection is on the broker and what the broker refused it (never the password). */
export interface BrokerIdentity {
  readonly user: string | null;
  /** Connections refused, and the last reason. */
  readonly refused: number;
  readonly lastRefusal: string | null;
  /** Why the last attempt failed before the broker answered (TLS name or CA, DNS, no route), in words. */
  readonly lastFailure: string | null;
  /** Publishes refused, and the last one's topic and reason ("Not authorized on btn/v1/seals/..."). */
  readonly publishRefused: number;
  readonly lastPublishRefusal: string | null;
}

export interface DropEvent {
  readonly topic: string;
  readonly reason: DropReason;
  readonly detail: string;
}

export interface StreamOptions<T> extends SubscribeOptions<T> {
  /** Messages held for a slow consumer; when full the oldest is dropped (reason 'backlog'). Default 256. */
  readonly maxBuffered?: number;
  /** Ends the iteration (and the subscription). */
  readonly signal?: AbortSignal;
}
