// A provisioned node counts another node's seal as competition only as the clerks would accept it:
// a root-signed registration for that node, not revoked, and a signature that verifies under the
// registered key; the ticket's zero bits are checked before anything costlier.
import { describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { RegistrationAuthority } from '../../../firmware/protocol/registration-authority.ts';
import { competingSeal, type SealAuthority } from '../../../firmware/protocol/seal-check.ts';
import { lotteryMessage } from '../../../firmware/protocol/chain/lottery.ts';
import type { SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { generateEd25519 } from '../../../provisioning/keys.ts';
import { issueRegistrationCertificate } from '../../../provisioning/registration/certificate.ts';
import { signRevocationList } from '../../../provisioning/registration/revocation-list.ts';

const NOW = Date.parse('2026-11-23T08:00:00Z');
const root = generateEd25519().key;
const otherRoot = generateEd25519().key;

function node(rootKey = root, expiresAt = '2036-11-23T00:00:00Z') {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const nodeId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  const registration = issueRegistrationCertificate(rootKey, {
    nodeId, sealingPublicKey: pem, ekName: 'ab'.repeat(32), board: 'rpi4', serial: 'SN-1', issuedAt: '2026-11-01T00:00:00Z', expiresAt,
  }) as unknown as Record<string, unknown>;
  return { nodeId, privateKey, registration };
}

function sealOf(n: ReturnType<typeof node>, overrides: Partial<SealMessage> = {}): SealMessage {
  const blockHash = new Uint8Array(32).fill(7);
  const round = 2;
  return {
    nodeId: n.nodeId, height: 5, blockHash, clerk: 'c'.repeat(64), round,
    signature: new Uint8Array(sign('sha256', lotteryMessage(blockHash, round), n.privateKey)),
    registration: n.registration, expiresAt: NOW + 10_000, ...overrides,
  };
}

describe('competingSeal', () => {
  const authority = new RegistrationAuthority({ rootPublicKey: root.publicKey, now: () => NOW });
  // zero bits are not what these cases are about: threshold 0 lets every ticket through to the key checks
  const check = (seal: SealMessage): boolean => competingSeal(seal, 0, authority).ok;
  const a = node();

  it('accepts a seal with a valid registration and a verifying signature', () => {
    expect(check(sealOf(a))).toBe(true);
  });

  it('refuses a seal without a registration, with another node\'s, or from another root', () => {
    const b = node();
    expect(check(sealOf(b, { registration: null }))).toBe(false);
    expect(check(sealOf(node(), { registration: a.registration }))).toBe(false);
    expect(check(sealOf(node(otherRoot)))).toBe(false);
  });

  it('refuses an expired registration and a tampered registration', () => {
    expect(check(sealOf(node(root, '2026-11-02T00:00:00Z')))).toBe(false);
    const c = node();
    expect(check(sealOf(c, { registration: { ...c.registration, board: 'rpi5' } }))).toBe(false);
  });

  it('refuses a signature over another round or block, even for a node it already knows', () => {
    expect(check(sealOf(a, { round: 3 }))).toBe(false);
    expect(check(sealOf(a, { blockHash: new Uint8Array(32).fill(8) }))).toBe(false);
    expect(check(sealOf(a))).toBe(true);
  });

  it('refuses a node on the newest signed revocation list, and counts it again under none', () => {
    const r = node();
    expect(check(sealOf(r))).toBe(true);
    const list = signRevocationList(root, 1, '2026-11-23T07:00:00Z', [{ nodeId: r.nodeId, ekName: 'cd'.repeat(32), revokedAt: '2026-11-23T07:00:00Z', reason: 'stolen' }]);
    expect(authority.applyRevocationList(list)).toBe(true);
    const judged = competingSeal(sealOf(r), 0, authority);
    expect(judged.ok ? 'ok' : judged.reason.code).toBe('revoked');
    // a forged list (another root) changes nothing
    const forged = signRevocationList(otherRoot, 2, '2026-11-23T07:30:00Z', []);
    expect(authority.applyRevocationList(forged)).toBe(false);
    expect(check(sealOf(r))).toBe(false);
  });

  it('checks the zero bits before the registration or the signature', () => {
    let consulted = 0;
    const spy: SealAuthority = { keyFor: (seal) => { consulted++; return authority.keyFor(seal); } };
    const seal = sealOf(a);
    const judged = competingSeal(seal, 257, spy);
    expect(judged.ok ? 'ok' : judged.reason.code).toBe('low-zeros');
    expect(consulted).toBe(0);
    const after = competingSeal(seal, 0, spy);
    expect(after.ok ? 'ok' : after.reason.message).toBe('ok');
    expect(consulted).toBe(1);
  });

  it('without an authority (an unprovisioned devnet) any qualifying ticket counts, unverified', () => {
    expect(competingSeal(sealOf(a, { registration: null, signature: new Uint8Array(256) }), 0, null).ok).toBe(true);
    expect(competingSeal(sealOf(a), 257, null).ok).toBe(false);
  });
});
