// MQTT 5 first, 3.1.1 for a broker that refuses it (docs/components.md: aedes 1.2 answers "unacceptable
// protocol version"); the fallback is remembered for the life of the transport. Everything only
// MQTT 5 can carry (maximum packet size, session expiry, message expiry) is added here and nowhere
// else, so 3.1.1 degrades in one place: seal expiry still travels as `expiresAt` in the JSON,
// which receivers enforce.
import type { IClientOptions, IClientPublishOptions } from 'mqtt';
import { TransportError } from './errors.ts';
import type { ProtocolChoice } from './mqtt-types.ts';

// Room for the fixed header, topic and properties around the largest payload we accept.
const PACKET_OVERHEAD = 64 * 1024;

/** Refusal of MQTT 5 by a 3.1.1-only broker: CONNACK 1 (3.1.1 §3.2.2.3) or 0x84 (MQTT 5 §3.2.2.2). */
export function isProtocolRefusal(err: Error & { code?: unknown }): boolean {
  return err.code === 1 || err.code === 0x84 || /protocol version/i.test(err.message);
}

export class ProtocolFallback {
  readonly choice: ProtocolChoice;
  #version: 5 | 4;

  constructor(choice: ProtocolChoice | undefined) {
    const c = choice ?? 'auto';
    if (c !== 'auto' && c !== 5 && c !== 4) throw new TransportError('ERR_TRANSPORT_OPTIONS', `protocol must be 'auto', 5 or 4`);
    this.choice = c;
    this.#version = c === 4 ? 4 : 5;
  }

  /** Protocol in use (or to be tried next): 5, or 4 (= 3.1.1) after a refusal. */
  get version(): 5 | 4 {
    return this.#version;
  }

  /** True, and 3.1.1 from now on, when `err` is a refusal of our MQTT 5 CONNECT under 'auto'. */
  refusedBy(err: Error & { code?: unknown }): boolean {
    if (this.#version !== 5 || this.choice !== 'auto' || !isProtocolRefusal(err)) return false;
    this.#version = 4;
    return true;
  }

  /** CONNECT properties (v5 only); on 3.1.1 only our own inbound cap applies. */
  connectProperties(maxInboundBytes: number, sessionExpirySeconds: number): Pick<IClientOptions, 'properties'> {
    if (this.#version !== 5) return {};
    // MQTT 5 §3.1.2.11.4: the broker must not send us packets above this size.
    return { properties: { maximumPacketSize: maxInboundBytes + PACKET_OVERHEAD, ...(sessionExpirySeconds > 0 ? { sessionExpiryInterval: sessionExpirySeconds } : {}) } };
  }

  /** PUBLISH properties (v5 only) for a message that is worthless after `expiresAt` (0 = never). */
  publishProperties(expiresAt: number, now: number): Pick<IClientPublishOptions, 'properties'> {
    if (this.#version !== 5 || expiresAt <= 0) return {};
    // MQTT 5 §3.3.2.3.3: the broker discards the message once the interval has passed.
    return { properties: { messageExpiryInterval: Math.max(1, Math.ceil((expiresAt - now) / 1000)) } };
  }
}
