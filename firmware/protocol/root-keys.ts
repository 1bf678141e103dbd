// The root's keys a node believes, and when: one key, or two during a rotation's overlap window.
// A manifest signed by the current root key may announce the next key with a window
// (from .. until): before `from` only the old key signs, in the window either, after `until`
// only the new one. docs/trust.md states the chain rule that decides which key may sign the
// next manifest (network-manifest.ts applies it); registrations and revocation lists are
// believed under any key valid at the moment they are checked.
import { fromHex, toHex } from '../core/bytes.ts';
import { hexText, integer, object, refine } from '../core/json.ts';
import { ed25519Verify } from './chain/transaction.ts';

const DAY_MS = 24 * 3600_000;
/**
 * The shortest overlap: a node renews its registration under the new key as soon as the window
 * opens (firmware/activation/gate.ts), so the window only has to cover a node that is offline or
 * cannot reach the root at that moment; a day covers a household's power cut or router outage,
 * and is far above the 5-minute renewal check.
 */
export const MIN_ROOT_OVERLAP_MS = DAY_MS;
/** The longest overlap: a retired key that stays good for longer is a key nobody watches. */
export const MAX_ROOT_OVERLAP_MS = 2 * 365 * DAY_MS;

/** What a manifest announces (signed with it): the key retired, its successor, and the overlap. */
export interface RootRotation {
  /** Ed25519 public key, lowercase hex: signs until `until`. */
  readonly previous: string;
  /** Ed25519 public key, lowercase hex: signs from `from`. */
  readonly next: string;
  /** Unix ms. */
  readonly from: number;
  readonly until: number;
}

const ms = integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const key = hexText({ bytes: 32, lowercase: true });
/** The announcement's fields and its bounds (part of the signed manifest). */
export const rootRotationShape = refine(object({ previous: key, next: key, from: ms, until: ms }), (r) => {
  if (r.previous === r.next) return 'next must be another key than previous';
  if (r.until - r.from < MIN_ROOT_OVERLAP_MS) return `the overlap (until - from) must be at least ${MIN_ROOT_OVERLAP_MS / DAY_MS} day`;
  if (r.until - r.from > MAX_ROOT_OVERLAP_MS) return `the overlap (until - from) must be at most ${MAX_ROOT_OVERLAP_MS / DAY_MS} days`;
  return undefined;
});

export function sameRotation(a: RootRotation | null, b: RootRotation | null): boolean {
  if (a === null || b === null) return a === b;
  return a.previous === b.previous && a.next === b.next && a.from === b.from && a.until === b.until;
}

/** One root key and the span (Unix ms, inclusive) it signs in. */
export interface RootKeySpan {
  readonly key: Uint8Array;
  readonly hex: string;
  readonly from: number;
  readonly until: number;
}

/** The root keys held, each with its span; two at most (the old and the next during a rotation). */
export class RootKeys {
  readonly spans: readonly RootKeySpan[];
  /** The rotation this set comes from, if any. */
  readonly rotation: RootRotation | null;

  private constructor(spans: readonly RootKeySpan[], rotation: RootRotation | null) {
    this.spans = spans;
    this.rotation = rotation;
  }

  /** One key, good for ever (a config's root key, or a manifest that announces nothing). */
  static single(publicKey: Uint8Array): RootKeys {
    return new RootKeys([span(publicKey, -Infinity, Infinity)], null);
  }

  /** The keys a manifest signed by `signer` leaves the node with: the signer alone, or both keys of the window it carries. */
  static of(signer: Uint8Array, rotation: RootRotation | null): RootKeys {
    if (rotation === null) return RootKeys.single(signer);
    return new RootKeys([span(fromHex(rotation.previous), -Infinity, rotation.until), span(fromHex(rotation.next), rotation.from, Infinity)], rotation);
  }

  /** The keys that sign at `now`. */
  at(now: number): Uint8Array[] {
    return this.spans.filter((s) => s.from <= now && now <= s.until).map((s) => s.key);
  }

  /** The key a signer should use at `now`: the newest valid one. */
  newestAt(now: number): Uint8Array | null {
    return this.at(now).at(-1) ?? null;
  }

  spanOf(publicKey: Uint8Array | string): RootKeySpan | undefined {
    const h = typeof publicKey === 'string' ? publicKey : toHex(publicKey);
    return this.spans.find((s) => s.hex === h);
  }

  /** The span of the key (among all held, valid now or not) under which `signature` over `message` verifies. */
  signerOf(message: Uint8Array, signature: Uint8Array): RootKeySpan | undefined {
    return this.spans.find((s) => ed25519Verify(s.key, message, signature));
  }

  /** For status and logs: each key with its span as ISO text (open ends omitted). */
  describe(): { publicKey: string; from?: string; until?: string }[] {
    return this.spans.map((s) => ({
      publicKey: s.hex,
      ...(Number.isFinite(s.from) ? { from: new Date(s.from).toISOString() } : {}),
      ...(Number.isFinite(s.until) ? { until: new Date(s.until).toISOString() } : {}),
    }));
  }
}

function span(k: Uint8Array, from: number, until: number): RootKeySpan {
  return { key: k, hex: toHex(k), from, until };
}

/** A short key for messages. */
export const shortKey = (k: Uint8Array | string): string => `${(typeof k === 'string' ? k : toHex(k)).slice(0, 16)}…`;

/** Signs nothing: verifies `signature` over `message` under any key of `keys`; the key that verified, or null. */
export function verifyUnderAny(keys: readonly Uint8Array[], message: Uint8Array, signature: Uint8Array): Uint8Array | null {
  return keys.find((k) => ed25519Verify(k, message, signature)) ?? null;
}
