import { afterAll, describe, expect, it } from 'vitest';
import { ChainError, ed25519Sign, encodeTransaction, firstInvalidInline, keyPairFromSeed, merkleRoot, signTransaction, VerifyPool } from '../../../../firmware/protocol/chain/index.ts';
import type { SignatureCheck } from '../../../../firmware/protocol/chain/index.ts';
import { checkTransactionsInline, type TransactionCheck } from '../../../../firmware/protocol/chain/verify-pool.ts';
import { toHex } from '../../../../firmware/core/bytes.ts';
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

describe('VerifyPool.checkTransactions (ids, Merkle root and signatures on the workers)', () => {
  const pool = new VerifyPool({ size: 2, inlineThreshold: 4, maxBatch: 16 });
  afterAll(() => pool.close());
  const second = keyPairFromSeed(seed(200));

  function txChecks(n: number, withSecond: (i: number) => boolean): TransactionCheck[] {
    return Array.from({ length: n }, (_, i) => {
      const k = keys[i % keys.length]!;
      let t = signTransaction({ type: 0, timestamp: 1_700_000_000 + i, senderPublicKey: k.publicKey, recipientId: String(i), amount: BigInt(i), fee: 1n }, k, withSecond(i) ? second : undefined);
      if (i % 5 === 0 && withSecond(i)) t = { ...t, secondSignature: undefined }; // a key without its second signature
      return { encoding: encodeTransaction(t), secondPublicKey: withSecond(i) ? second.publicKey : undefined };
    });
  }

  it('gives the same ids, root and first bad signature as inline, for sizes around every batch boundary', async () => {
    for (const n of [0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 47, 64, 65, 100, 257]) {
      for (const c of [txChecks(n, () => false), txChecks(n, (i) => i % 7 === 3)]) {
        const inline = checkTransactionsInline(c);
        const pooled = await pool.checkTransactions(c);
        expect(pooled.ids.map(toHex), `n=${n}`).toEqual(inline.ids.map(toHex));
        expect(toHex(pooled.root), `n=${n}`).toBe(toHex(merkleRoot(inline.ids)));
        expect(pooled.bad, `n=${n}`).toEqual(inline.bad);
      }
    }
  });

  it('names the first bad signature across batches, and keeps every id', async () => {
    const c = txChecks(70, () => false);
    const spoilt = (i: number): TransactionCheck[] => c.map((x, j) => (j === i ? { ...x, encoding: flip(x.encoding, 80) } : x));
    for (const bad of [0, 15, 16, 40, 69]) {
      const s = spoilt(bad);
      const r = await pool.checkTransactions([...s.slice(0, 60), ...spoilt(65).slice(60)]);
      expect(r.bad).toEqual({ index: Math.min(bad, 65), which: 'signature' });
      expect(r.ids).toHaveLength(70);
      expect(toHex(r.root)).toBe(toHex(merkleRoot(checkTransactionsInline(s.slice(0, 60).concat(spoilt(65).slice(60))).ids)));
    }
  });

  it('a missing second signature is reported as such', async () => {
    const r = await pool.checkTransactions(txChecks(40, (i) => i === 25));
    expect(r.bad).toEqual({ index: 25, which: 'secondSignature' });
  });
});
