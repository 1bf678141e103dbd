// The activation rules both stores run (provisioning/store/activation-rules.ts), as pure functions.
import { describe, expect, it } from 'vitest';
import { brokerStep, challengeRefusal, deviceRefusal, revocationStep, staleChallenge } from '../../provisioning/store/activation-rules.ts';
import type { ActivationInput, ChallengeRecord } from '../../provisioning/store/types.ts';

const secret = new Uint8Array(32).fill(7);
const ch: ChallengeRecord = { id: 'c'.repeat(32), ekName: 'e'.repeat(64), secretHash: secret, createdAt: 0, expiresAt: 1000, usedAt: null, generation: 0 };
const proof: ActivationInput = { challengeId: ch.id, secretHash: secret, ekName: ch.ekName, certificate: '{}', now: 500 };

describe('activation rules', () => {
  it('a proof completes only a known, unused, unexpired challenge with the same EK and secret', () => {
    expect(challengeRefusal(ch, proof)).toBeNull();
    expect(challengeRefusal(undefined, proof)).toBe('challenge-unknown');
    expect(challengeRefusal({ ...ch, usedAt: 400 }, proof)).toBe('challenge-used');
    expect(challengeRefusal(ch, { ...proof, now: 1000 })).toBe('challenge-expired');
    expect(challengeRefusal(ch, { ...proof, secretHash: new Uint8Array(32) })).toBe('bad-proof');
    expect(challengeRefusal(ch, { ...proof, secretHash: new Uint8Array(31) })).toBe('bad-proof');
    expect(challengeRefusal(ch, { ...proof, ekName: 'f'.repeat(64) })).toBe('bad-proof');
  });

  it('a filed device activates, an active one re-activates, a revoked one never; revoking is idempotent', () => {
    expect(deviceRefusal('filed')).toBeNull();
    expect(deviceRefusal(undefined)).toBe('not-filed');
    expect(deviceRefusal('active')).toBeNull();
    expect(deviceRefusal('revoked')).toBe('revoked');
    expect([undefined, 'filed', 'active', 'revoked'].map((s) => revocationStep(s as never))).toEqual(['unknown', 'revoke', 'revoke', 'already-revoked']);
  });

  it('a challenge answers for the state it was issued in: another activation since then supersedes it', () => {
    expect(staleChallenge({ generation: 0 }, 0)).toBeNull();
    expect(staleChallenge({ generation: 0 }, 1)).toBe('superseded');
    expect(staleChallenge({ generation: 3 }, 3)).toBeNull();
    expect(staleChallenge({ generation: 2 }, 3)).toBe('superseded');
  });

  it('the broker password settles on the newest generation; revocation always ends in a disable', () => {
    expect(brokerStep({ state: 'active', brokerGeneration: 3 }, 3)).toBe('settled');
    expect(brokerStep({ state: 'active', brokerGeneration: 4 }, 3)).toBe('rewrite');
    expect(brokerStep({ state: 'revoked', brokerGeneration: 3 }, 3)).toBe('disable');
    expect(brokerStep({ state: 'revoked', brokerGeneration: 4 }, 3)).toBe('disable');
    expect(brokerStep({ state: 'filed', brokerGeneration: 0 }, 1)).toBe('disable');
    expect(brokerStep(undefined, 1)).toBe('disable');
  });
});
