// Root key rotation: the chain rule that decides which key signs the next manifest, and the
// registrations and revocation lists believed under the keys a held manifest names.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { refusal } from '../../refusal.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { signManifest, verifyManifest, type ManifestBody, type NetworkManifest, type SignedManifest } from '../../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { RegistrationAuthority } from '../../../firmware/protocol/registration-authority.ts';
import { MAX_ROOT_OVERLAP_MS, MIN_ROOT_OVERLAP_MS, type RootRotation } from '../../../firmware/protocol/root-keys.ts';
import { verifyRevocationList } from '../../../firmware/protocol/revocation-list.ts';
import type { SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { generateEd25519, type Ed25519Key } from '../../../provisioning/keys.ts';
import { issueRegistrationCertificate } from '../../../provisioning/registration/certificate.ts';
import { signRevocationList } from '../../../provisioning/registration/revocation-list.ts';

const DAY = 24 * 3600_000;
const T0 = Date.parse('2027-01-01T00:00:00Z');
const FROM = T0 + 7 * DAY;
const UNTIL = FROM + 30 * DAY;
const K = generateEd25519().key; // the root key the nodes were given
const N = generateEd25519().key; // its announced successor
const X = generateEd25519().key; // an attacker's key
const hex = (k: Ed25519Key): string => toHex(k.publicKey);

const template = new NetworkKeys({ network: 'rotnet', members: 3 }).manifest({
  version: 1, params: DEFAULT_PARAMS, primaries: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
  genesis: { hash: new Uint8Array(32).fill(2), height: 0, timestamp: 1 },
});
const { format: _f, signature: _s, rootRotation: _r, ...base } = template;
const rotation = (over: Partial<RootRotation> = {}): RootRotation => ({ previous: hex(K), next: hex(N), from: FROM, until: UNTIL, ...over });

function manifest(version: number, by: Ed25519Key, r?: RootRotation): SignedManifest {
  const body: ManifestBody = { ...base, version, ...(r === undefined ? {} : { rootRotation: r }) };
  return signManifest(body, by.privateKeyObject);
}

/** What a node given K holds after taking v1 and the announcement v2 (at T0). */
function announced(): NetworkManifest {
  const v1 = verifyManifest(manifest(1, K), K.publicKey, 'rotnet', null, T0);
  return verifyManifest(manifest(2, K, rotation()), K.publicKey, 'rotnet', v1, T0);
}

describe('root key rotation: the chain rule', () => {
  it('an announcement by the held key gives the old key until `until` and the new one from `from`', () => {
    const held = announced();
    const at = (t: number): string[] => held.rootKeys.at(t).map((k) => toHex(k));
    expect(at(T0)).toEqual([hex(K)]);
    expect(at(FROM)).toEqual([hex(K), hex(N)]);
    expect(at(UNTIL)).toEqual([hex(K), hex(N)]);
    expect(at(UNTIL + 1)).toEqual([hex(N)]);
    expect(held.rootKeys.newestAt(FROM + 1)).toEqual(N.publicKey);
  });

  it('a manifest without a rotation signs the bytes it always did', () => {
    const plain = manifest(1, K);
    expect(plain).not.toHaveProperty('rootRotation');
    // Adding a rotation changes the signed bytes: the old signature no longer fits.
    expect(refusal(() => verifyManifest({ ...plain, rootRotation: rotation() }, K.publicKey, 'rotnet', null, T0))).toMatch(/signature does not verify/);
  });

  it('refuses a key injected by a manifest signed by neither key, naming what the node would need', () => {
    const v1 = verifyManifest(manifest(1, K), K.publicKey, 'rotnet', null, T0);
    // X announces itself as K's successor: no key the node holds signed it.
    expect(refusal(() => verifyManifest(manifest(2, X, rotation({ next: hex(X) })), K.publicKey, 'rotnet', v1, FROM + 1)))
      .toMatch(new RegExp(`ERR_PROTOCOL_ROOT_KEY .*signed by root key ${hex(X).slice(0, 16)}.*holds no announcement.*needs the manifest signed by root key ${hex(K).slice(0, 16)}`));
    // Nor does a plain manifest by X, nor one by X claiming to be the previous key.
    expect(refusal(() => verifyManifest(manifest(2, X), K.publicKey, 'rotnet', v1, T0))).toMatch(/ERR_PROTOCOL_MANIFEST .*signature does not verify/);
    expect(refusal(() => verifyManifest(manifest(2, X, rotation({ previous: hex(X), next: hex(N) })), K.publicKey, 'rotnet', v1, T0))).toMatch(/signature does not verify/);
    // The first manifest too: only the configured key.
    expect(refusal(() => verifyManifest(manifest(1, X, rotation({ next: hex(X) })), K.publicKey, 'rotnet', null, T0))).toMatch(/ERR_PROTOCOL_ROOT_KEY .*holds no announcement/);
  });

  it('refuses a manifest signed by the new key when the node never held the announcement', () => {
    const v1 = verifyManifest(manifest(1, K), K.publicKey, 'rotnet', null, T0);
    // Offline through the whole announcement: the N-signed manifest after the window is not trusted.
    expect(refusal(() => verifyManifest(manifest(3, N, rotation()), K.publicKey, 'rotnet', v1, UNTIL + DAY)))
      .toMatch(new RegExp(`ERR_PROTOCOL_ROOT_KEY manifest version 3 is signed by root key ${hex(N).slice(0, 16)}…, which this node holds no announcement of`));
    expect(refusal(() => verifyManifest(manifest(3, N), K.publicKey, 'rotnet', v1, UNTIL + DAY))).toMatch(/signature does not verify/);
  });

  it('refuses a manifest of the new key before the window opens, takes it once open', () => {
    const held = announced();
    expect(refusal(() => verifyManifest(manifest(3, N, rotation()), K.publicKey, 'rotnet', held, FROM - 1)))
      .toMatch(/ERR_PROTOCOL_ROOT_KEY .*signed by the next root key .*whose window opens at/);
    const v3 = verifyManifest(manifest(3, N, rotation()), K.publicKey, 'rotnet', held, FROM);
    expect(v3.signer).toEqual(N.publicKey);
    // In the window the old key still signs.
    expect(verifyManifest(manifest(4, K, rotation()), K.publicKey, 'rotnet', v3, FROM + DAY).signer).toEqual(K.publicKey);
  });

  it('a node offline through the whole window follows: it holds the announcement and takes the new key after it', () => {
    const held = announced();
    const later = verifyManifest(manifest(3, N), K.publicKey, 'rotnet', held, UNTIL + 100 * DAY);
    expect(later.rootKeys.at(UNTIL + 100 * DAY)).toEqual([N.publicKey]);
    expect(later.rootKeys.rotation).toBeNull();
  });

  it('refuses the old key once its window ended', () => {
    const held = announced();
    expect(refusal(() => verifyManifest(manifest(3, K, rotation()), K.publicKey, 'rotnet', held, UNTIL + 1)))
      .toMatch(new RegExp(`ERR_PROTOCOL_ROOT_KEY manifest version 3 is signed by root key ${hex(K).slice(0, 16)}…, whose overlap window ended at ${new Date(UNTIL).toISOString()}; manifests now come from root key ${hex(N).slice(0, 16)}`));
  });

  it('refuses a window in the past, too short or too long, one announced by the new key, and one naming neither signer', () => {
    const v1 = verifyManifest(manifest(1, K), K.publicKey, 'rotnet', null, T0);
    expect(refusal(() => verifyManifest(manifest(2, K, rotation({ from: T0 - 60 * DAY, until: T0 - DAY })), K.publicKey, 'rotnet', v1, T0)))
      .toMatch(/ERR_PROTOCOL_ROOT_KEY manifest announces a root key rotation whose window ended/);
    expect(() => manifest(2, K, rotation({ until: FROM + MAX_ROOT_OVERLAP_MS + 1 }))).toThrow(/at most 730 days/);
    expect(() => manifest(2, K, rotation({ until: FROM + MIN_ROOT_OVERLAP_MS - 1 }))).toThrow(/at least 1 day/);
    expect(() => manifest(2, K, rotation({ next: hex(K) }))).toThrow(/another key than previous/);
    // A hand-made overlong window (not through signManifest) is refused by the reader too.
    const body = { ...manifest(2, K, rotation()), rootRotation: rotation({ until: FROM + MAX_ROOT_OVERLAP_MS + 1 }) };
    expect(refusal(() => verifyManifest(body, K.publicKey, 'rotnet', v1, T0))).toMatch(/ERR_PROTOCOL_MANIFEST .*rootRotation.*at most 730 days/);
    // The holder of K may not announce a rotation between two other keys.
    expect(refusal(() => verifyManifest(manifest(2, K, rotation({ previous: hex(X), next: hex(N) })), K.publicKey, 'rotnet', v1, T0)))
      .toMatch(/names neither the key that signed it/);
  });

  it('keeps an announced window until it ends: neither key may move, replace or withdraw it', () => {
    const held = announced();
    expect(refusal(() => verifyManifest(manifest(3, K), K.publicKey, 'rotnet', held, T0 + DAY))).toMatch(/ERR_PROTOCOL_ROOT_KEY manifest changes or withdraws/);
    expect(refusal(() => verifyManifest(manifest(3, K, rotation({ next: hex(X) })), K.publicKey, 'rotnet', held, T0 + DAY))).toMatch(/changes or withdraws/);
    expect(refusal(() => verifyManifest(manifest(3, N, rotation({ until: UNTIL + DAY })), K.publicKey, 'rotnet', held, FROM + 1))).toMatch(/changes or withdraws/);
    // After the window the new key rotates on, as the key it retires.
    const v3 = verifyManifest(manifest(3, N), K.publicKey, 'rotnet', held, UNTIL + 1);
    const next = verifyManifest(manifest(4, N, rotation({ previous: hex(N), next: hex(X), from: UNTIL + 2 * DAY, until: UNTIL + 40 * DAY })), K.publicKey, 'rotnet', v3, UNTIL + DAY);
    expect(next.rootKeys.at(UNTIL + 3 * DAY)).toEqual([N.publicKey, X.publicKey]);
  });
});

describe('root key rotation: registrations and revocation lists', () => {
  const sealing = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const nodeId = createHash('sha256').update(sealing.export({ type: 'spki', format: 'der' })).digest('hex');
  const cert = (by: Ed25519Key, issuedAt: number): unknown => issueRegistrationCertificate(by, {
    nodeId, sealingPublicKey: sealing.export({ type: 'spki', format: 'pem' }).toString(), ekName: 'e'.repeat(64), board: 'rpi4', serial: 'SN-1',
    issuedAt: new Date(issuedAt).toISOString(), expiresAt: new Date(issuedAt + 365 * DAY).toISOString(),
  });
  const seal = (registration: unknown): SealMessage => ({ nodeId, registration } as unknown as SealMessage);
  const held = announced();

  function judge(registration: unknown, now: number): string {
    const d = new RegistrationAuthority({ rootPublicKey: K.publicKey, rootKeys: () => held.rootKeys, now: () => now }).check(seal(registration));
    return d.ok ? 'ok' : d.reason;
  }

  it('believes a registration under either key in the window, only the new key after it', () => {
    const old = cert(K, T0);
    const renewed = cert(N, FROM + DAY);
    expect(judge(old, FROM + DAY)).toBe('ok');
    expect(judge(renewed, FROM + 2 * DAY)).toBe('ok');
    expect(judge(old, UNTIL + 1)).toMatch(new RegExp(`^expired: registration certificate is signed by root key ${hex(K).slice(0, 16)}…, whose overlap window ended`));
    expect(judge(renewed, UNTIL + 1)).toBe('ok');
    // One authority, its cache warm, still refuses the old certificate once the window ends.
    let now = FROM + DAY;
    const a = new RegistrationAuthority({ rootPublicKey: K.publicKey, rootKeys: () => held.rootKeys, now: () => now });
    expect(a.check(seal(old)).ok).toBe(true);
    now = UNTIL + 1;
    expect(a.check(seal(old)).ok).toBe(false);
    expect(judge(cert(X, FROM + DAY), FROM + 2 * DAY)).toMatch(/^bad-signature/);
  });

  it('verifies revocation lists under the keys valid now', () => {
    const list = signRevocationList(N, 3, new Date(FROM + DAY).toISOString(), []);
    expect(verifyRevocationList(list, held.rootKeys.at(FROM + DAY)).version).toBe(3);
    expect(() => verifyRevocationList(list, held.rootKeys.at(T0))).toThrow(/does not verify/);
    expect(() => verifyRevocationList(signRevocationList(K, 4, new Date(UNTIL + DAY).toISOString(), []), held.rootKeys.at(UNTIL + DAY))).toThrow(/does not verify/);
  });
});
