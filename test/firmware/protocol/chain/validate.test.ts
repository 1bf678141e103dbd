// One test (at least) per rejection reason of validateCandidate, plus the accept path.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { blockToJson, createBlock, createTransaction, drawSignature, keyPairFromSeed, PrimaryKeySet, scoreTicket, signHeader, transactionId, U64_MAX, validateCandidate, validateCandidateJson, VerifyPool } from '../../../../firmware/protocol/chain/index.ts';
import { toHex } from '../../../../firmware/core/bytes.ts';
import type { Block, RejectCode, ValidationContext, ValidationResult } from '../../../../firmware/protocol/chain/index.ts';
import { block, clerkKey, context, flip, NOW, otherClerkKey, PARENT, seed, tx, txs, TIP_HEIGHT } from './helpers.ts';

function expectReject(result: ValidationResult, code: RejectCode): Record<string, unknown> {
  if (result.ok) throw new Error(`expected ${code}, got ok`);
  expect(result.reason.code).toBe(code);
  expect(result.reason.message.length).toBeGreaterThan(0);
  return result.reason.data as Record<string, unknown>;
}

/** Re-signs a header after a change, so only the intended check fails. */
function resign(b: Block, key = clerkKey): Block {
  return { ...b, header: { ...b.header, clerkSignature: signHeader(key, b.header) } };
}

