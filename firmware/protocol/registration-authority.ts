// The SealAuthority of a provisioned network, for clerks and secondary nodes alike: a seal's key
// is trusted ONLY from the root-signed registration certificate the seal carries (a lottery
// ticket is unique only under a key the verifier already trusts, never one that travels with the
// seal). The certificate must verify under the root's Ed25519 key, be valid now, name the seal's
// node, and neither the node nor its EK may be on the newest signed revocation list seen. Then,
// and only then, the certificate's sealing public key is the key the seal is checked under.
// During a root key rotation "the root's key" is either key valid at that moment, as the held
// network manifest says (root-keys.ts): after the window only the new key's certificates count.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { verifyRegistration, type RegistrationCertificate } from './registration.ts';
import { RootKeys, shortKey } from './root-keys.ts';
import { toHex } from '../core/bytes.ts';
import { revocationListMessage, verifyRevocationList } from './revocation-list.ts';
import { parseJson, type MessageSchema } from '../core/json.ts';
import type { SealMessage } from './seal-message.ts';
import { ProtocolError } from './errors.ts';
import type { SealAuthority } from './seal-check.ts';

export type RegistrationRejectCode =
  | 'no-registration' // the seal carries no registration certificate
  | 'bad-certificate' // not a registration certificate (shape, fields, nodeId vs. its own key)
  | 'bad-signature' // the certificate does not verify under the root key
  | 'expired' // outside issuedAt .. expiresAt
  | 'node-mismatch' // the certificate is for another node than the seal names
  | 'revoked' // the node (or its EK) is on the signed revocation list
  | 'not-rsa'; // the certified sealing key is not RSA (lottery tickets need RSASSA: one signature per message)

export const REGISTRATION_REJECT_CODES: readonly RegistrationRejectCode[] = [
  'no-registration', 'bad-certificate', 'bad-signature', 'expired', 'node-mismatch', 'revoked', 'not-rsa',
];

export type KeyDecision = { readonly ok: true; readonly key: KeyObject } | { readonly ok: false; readonly reason: string; readonly code: RegistrationRejectCode };

export interface RegistrationAuthorityOptions {
  /** The root node's Ed25519 public key (32 bytes). */
  readonly rootPublicKey: Uint8Array;
  /** The root keys the held network manifest names (a rotation's window); null or absent: rootPublicKey alone. */
  readonly rootKeys?: () => RootKeys | null;
  /** Unix ms (injected for tests). */
  readonly now?: () => number;
  /** Fetches the root's signed revocation list (GET /v1/revocations); needed for refresh()/start(). */
  readonly fetchRevocations?: () => Promise<unknown>;
  /** Poll period of start() (default 30 s). */
  readonly pollMs?: number;
  /** Certificates kept verified (default 4096); a node's certificate is checked once, not per seal. */
  readonly cacheSize?: number;
  readonly logger?: Logger;
}

/** The part of MqttTransport needed to follow retained revocation lists. */
export interface RevocationFeed {
  subscribe<T = unknown>(filter: string, handler: (m: { readonly value: T }) => void | Promise<void>, options?: { qos?: 0 | 1; schema?: MessageSchema<T> }): () => void;
}

export interface RegistrationAuthorityStats {
  accepted: number;
  rejected: Record<RegistrationRejectCode, number>;
  revocationVersion: number;
  revokedNodes: number;
  listsRefused: number;
}

interface Verified {
  readonly cert: RegistrationCertificate;
  readonly key: KeyObject;
  readonly notBefore: number;
  readonly notAfter: number;
  /** The root key that signed it, lowercase hex. */
  readonly signer: string;
}

const CLOCK_SKEW_MS = 5 * 60_000; // as verifyRegistrationCertificate allows
/** Cap on a list handed over as text or bytes (a fetched one); pushed lists meet the message's cap. */
const MAX_REVOCATION_LIST_BYTES = 32 * 1024 * 1024;

