import { describe, expect, it } from 'vitest';
import { blockFromJson, blockHash, blockToJson, ChainError, decodeBlock, decodeSignedHeader, encodeBlock, encodeSignedHeader, encodeUnsignedHeader, parseBlockJson, rsaVerify, spkiOf } from '../../../../firmware/protocol/chain/index.ts';
import { toHex } from '../../../../firmware/core/bytes.ts';
import { createPublicKey, createHash } from 'node:crypto';
import { block, clerkKey, txs } from './helpers.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChainError);
    return (err as ChainError).code;
  }
  throw new Error('did not throw');
}

describe('blocks', () => {
  it('hash = SHA-256(unsigned header); clerk signature is RSASSA-SHA256 over the unsigned header', () => {
    const b = block();
    const unsigned = encodeUnsignedHeader(b.header);
    expect(toHex(blockHash(b.header))).toBe(createHash('sha256').update(unsigned).digest('hex'));
    expect(rsaVerify(createPublicKey(clerkKey), unsigned, b.header.clerkSignature)).toBe(true);
    expect(toHex(b.header.clerkPublicKey)).toBe(toHex(spkiOf(clerkKey)));
    // The signed header extends the unsigned one with bytes16(clerkSignature).
    expect(toHex(encodeSignedHeader(b.header)).startsWith(toHex(unsigned))).toBe(true);
  });

  it('round-trips through binary and JSON', () => {
    const b = block({ transactions: txs(10) });
    const bytes = encodeBlock(b);
    expect(toHex(encodeBlock(decodeBlock(bytes)))).toBe(toHex(bytes));
    expect(toHex(encodeSignedHeader(decodeSignedHeader(encodeSignedHeader(b.header))))).toBe(toHex(encodeSignedHeader(b.header)));
    const json = JSON.stringify(blockToJson(b));
    expect(toHex(encodeBlock(parseBlockJson(json)))).toBe(toHex(bytes));
  });

  it('caps: too many transactions or too many bytes, in binary and JSON', () => {
    const b = block({ transactions: txs(5) });
    const caps = { maxTxs: 4, maxBlockBytes: 1 << 20 };
    expect(codeOf(() => encodeBlock(b, caps))).toBe('ERR_CHAIN_OVERSIZE');
    expect(codeOf(() => decodeBlock(encodeBlock(b), caps))).toBe('ERR_CHAIN_OVERSIZE');
    expect(codeOf(() => blockFromJson(blockToJson(b), caps))).toBe('ERR_CHAIN_OVERSIZE');
    expect(codeOf(() => decodeBlock(encodeBlock(b), { maxTxs: 10, maxBlockBytes: 900 }))).toBe('ERR_CHAIN_OVERSIZE');
    expect(codeOf(() => parseBlockJson(JSON.stringify(blockToJson(b)), { maxTxs: 10, maxBlockBytes: 100 }))).toBe('ERR_CHAIN_OVERSIZE');
  });

  it('JSON: txCount must match, timestamp must be a safe integer, clerk key capped', () => {
    const j = blockToJson(block());
    expect(codeOf(() => blockFromJson({ ...j, txCount: 2, hash: undefined }))).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => blockFromJson({ ...j, timestamp: 2 ** 53 }))).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => blockFromJson({ ...j, clerkPublicKey: '00'.repeat(1025) }))).toBe('ERR_CHAIN_OVERSIZE');
    expect(codeOf(() => blockFromJson({ ...j, transactions: {} }))).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => blockFromJson(null))).toBe('ERR_CHAIN_MALFORMED');
  });

  it('JSON: refusals name the field, and the counts are checked before any transaction is read', () => {
    const j = blockToJson(block({ transactions: txs(2) }));
    const refusal = (v: unknown): string => {
      try {
        blockFromJson(v);
      } catch (err) {
        return `${(err as ChainError).code} ${(err as ChainError).field} ${(err as Error).message}`;
      }
      return 'accepted';
    };
    expect(refusal({ ...j, version: -1 })).toBe('ERR_CHAIN_MALFORMED block.version block.version: expected integer in 0..65535');
    expect(refusal({ ...j, extra: 1 })).toBe('ERR_CHAIN_MALFORMED block.extra block.extra: unknown key');
    // A garbage transaction behind a wrong count: the count is named, nothing was read.
    expect(refusal({ ...j, transactions: [...j.transactions, { not: 'a transaction' }] })).toBe('ERR_CHAIN_MALFORMED block.txCount block.txCount: is 2 but there are 3 transactions');
    expect(refusal({ ...j, txCount: 1 })).toBe('ERR_CHAIN_MALFORMED block.txCount block.txCount: is 1 but there are 2 transactions');
    expect(refusal({ ...j, transactions: [j.transactions[0], { ...j.transactions[1], fee: 7 }] })).toBe('ERR_CHAIN_MALFORMED block.transactions[1].fee block.transactions[1].fee: expected a decimal string without leading zeros');
    expect(refusal({ ...j, hash: '00'.repeat(32) })).toBe("ERR_CHAIN_MALFORMED block.hash block.hash: does not match the header's canonical bytes");
    expect(refusal({ ...j, drawSignature: '00'.repeat(513) })).toBe('ERR_CHAIN_OVERSIZE block.drawSignature block.drawSignature is longer than 512 bytes');
  });

  it('binary: timestamp above 2^53-1 is malformed', () => {
    const b = block({ transactions: [] });
    const bytes = encodeBlock(b);
    const bad = bytes.slice();
    bad.fill(0xff, 2 + 4 + 32, 2 + 4 + 32 + 8);
    expect(codeOf(() => decodeBlock(bad))).toBe('ERR_CHAIN_MALFORMED');
  });
});