describe('validateCandidate', () => {
  const pool = new VerifyPool({ size: 2, inlineThreshold: 16 });
  afterAll(() => pool.close());

  it('accepts a valid block and returns its hash', async () => {
    const r = await validateCandidate(block(), context());
    expect(r.ok).toBe(true);
  });

  it('accepts an empty block', async () => {
    expect((await validateCandidate(block({ transactions: [] }), context())).ok).toBe(true);
  });

  it('oversize: more transactions than maxTxs', async () => {
    const d = expectReject(await validateCandidate(block(), context({ params: { caps: { maxTxs: 2, maxBlockBytes: 1 << 20 } } })), 'oversize');
    expect(d['field']).toBe('transactions');
  });

  it('oversize: encoding larger than maxBlockBytes', async () => {
    expectReject(await validateCandidate(block(), context({ params: { caps: { maxTxs: 100, maxBlockBytes: 600 } } })), 'oversize');
  });

  it('oversize: JSON text beyond the cap', async () => {
    const json = JSON.stringify(blockToJson(block({ transactions: txs(20) })));
    expectReject(await validateCandidateJson(json, context({ params: { caps: { maxTxs: 100, maxBlockBytes: 1000 } } })), 'oversize');
  });

  it('malformed: txCount disagrees with the transactions', async () => {
    const b = block();
    const d = expectReject(await validateCandidate(resign({ ...b, header: { ...b.header, txCount: 2 } }), context()), 'malformed');
    expect(d['field']).toBe('txCount');
  });

  it('malformed: unknown version', async () => {
    const d = expectReject(await validateCandidate(block({ version: 2 }), context()), 'malformed');
    expect(d['field']).toBe('version');
  });

  it('malformed: JSON with a wrong field, a bad hash, or not JSON at all', async () => {
    const good = blockToJson(block());
    expect(expectReject(await validateCandidateJson(JSON.stringify({ ...good, height: -1 }), context()), 'malformed')['field']).toBe('block.height');
    expect(expectReject(await validateCandidateJson(JSON.stringify({ ...good, hash: '00'.repeat(32) }), context()), 'malformed')['field']).toBe('block.hash');
    expect(expectReject(await validateCandidateJson(JSON.stringify({ ...good, extra: 1 }), context()), 'malformed')['field']).toBe('block.extra');
    expectReject(await validateCandidateJson('{"version":', context()), 'malformed');
    expectReject(await validateCandidateJson(new Uint8Array([0xff, 0xfe]), context()), 'malformed');
    const badTx = { ...good, transactions: [{ ...good.transactions[0]!, amount: 5 }, ...good.transactions.slice(1)] };
    expect(expectReject(await validateCandidateJson(JSON.stringify(badTx), context()), 'malformed')['field']).toBe('block.transactions[0].amount');
  });

  it('accepts the JSON wire form of a valid block', async () => {
    expect((await validateCandidateJson(JSON.stringify(blockToJson(block())), context())).ok).toBe(true);
  });

  it('unknown-parent: previous hash is not the tip', async () => {
    const d = expectReject(await validateCandidate(block({ previousHash: flip(PARENT) }), context()), 'unknown-parent');
    expect(d['tipHash']).toBe(toHex(PARENT));
  });

  it('wrong-height', async () => {
    const d = expectReject(await validateCandidate(block({ height: TIP_HEIGHT + 2 }), context()), 'wrong-height');
    expect(d).toEqual({ height: TIP_HEIGHT + 2, expected: TIP_HEIGHT + 1 });
    expectReject(await validateCandidate(block({ height: TIP_HEIGHT }), context()), 'wrong-height');
  });

  it('timestamp-out-of-window: too far ahead, too far behind, not after the parent', async () => {
    const ctx = context({ params: { maxFutureMs: 5_000, maxPastMs: 60_000 } });
    expectReject(await validateCandidate(block({ timestamp: NOW + 5_001 }), ctx), 'timestamp-out-of-window');
    expectReject(await validateCandidate(block({ timestamp: NOW - 60_001 }), ctx), 'timestamp-out-of-window');
    expect((await validateCandidate(block({ timestamp: NOW + 5_000 }), ctx)).ok).toBe(true);
    const tipLater = context({ tip: { hash: PARENT, height: TIP_HEIGHT, timestamp: NOW } });
    expectReject(await validateCandidate(block({ timestamp: NOW }), tipLater), 'timestamp-out-of-window');
  });

  it('clerk-not-primary: a well-signed block by a key outside the known set', async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expectReject(await validateCandidate(block({ clerkKey: stranger }), context()), 'clerk-not-primary');
    const onlyOther = context({ primaries: new PrimaryKeySet([createPublicKey(otherClerkKey)]) });
    expectReject(await validateCandidate(block(), onlyOther), 'clerk-not-primary');
  });

  it('draw-not-qualified: too few zero bits, or a round above the maximum', async () => {
    const b = block();
    const d = expectReject(await validateCandidate(b, context({ params: { clerkZeros: 64 } })), 'draw-not-qualified');
    expect(d['required']).toBe(64);
    expect(d['zeros']).toBeLessThan(64);
    expectReject(await validateCandidate(block({ drawRound: 3 }), context({ params: { maxDrawRound: 2 } })), 'draw-not-qualified');
  });

  it('draw ticket at the threshold qualifies, one bit above does not (zeros >= m)', async () => {
    const b = block();
    const { zeros } = scoreTicket(b.header.drawSignature, 0);
    expect((await validateCandidate(b, context({ params: { clerkZeros: zeros } }))).ok).toBe(true);
    expect(expectReject(await validateCandidate(b, context({ params: { clerkZeros: zeros + 1 } })), 'draw-not-qualified')['zeros']).toBe(zeros);
  });

  it('draw-signature-invalid: another key, another round, or another parent', async () => {
    const byOther = drawSignature(otherClerkKey, PARENT, 0).signature;
    expectReject(await validateCandidate(block({ drawSignature: byOther }), context()), 'draw-signature-invalid');
    const otherRound = drawSignature(clerkKey, PARENT, 1).signature;
    expectReject(await validateCandidate(block({ drawSignature: otherRound }), context()), 'draw-signature-invalid');
    const otherParent = drawSignature(clerkKey, flip(PARENT), 0).signature;
    expectReject(await validateCandidate(block({ drawSignature: otherParent }), context()), 'draw-signature-invalid');
  });

  it('bad-clerk-signature: flipped, by another known primary, or header changed after signing', async () => {
    const b = block();
    expectReject(await validateCandidate({ ...b, header: { ...b.header, clerkSignature: flip(b.header.clerkSignature, 17) } }, context()), 'bad-clerk-signature');
    expectReject(await validateCandidate(resign(b, otherClerkKey), context()), 'bad-clerk-signature');
    expectReject(await validateCandidate({ ...b, header: { ...b.header, timestamp: b.header.timestamp + 1 } }, context()), 'bad-clerk-signature');
  });

  it('tx-root-mismatch: transactions swapped under a signed header', async () => {
    const b = block();
    const d = expectReject(await validateCandidate({ ...b, transactions: [b.transactions[1]!, b.transactions[0]!, b.transactions[2]!] }, context()), 'tx-root-mismatch');
    expect(d['actual']).toBe(toHex(b.header.txRoot));
    const changed = [tx(0, { amount: 999n }), ...b.transactions.slice(1)];
    expectReject(await validateCandidate({ ...b, transactions: changed }, context()), 'tx-root-mismatch');
  });

  it('duplicate-transaction: the same transaction twice (root computed over both)', async () => {
    const t = txs(3);
    const d = expectReject(await validateCandidate(block({ transactions: [t[0]!, t[1]!, t[2]!, t[1]!] }), context()), 'duplicate-transaction');
    expect(d).toEqual({ index: 3, firstIndex: 1, id: transactionId(t[1]!) });
  });

  it('bad-transaction-signature: names the index and id (inline)', async () => {
    const t = txs(5);
    t[3] = { ...t[3]!, signature: flip(t[3]!.signature, 40) };
    const d = expectReject(await validateCandidate(block({ transactions: t }), context()), 'bad-transaction-signature');
    expect(d).toEqual({ index: 3, id: transactionId(t[3]!), which: 'signature' });
  });

  it('bad-transaction-signature: the first bad one of a large block on the pool', async () => {
    const t = txs(200);
    t[150] = { ...t[150]!, signature: flip(t[150]!.signature) };
    t[77] = { ...t[77]!, amount: t[77]!.amount + 1n }; // body changed after signing
    const d = expectReject(await validateCandidate(block({ transactions: t }), context({ verifier: pool })), 'bad-transaction-signature');
    expect(d['index']).toBe(77);
    expect((await validateCandidate(block({ transactions: txs(200) }), context({ verifier: pool }))).ok).toBe(true);
  });

  it('on the pool, a cheaper failure still wins over a bad signature (same reason everywhere)', async () => {
    const t = txs(300);
    const signed = block({ transactions: t });
    const spoiled = [...t];
    spoiled[10] = { ...t[10]!, signature: flip(t[10]!.signature) };
    const r = await validateCandidate({ ...signed, transactions: spoiled }, context({ verifier: pool }));
    expectReject(r, 'tx-root-mismatch');
    const dup = block({ transactions: [...spoiled, spoiled[10]!] });
    expect(expectReject(await validateCandidate(dup, context({ verifier: pool })), 'duplicate-transaction')['index']).toBe(300);
    expect(expectReject(await validateCandidate(block({ transactions: spoiled }), context({ verifier: pool })), 'bad-transaction-signature')['index']).toBe(10);
  });

  it('bad-transaction-signature: second signature missing or wrong when the account has a second key', async () => {
    const second = keyPairFromSeed(seed(50));
    const sender = keyPairFromSeed(seed(51));
    const fields = { timestamp: 1, recipientId: '1', amount: 5n, fee: 10n };
    const ctx = context({ secondPublicKeyOf: (a: string) => (a === sender.address ? second.publicKey : undefined) });
    const good = createTransaction(sender, fields, second);
    expect((await validateCandidate(block({ transactions: [tx(1), good] }), ctx)).ok).toBe(true);
    const missing = createTransaction(sender, fields);
    expect(expectReject(await validateCandidate(block({ transactions: [tx(1), missing] }), ctx), 'bad-transaction-signature')).toMatchObject({ index: 1, which: 'secondSignature' });
    const wrong = createTransaction(sender, fields, keyPairFromSeed(seed(52)));
    expect(expectReject(await validateCandidate(block({ transactions: [wrong] }), ctx), 'bad-transaction-signature')).toMatchObject({ index: 0, which: 'secondSignature' });
  });

  it('amount-or-fee-out-of-range: amount above max, fee below min or above max, total overflow', async () => {
    const ctx: ValidationContext = context({ params: { maxAmount: 1000n, minFee: 5n, maxFee: 100n } });
    expect(expectReject(await validateCandidate(block({ transactions: [tx(0), tx(1, { amount: 1001n })] }), ctx), 'amount-or-fee-out-of-range')).toMatchObject({ index: 1, field: 'amount', value: '1001' });
    expect(expectReject(await validateCandidate(block({ transactions: [tx(0, { fee: 4n })] }), ctx), 'amount-or-fee-out-of-range')).toMatchObject({ index: 0, field: 'fee' });
    expect(expectReject(await validateCandidate(block({ transactions: [tx(0, { fee: 101n })] }), ctx), 'amount-or-fee-out-of-range')).toMatchObject({ field: 'fee', value: '101' });
    const overflow = tx(2, { amount: U64_MAX, fee: 1n });
    expect(expectReject(await validateCandidate(block({ transactions: [overflow] }), context()), 'amount-or-fee-out-of-range')).toMatchObject({ field: 'total', value: (U64_MAX + 1n).toString() });
  });

  it('reports the same reason for the same block every time (deterministic order)', async () => {
    const b = block({ height: TIP_HEIGHT + 5, previousHash: flip(PARENT) });
    expectReject(await validateCandidate(b, context()), 'unknown-parent');
    expectReject(await validateCandidate(b, context()), 'unknown-parent');
  });

  it('createBlock refuses a non-RSA or public clerk key', () => {
    expect(() => createBlock({ clerkKey: createPublicKey(clerkKey), height: 1, previousHash: PARENT, timestamp: NOW, drawRound: 0 })).toThrow(/RSA private/);
  });
});
