// RegistrationAuthority: a seal's key is trusted only from its root-signed registration; every
// reason for refusing it is specific. Pure (software RSA keys, real Ed25519 root signatures).
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import type { Json } from '../../../firmware/protocol/message-schema.ts';
import { encodeSealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { RegistrationAuthority } from '../../../firmware/protocol/registration-authority.ts';
import { checkSeal, type SealCheckContext } from '../../../firmware/protocol/seal-check.ts';
import { generateEd25519 } from '../../../provisioning/keys.ts';
import { issueRegistrationCertificate, type RegistrationCertificate } from '../../../provisioning/registration/certificate.ts';
import { signRevocationList } from '../../../provisioning/registration/revocation-list.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const CLERK = 'c'.repeat(64);
const HASH = new Uint8Array(32).fill(9);
const root = generateEd25519().key;
const otherRoot = generateEd25519().key;
const keyA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyB = generateKeyPairSync('rsa', { modulusLength: 2048 });

const pemOf = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }).toString();
const idOf = (k: KeyObject): string => createHash('sha256').update(k.export({ type: 'spki', format: 'der' })).digest('hex');

function certFor(k: KeyObject, over: Partial<{ issuedAt: string; expiresAt: string; ekName: string }> = {}, signer = root): RegistrationCertificate {
  return issueRegistrationCertificate(signer, {
    nodeId: idOf(k), sealingPublicKey: pemOf(k), ekName: over.ekName ?? 'e'.repeat(64), board: 'rpi4', serial: 'SN-1',
    issuedAt: over.issuedAt ?? '2026-01-01T00:00:00.000Z', expiresAt: over.expiresAt ?? '2036-01-01T00:00:00.000Z',
  });
}

function sealBy(priv: KeyObject, pub: KeyObject, registration: unknown, over: Partial<SealMessage> = {}): SealMessage {
  for (let round = 0; ; round++) {
    const signature = new Uint8Array(sign('sha256', lotteryMessage(HASH, round), priv));
    if (scoreTicket(signature, round).zeros >= 2) {
      return { nodeId: idOf(pub), height: 3, blockHash: HASH, clerk: CLERK, round, signature, registration: registration as Json, expiresAt: NOW + 5000, ...over };
    }
  }
}

const authority = (extra: Partial<ConstructorParameters<typeof RegistrationAuthority>[0]> = {}): RegistrationAuthority =>
  new RegistrationAuthority({ rootPublicKey: root.publicKey, now: () => NOW, ...extra });

function code(a: RegistrationAuthority, seal: SealMessage): string {
  const d = a.keyFor(seal);
  return d.ok ? 'ok' : d.code;
}