export class RegistrationAuthority implements SealAuthority {
  readonly #root: RootKeys;
  readonly #rootKeys: (() => RootKeys | null) | undefined;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #cache = new Map<string, Verified>();
  readonly #accepted = new Map<string, RegistrationCertificate>();
  readonly #cacheSize: number;
  readonly #fetch: (() => Promise<unknown>) | undefined;
  readonly #pollMs: number;
  #revokedNodes = new Map<string, string>();
  #revokedEks = new Set<string>();
  #version = -1;
  #timer: NodeJS.Timeout | null = null;
  #refreshing: Promise<void> | null = null;
  readonly #stats: RegistrationAuthorityStats = {
    accepted: 0,
    rejected: Object.fromEntries(REGISTRATION_REJECT_CODES.map((c) => [c, 0])) as Record<RegistrationRejectCode, number>,
    revocationVersion: -1,
    revokedNodes: 0,
    listsRefused: 0,
  };

  constructor(options: RegistrationAuthorityOptions) {
    if (!(options.rootPublicKey instanceof Uint8Array) || options.rootPublicKey.length !== 32) {
      throw new ProtocolError('ERR_PROTOCOL_OPTIONS', 'rootPublicKey must be the 32-byte Ed25519 public key of the root node', 'rootPublicKey');
    }
    this.#root = RootKeys.single(new Uint8Array(options.rootPublicKey));
    this.#rootKeys = options.rootKeys;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetchRevocations;
    this.#cacheSize = options.cacheSize ?? 4096;
    this.#pollMs = options.pollMs ?? 30_000;
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'registration-authority' });
  }

  #keys(): RootKeys {
    return this.#rootKeys?.() ?? this.#root;
  }

  keyFor(seal: SealMessage): KeyDecision {
    const d = this.check(seal);
    if (d.ok) {
      this.#stats.accepted++;
      this.#accepted.set(seal.nodeId, seal.registration as unknown as RegistrationCertificate);
    } else this.#stats.rejected[d.code]++;
    return d;
  }

  /** The registration a seal of this node was last accepted with (what a block's seal list can carry). */
  registrationOf(nodeId: string): RegistrationCertificate | null {
    return this.#accepted.get(nodeId) ?? null;
  }

  /** keyFor without counting. */
  check(seal: SealMessage): KeyDecision {
    const reg = seal.registration;
    if (reg === null || reg === undefined) return no('no-registration', 'the seal carries no registration certificate from the root node');
    const verified = this.#verified(reg);
    if ('code' in verified) return verified;
    const { cert } = verified;
    const now = this.#now();
    const span = this.#keys().spanOf(verified.signer);
    if (span === undefined) return no('bad-signature', `registration certificate is signed by root key ${shortKey(verified.signer)}, which is no longer held`);
    if (now > span.until) return no('expired', `registration certificate is signed by root key ${shortKey(span.hex)}, whose overlap window ended at ${new Date(span.until).toISOString()}; the node renews under the new key`);
    if (now < span.from) return no('bad-signature', `registration certificate is signed by the next root key ${shortKey(span.hex)} before its window opens at ${new Date(span.from).toISOString()}`);
    if (now < verified.notBefore - CLOCK_SKEW_MS) return no('expired', `registration certificate is not valid before ${cert.issuedAt}`);
    if (now > verified.notAfter) return no('expired', `registration certificate expired at ${cert.expiresAt}`);
    if (cert.nodeId !== seal.nodeId) return no('node-mismatch', `registration certificate is for node ${cert.nodeId.slice(0, 16)}…, the seal names node ${seal.nodeId.slice(0, 16)}`);
    const revoked = this.#revokedNodes.get(cert.nodeId) ?? (this.#revokedEks.has(cert.ekName) ? 'its EK is revoked' : undefined);
    if (revoked !== undefined) return no('revoked', `node ${cert.nodeId.slice(0, 16)}… is revoked by the root node (revocation list v${this.#version}: ${revoked})`);
    return { ok: true, key: verified.key };
  }

  #verified(reg: unknown): Verified | Extract<KeyDecision, { ok: false }> {
    let cacheKey: string;
    try {
      cacheKey = JSON.stringify(reg);
    } catch {
      return no('bad-certificate', 'registration is not JSON');
    }
    const hit = this.#cache.get(cacheKey);
    if (hit !== undefined) return hit;
    let cert: RegistrationCertificate;
    let signer: Uint8Array;
    try {
      // Without `now`: the validity period, and the signer's window, are checked per seal above
      // (a cached certificate expires too). Every key held is tried, valid now or not.
      ({ cert, signer } = verifyRegistration(reg, this.#keys().spans.map((k) => k.key)));
    } catch (err) {
      const message = (err as Error).message;
      return no(message.includes('does not verify') ? 'bad-signature' : 'bad-certificate', message);
    }
    const notBefore = Date.parse(cert.issuedAt);
    const notAfter = Date.parse(cert.expiresAt);
    if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) return no('bad-certificate', 'registration certificate dates are not ISO-8601');
    const key = createPublicKey(cert.sealingPublicKey); // parsed by the verifier already
    if (key.asymmetricKeyType !== 'rsa') return no('not-rsa', `the certified sealing key is ${key.asymmetricKeyType ?? 'unknown'}, not RSA`);
    const v: Verified = { cert, key, notBefore, notAfter, signer: toHex(signer) };
    if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(cacheKey, v);
    return v;
  }

  /**
   * Applies a signed revocation list (object or JSON text). Refused, changing nothing, when it
   * does not verify with the root key or is older than the newest list applied. Returns whether
   * it was applied.
   */
  applyRevocationList(input: unknown): boolean {
    let value = input;
    try {
      if (typeof input === 'string' || input instanceof Uint8Array) value = parseJson(input, MAX_REVOCATION_LIST_BYTES, 'revocation list');
      const list = verifyRevocationList(value, this.#keys().at(this.#now()), Math.max(0, this.#version));
      if (list.version === this.#version) return false;
      this.#revokedNodes = new Map(list.entries.map((e) => [e.nodeId, e.reason || 'no reason given']));
      this.#revokedEks = new Set(list.entries.map((e) => e.ekName));
      this.#version = list.version;
      this.#stats.revocationVersion = list.version;
      this.#stats.revokedNodes = list.entries.length;
      this.#log.info({ version: list.version, revoked: list.entries.length }, 'revocation list applied');
      return true;
    } catch (err) {
      this.#stats.listsRefused++;
      this.#log.warn({ err: (err as Error).message }, 'revocation list refused');
      return false;
    }
  }

  /** Fetches the list from the root once (concurrent calls share one fetch). */
  refresh(): Promise<void> {
    if (this.#fetch === undefined) return Promise.reject(new ProtocolError('ERR_PROTOCOL_OPTIONS', 'this authority has no fetchRevocations', 'fetchRevocations'));
    this.#refreshing ??= this.#fetch()
      .then((list) => void this.applyRevocationList(list))
      .finally(() => { this.#refreshing = null; });
    return this.#refreshing;
  }

  /** Fetches now, then every pollMs until stop(); fetch failures are logged and retried at the next poll. */
  async start(): Promise<void> {
    if (this.#timer !== null) return;
    await this.refresh().catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'revocation list not fetched'));
    this.#timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'revocation list not fetched'));
    }, this.#pollMs);
    this.#timer.unref();
  }

  /** Follows signed lists pushed (retained) on an MQTT topic; returns the unsubscribe function. */
  follow(feed: RevocationFeed, topic: string): () => void {
    return feed.subscribe(topic, (m) => void this.applyRevocationList(m.value), { qos: 1, schema: revocationListMessage });
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  isRevoked(nodeId: string): boolean {
    return this.#revokedNodes.has(nodeId);
  }

  get revocationVersion(): number {
    return this.#version;
  }

  stats(): RegistrationAuthorityStats {
    return { ...this.#stats, rejected: { ...this.#stats.rejected } };
  }
}

function no(code: RegistrationRejectCode, detail: string): Extract<KeyDecision, { ok: false }> {
  // The clerk reports `unregistered: <reason>`; the reason starts with the specific code.
  return { ok: false, code, reason: `${code}: ${detail}` };
}
