import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { encodeSealMessage, sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { checkParsedSeal, checkSeal, StaticSealAuthority, type OpenCandidate, type SealCheckContext } from '../../../firmware/protocol/seal-check.ts';
import { ProtocolError } from '../../../firmware/protocol/errors.ts';

const NOW = 1_800_000_000_000;
const CLERK = 'c'.repeat(64);
const HASH = new Uint8Array(32).fill(7);
const nodeKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const authority = new StaticSealAuthority([['node-1', nodeKey.publicKey]]);

/** The first round whose seal under `key` has between min and max leading zero bits. */
function sealWith(key: KeyObject, min: number, max = 256, hash = HASH): { round: number; signature: Uint8Array } {
  for (let round = 0; ; round++) {
    const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, round), key));
    const z = scoreTicket(signature, round).zeros;
    if (z >= min && z <= max) return { round, signature };
  }
}

function seal(overrides: Partial<SealMessage> = {}, key: KeyObject = nodeKey.privateKey): SealMessage {
  const { round, signature } = sealWith(key, 3);
  return { nodeId: 'node-1', height: 5, blockHash: HASH, clerk: CLERK, round, signature, registration: null, expiresAt: NOW + 5000, ...overrides };
}

function ctx(candidate: Partial<OpenCandidate> | null = {}, extra: Partial<SealCheckContext> = {}): SealCheckContext {
  return {
    clerk: CLERK,
    candidate: candidate === null ? null : { height: 5, hash: HASH, clerk: CLERK, sealedBy: new Set(), ...candidate },
    sealZeros: 3,
    authority,
    now: NOW,
    ...extra,
  };
}

/** A payload as it arrives: JSON text, or a value sent as JSON. */
function reason(payload: unknown, c: SealCheckContext = ctx()): string {
  const r = checkSeal(typeof payload === 'string' ? payload : JSON.stringify(payload), c);
  return r.ok ? 'ok' : r.reason.code;
}

describe('checkSeal', () => {
  it('accepts a seal over lotteryMessage(hash, round) under the registered key with enough zeros', () => {
    const s = seal();
    const r = checkSeal(encodeSealMessage(s), ctx());
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.accepted.score.zeros).toBeGreaterThanOrEqual(3);
      expect(r.accepted.score.round).toBe(s.round);
      expect(r.accepted.key.equals(nodeKey.publicKey)).toBe(true);
    }
    // A seal the transport already read through the schema is checked as it is.
    expect(checkParsedSeal(sealMessage.read(JSON.parse(encodeSealMessage(s))), ctx()).ok).toBe(true);
  });

  it('rejects malformed payloads with the parser reason', () => {
    const r = checkSeal('{"v":1,"nodeId":"node-1"}', ctx());
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason.code).toBe('malformed');
      expect(r.reason.message).toMatch(/height|seal\./);
    }
    expect(reason('not json')).toBe('malformed');
    expect(reason(null)).toBe('malformed');
    expect(reason(42)).toBe('malformed');
    expect(reason({ ...JSON.parse(encodeSealMessage(seal())), v: 2 })).toBe('malformed');
    expect(reason({ ...JSON.parse(encodeSealMessage(seal())), signature: 'zz' })).toBe('malformed');
  });

  it('rejects a signature made with a key other than the registered one', () => {
    const forged = seal({}, otherKey.privateKey);
    const r = checkSeal(encodeSealMessage(forged), ctx());
    expect(r.ok ? 'ok' : r.reason).toMatchObject({ code: 'bad-signature', nodeId: 'node-1' });
  });

  it('rejects an unregistered node, whatever key it signs with', () => {
    const r = checkSeal(encodeSealMessage(seal({ nodeId: 'node-9' })), ctx());
    expect(r.ok ? 'ok' : r.reason).toMatchObject({ code: 'unregistered', nodeId: 'node-9' });
    if (!r.ok) expect(r.reason.message).toMatch(/not registered/);
  });

  it('rejects a ticket below sealZeros, even with a valid signature', () => {
    const { round, signature } = sealWith(nodeKey.privateKey, 0, 2);
    expect(reason(encodeSealMessage(seal({ round, signature })))).toBe('low-zeros');
  });

  it('rejects a seal for another block, another height or when no candidate is open', () => {
    const otherHash = new Uint8Array(32).fill(8);
    const { round, signature } = sealWith(nodeKey.privateKey, 3, 256, otherHash);
    expect(reason(encodeSealMessage(seal({ blockHash: otherHash, round, signature })))).toBe('wrong-block');
    expect(reason(encodeSealMessage(seal({ height: 6 })))).toBe('wrong-block');
    expect(reason(encodeSealMessage(seal()), ctx(null))).toBe('no-candidate');
    expect(reason(encodeSealMessage(seal({ clerk: 'd'.repeat(64) })))).toBe('wrong-clerk');
  });

  it('rejects an expired seal', () => {
    expect(reason(encodeSealMessage(seal({ expiresAt: NOW })))).toBe('expired');
    expect(reason(encodeSealMessage(seal({ expiresAt: NOW - 1 })))).toBe('expired');
  });

  it('rejects a second seal from a node that already sealed the candidate', () => {
    expect(reason(encodeSealMessage(seal()), ctx({ sealedBy: new Set(['node-1']) }))).toBe('duplicate');
  });

  it('does not change the candidate it checks against', () => {
    const sealedBy = new Set<string>();
    const c = ctx({ sealedBy });
    for (const bad of ['x', encodeSealMessage(seal({ nodeId: 'node-9' })), encodeSealMessage(seal({ expiresAt: 1 }))]) checkSeal(bad, c);
    checkSeal(encodeSealMessage(seal()), c);
    expect(sealedBy.size).toBe(0);
  });
});

describe('StaticSealAuthority', () => {
  it('registers RSA public keys by node id and refuses others', () => {
    const a = new StaticSealAuthority();
    a.register('n', nodeKey.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(a.keyFor(seal({ nodeId: 'n' })).ok).toBe(true);
    expect(a.keyFor(seal({ nodeId: 'm' })).ok).toBe(false);
    const ed = generateKeyPairSync('ed25519');
    expect(() => a.register('e', ed.publicKey)).toThrow(ProtocolError);
    expect(() => a.register('g', 'garbage')).toThrow(/not a public key/);
  });
});
