import { afterAll, describe, expect, it } from 'vitest';
import { ChainError, ed25519Sign, firstInvalidInline, keyPairFromSeed, VerifyPool } from '../../../../firmware/protocol/chain/index.ts';
import type { SignatureCheck } from '../../../../firmware/protocol/chain/index.ts';
import { flip, seed } from './helpers.ts';

const keys = [0, 1, 2, 3].map((i) => keyPairFromSeed(seed(100 + i)));
function checks(n: number): SignatureCheck[] {
  return Array.from({ length: n }, (_, i) => {
    const k = keys[i % keys.length]!;
    const message = new TextEncoder().encode(`message ${i}`);
    return { publicKey: k.publicKey, message, signature: ed25519Sign(k.privateKey, message) };
  });
}
const spoil = (c: SignatureCheck[], i: number): SignatureCheck[] => c.map((x, j) => (j === i ? { ...x, signature: flip(x.signature, 5) } : x));

describe('VerifyPool', () => {
  const pool = new VerifyPool({ size: 2, inlineThreshold: 8, maxBatch: 64 });
  afterAll(() => pool.close());

  it('agrees with inline verification on all-valid and on the first invalid index', async () => {
    const c = checks(300);
    expect(await pool.firstInvalid(c)).toBe(-1);
    expect(firstInvalidInline(c)).toBe(-1);
    for (const bad of [0, 63, 64, 199, 299]) {
      expect(await pool.firstInvalid(spoil(c, bad))).toBe(bad);
      expect(firstInvalidInline(spoil(c, bad))).toBe(bad);
    }
    const two = spoil(spoil(c, 250), 70);
    expect(await pool.firstInvalid(two)).toBe(70);
  });

  it('a wrong-size key or signature counts as invalid at its index', async () => {
    const c = checks(100);
    c[40] = { ...c[40]!, signature: new Uint8Array(10) };
    expect(await pool.firstInvalid(c)).toBe(40);
    const d = checks(100);
    d[90] = { ...d[90]!, publicKey: new Uint8Array(31) };
    d[95] = { ...d[95]!, signature: flip(d[95]!.signature) };
    expect(await pool.firstInvalid(d)).toBe(90);
  });

  it('verifies small sets inline and handles concurrent requests', async () => {
    expect(await pool.firstInvalid(checks(3))).toBe(-1);
    const results = await Promise.all([pool.firstInvalid(checks(200)), pool.firstInvalid(spoil(checks(200), 150)), pool.firstInvalid(spoil(checks(120), 9))]);
    expect(results).toEqual([-1, 150, 9]);
  });

  it('refuses work beyond its bounded queue', async () => {
    const small = new VerifyPool({ size: 1, inlineThreshold: 1, maxBatch: 10, maxQueuedBatches: 5 });
    try {
      await expect(small.firstInvalid(checks(100))).rejects.toMatchObject({ code: 'ERR_CHAIN_POOL_SATURATED' });
      expect(await small.firstInvalid(checks(40))).toBe(-1);
    } finally {
      await small.close();
    }
  });

  it('after close: rejects pending and new work with ERR_CHAIN_POOL_CLOSED', async () => {
    const p = new VerifyPool({ size: 1, inlineThreshold: 1, maxBatch: 50 });
    const pending = p.firstInvalid(checks(400)).then(() => undefined, (err: unknown) => err);
    await p.close();
    expect(await pending).toBeInstanceOf(ChainError);
    await expect(p.firstInvalid(checks(10))).rejects.toMatchObject({ code: 'ERR_CHAIN_POOL_CLOSED' });
  });
});
