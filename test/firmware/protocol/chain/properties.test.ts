// Property tests: decoders throw nothing but ChainError on arbitrary input, and encodings
// round-trip exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockFromJson, blockToJson, ChainError, decodeBlock, decodeSignedHeader, decodeTransaction, encodeBlock, encodeSignedHeader, encodeTransaction, parseBlockJson, transactionFromJson, transactionToJson, validateCandidateJson } from '../../../../firmware/protocol/chain/index.ts';
import { toHex } from '../../../../firmware/core/bytes.ts';
import type { SignedBlockHeader, Transaction } from '../../../../firmware/protocol/chain/index.ts';
import { block, context } from './helpers.ts';

const CAPS = { maxTxs: 50, maxBlockBytes: 64 * 1024 };

function onlyChainErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ChainError)) throw err;
  }
}

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const txArb: fc.Arbitrary<Transaction> = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  timestamp: fc.integer({ min: 0, max: 0xffff_ffff }),
  senderPublicKey: bytes(32),
  recipientId: u64.map((n) => n.toString(10)),
  amount: u64,
  fee: u64,
  signature: bytes(64),
  secondSignature: fc.option(bytes(64), { nil: undefined }),
});
const headerArb: fc.Arbitrary<SignedBlockHeader> = fc.record({
  version: fc.integer({ min: 0, max: 0xffff }),
  height: fc.integer({ min: 0, max: 0xffff_ffff }),
  previousHash: bytes(32),
  timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  txRoot: bytes(32),
  txCount: fc.integer({ min: 0, max: 0xffff_ffff }),
  clerkPublicKey: fc.uint8Array({ minLength: 1, maxLength: 600 }),
  drawRound: fc.integer({ min: 0, max: 0xffff_ffff }),
  drawSignature: fc.uint8Array({ minLength: 1, maxLength: 512 }),
  clerkSignature: fc.uint8Array({ minLength: 1, maxLength: 512 }),
});

describe('decoders throw only ChainError', () => {
  it('binary transaction, header and block decoders on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
      onlyChainErrors(() => decodeTransaction(b));
      onlyChainErrors(() => decodeSignedHeader(b));
      onlyChainErrors(() => decodeBlock(b, CAPS));
    }), { numRuns: 500 });
  });

  it('binary decoders on mutations of a valid block', () => {
    const valid = encodeBlock(block());
    fc.assert(fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: valid.length }), (i, v, cut) => {
      const m = valid.slice(0, cut);
      if (i < m.length) m[i] = v;
      onlyChainErrors(() => decodeBlock(m, CAPS));
    }), { numRuns: 500 });
  });

  it('JSON decoders on arbitrary JSON values and on mutated valid JSON', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      onlyChainErrors(() => blockFromJson(v, CAPS));
      onlyChainErrors(() => transactionFromJson(v));
    }), { numRuns: 500 });
    const good = blockToJson(block()) as unknown as Record<string, unknown>;
    const goodTx = good['transactions'] as Record<string, unknown>[];
    fc.assert(fc.property(fc.constantFrom(...Object.keys(good)), fc.constantFrom(...Object.keys(goodTx[0]!)), fc.jsonValue(), (key, txKey, v) => {
      onlyChainErrors(() => blockFromJson({ ...good, [key]: v }, CAPS));
      onlyChainErrors(() => transactionFromJson({ ...goodTx[0], [txKey]: v }));
    }), { numRuns: 500 });
  });

  it('JSON text parser on random strings and bytes', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (s, b) => {
      onlyChainErrors(() => parseBlockJson(s, CAPS));
      onlyChainErrors(() => parseBlockJson(b, CAPS));
    }), { numRuns: 500 });
  });

  it('validateCandidateJson turns any input into ok or a reason, never a throw', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue(), async (v) => {
      const r = await validateCandidateJson(JSON.stringify(v) ?? 'null', context());
      expect(r.ok).toBe(false);
    }), { numRuns: 200 });
  });
});

describe('encodings round-trip', () => {
  it('transactions: binary and JSON', () => {
    fc.assert(fc.property(txArb, (tx) => {
      const enc = encodeTransaction(tx);
      const back = decodeTransaction(enc);
      expect(toHex(encodeTransaction(back))).toBe(toHex(enc));
      expect(back).toEqual(tx);
      const viaJson = transactionFromJson(JSON.parse(JSON.stringify(transactionToJson(tx))));
      expect(viaJson).toEqual(tx);
    }), { numRuns: 300 });
  });

  it('signed headers', () => {
    fc.assert(fc.property(headerArb, (h) => {
      const enc = encodeSignedHeader(h);
      expect(decodeSignedHeader(enc)).toEqual(h);
    }), { numRuns: 300 });
  });

  it('blocks: binary and JSON', () => {
    fc.assert(fc.property(headerArb, fc.array(txArb, { maxLength: 8 }), (h, txs) => {
      const b = { header: { ...h, txCount: txs.length }, transactions: txs };
      const enc = encodeBlock(b, CAPS);
      expect(decodeBlock(enc, CAPS)).toEqual(b);
      expect(toHex(encodeBlock(blockFromJson(JSON.parse(JSON.stringify(blockToJson(b))), CAPS), CAPS))).toBe(toHex(enc));
    }), { numRuns: 150 });
  });
});