describe('RegistrationAuthority', () => {
  it('trusts the sealing key of a valid root-signed registration, and only that key', () => {
    const a = authority();
    const d = a.keyFor(sealBy(keyA.privateKey, keyA.publicKey, certFor(keyA.publicKey)));
    expect(d.ok).toBe(true);
    if (d.ok) expect(d.key.equals(keyA.publicKey)).toBe(true);
    expect(a.stats().accepted).toBe(1);
  });

  it('refuses with a specific reason: no registration, bad certificate, bad signature, expired, node mismatch', () => {
    const a = authority();
    const good = certFor(keyA.publicKey);
    expect(code(a, sealBy(keyA.privateKey, keyA.publicKey, null))).toBe('no-registration');
    expect(code(a, sealBy(keyA.privateKey, keyA.publicKey, { format: 'nope' }))).toBe('bad-certificate');
    expect(code(a, sealBy(keyA.privateKey, keyA.publicKey, [1, 2]))).toBe('bad-certificate');
    // Signed by another root; and a field changed after signing.
    expect(code(a, sealBy(keyA.privateKey, keyA.publicKey, certFor(keyA.publicKey, {}, otherRoot)))).toBe('bad-signature');
    expect(code(a, sealBy(keyA.privateKey, keyA.publicKey, { ...good, board: 'evil' }))).toBe('bad-signature');
    // A node's own certificate with another node's key swapped in no longer verifies.
    expect(code(a, sealBy(keyA.privateKey, keyA.publicKey, { ...good, sealingPublicKey: pemOf(keyB.publicKey) }))).toBe('bad-signature');
    expect(code(a, sealBy(keyA.privateKey, keyA.publicKey, certFor(keyA.publicKey, { expiresAt: '2026-05-31T23:59:59.000Z' })))).toBe('expired');
    expect(code(a, sealBy(keyA.privateKey, keyA.publicKey, certFor(keyA.publicKey, { issuedAt: '2026-06-02T00:00:00.000Z' })))).toBe('expired');
    // B's seal carrying A's (valid) certificate: the certificate names another node.
    expect(code(a, sealBy(keyB.privateKey, keyB.publicKey, good))).toBe('node-mismatch');
    const r = a.keyFor(sealBy(keyB.privateKey, keyB.publicKey, good));
    expect(r.ok ? '' : r.reason).toMatch(/^node-mismatch: registration certificate is for node/);
    expect(a.stats().rejected).toMatchObject({ 'no-registration': 1, 'bad-certificate': 2, 'bad-signature': 3, expired: 2, 'node-mismatch': 2 });
  });

  it('a cached certificate still expires', () => {
    let now = NOW;
    const a = authority({ now: () => now });
    const s = sealBy(keyA.privateKey, keyA.publicKey, certFor(keyA.publicKey, { expiresAt: '2026-06-01T00:00:10.000Z' }));
    expect(code(a, s)).toBe('ok');
    now += 11_000;
    expect(code(a, s)).toBe('expired');
  });

  it('revocation: a signed list naming the node (or its EK) makes its seals "revoked"; forged and older lists change nothing', () => {
    const a = authority();
    const sA = sealBy(keyA.privateKey, keyA.publicKey, certFor(keyA.publicKey));
    const sB = sealBy(keyB.privateKey, keyB.publicKey, certFor(keyB.publicKey, { ekName: 'b'.repeat(64) }));
    expect(a.applyRevocationList(signRevocationList(root, 0, new Date(NOW).toISOString(), []))).toBe(true);
    expect(code(a, sA)).toBe('ok');
    const v1 = signRevocationList(root, 1, new Date(NOW).toISOString(), [{ nodeId: idOf(keyA.publicKey), ekName: 'e'.repeat(64), revokedAt: new Date(NOW).toISOString(), reason: 'stolen' }]);
    // Forged: signed by another key.
    const forged = signRevocationList(otherRoot, 5, new Date(NOW).toISOString(), [{ nodeId: idOf(keyB.publicKey), ekName: 'x'.repeat(64), revokedAt: '', reason: '' }]);
    expect(a.applyRevocationList(forged)).toBe(false);
    expect(code(a, sB)).toBe('ok');
    expect(a.applyRevocationList(JSON.stringify(v1))).toBe(true);
    expect(code(a, sA)).toBe('revoked');
    const r = a.keyFor(sA);
    expect(r.ok ? '' : r.reason).toMatch(/^revoked: .*stolen/);
    expect(code(a, sB)).toBe('ok');
    // Rollback to v0 refused: A stays revoked.
    expect(a.applyRevocationList(signRevocationList(root, 0, new Date(NOW).toISOString(), []))).toBe(false);
    expect(code(a, sA)).toBe('revoked');
    // Revoked by EK name alone.
    const v2 = signRevocationList(root, 2, new Date(NOW).toISOString(), [...v1.entries, { nodeId: 'f'.repeat(64), ekName: 'b'.repeat(64), revokedAt: '', reason: 'ek' }]);
    expect(a.applyRevocationList(v2)).toBe(true);
    expect(code(a, sB)).toBe('revoked');
    expect(a.stats()).toMatchObject({ revocationVersion: 2, revokedNodes: 2, listsRefused: 2 });
  });

  it('refresh() fetches the list through the injected client; follow() applies lists pushed on a topic', async () => {
    const v1 = signRevocationList(root, 1, new Date(NOW).toISOString(), [{ nodeId: idOf(keyA.publicKey), ekName: 'e'.repeat(64), revokedAt: '', reason: 'r' }]);
    let calls = 0;
    const a = authority({ fetchRevocations: async () => { calls++; return v1; } });
    await Promise.all([a.refresh(), a.refresh()]);
    expect(calls).toBe(1);
    expect(a.isRevoked(idOf(keyA.publicKey))).toBe(true);
    const b = authority();
    let handler: ((m: { value: unknown }) => void) | null = null;
    b.follow({ subscribe: (_t, h) => { handler = h as (m: { value: unknown }) => void; return () => undefined; } }, 'btn/x/revocations');
    handler!({ value: v1 });
    expect(b.revocationVersion).toBe(1);
    await expect(authority().refresh()).rejects.toThrow(/fetchRevocations/);
  });

  it('through the clerk check: the seal is "unregistered" with the specific reason first', () => {
    const a = authority();
    const ctx: SealCheckContext = { clerk: CLERK, candidate: { height: 3, hash: HASH, clerk: CLERK, sealedBy: new Set() }, sealZeros: 2, authority: a, now: NOW };
    expect(checkSeal(encodeSealMessage(sealBy(keyA.privateKey, keyA.publicKey, certFor(keyA.publicKey))), ctx).ok).toBe(true);
    const r = checkSeal(encodeSealMessage(sealBy(keyA.privateKey, keyA.publicKey, null)), ctx);
    expect(r.ok ? null : [r.reason.code, r.reason.message]).toEqual(['unregistered', expect.stringContaining(': no-registration:')]);
  });

  it('needs a 32-byte root key', () => {
    expect(() => new RegistrationAuthority({ rootPublicKey: new Uint8Array(31) })).toThrow(/32-byte/);
  });
});
