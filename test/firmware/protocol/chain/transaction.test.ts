import { describe, expect, it } from 'vitest';
import {
  addressFromPublicKey, ChainError, createTransaction, decodeTransaction, ed25519Verify, encodeTransaction, keyPairFromSeed,
  secondSignatureMessage, transactionBody, transactionFromJson, transactionId, transactionToJson, TX_BODY_BYTES, TX_MAX_BYTES,
} from '../../../../firmware/protocol/chain/index.ts';
import { flip, seed } from './helpers.ts';

const sender = keyPairFromSeed(seed(1));
const fields = { timestamp: 1_700_000_000, recipientId: '18446744073709551615', amount: 2n ** 64n - 2n, fee: 2n ** 53n + 1n };

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChainError);
    return (err as ChainError).field;
  }
  throw new Error('did not throw');
}

describe('transactions', () => {
  it('encodes 61 body bytes, 126 or 190 in full, and signs the body', () => {
    const tx = createTransaction(sender, fields);
    expect(transactionBody(tx).length).toBe(TX_BODY_BYTES);
    expect(encodeTransaction(tx).length).toBe(126);
    expect(ed25519Verify(sender.publicKey, transactionBody(tx), tx.signature)).toBe(true);
    const second = keyPairFromSeed(seed(2));
    const tx2 = createTransaction(sender, fields, second);
    expect(encodeTransaction(tx2).length).toBe(TX_MAX_BYTES);
    expect(ed25519Verify(second.publicKey, secondSignatureMessage(tx2), tx2.secondSignature!)).toBe(true);
  });

  it('keeps u64 amounts exact above 2^53 through binary and JSON', () => {
    const tx = createTransaction(sender, fields);
    const back = decodeTransaction(encodeTransaction(tx));
    expect(back.amount).toBe(fields.amount);
    expect(back.fee).toBe(fields.fee);
    const json = JSON.parse(JSON.stringify(transactionToJson(tx))) as unknown;
    const fromJson = transactionFromJson(json);
    expect(fromJson.amount).toBe(fields.amount);
    expect(transactionId(fromJson)).toBe(transactionId(tx));
  });

  it('id changes with any signed field or signature', () => {
    const tx = createTransaction(sender, fields);
    expect(transactionId({ ...tx, fee: tx.fee + 1n })).not.toBe(transactionId(tx));
    expect(transactionId({ ...tx, signature: flip(tx.signature) })).not.toBe(transactionId(tx));
    expect(transactionId(tx)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('JSON: rejects numbers for u64 fields, leading zeros, overflow, bad hex, unknown fields, wrong id', () => {
    const good = transactionToJson(createTransaction(sender, fields));
    expect(fieldOf(() => transactionFromJson({ ...good, amount: 5 }))).toBe('transaction.amount');
    expect(fieldOf(() => transactionFromJson({ ...good, fee: '01' }))).toBe('transaction.fee');
    expect(fieldOf(() => transactionFromJson({ ...good, amount: '18446744073709551616' }))).toBe('transaction.amount');
    expect(fieldOf(() => transactionFromJson({ ...good, recipientId: '-1' }))).toBe('transaction.recipientId');
    expect(fieldOf(() => transactionFromJson({ ...good, recipientId: 5 }))).toBe('transaction.recipientId');
    expect(fieldOf(() => transactionFromJson({ ...good, senderPublicKey: 'ab' }))).toBe('transaction.senderPublicKey');
    expect(fieldOf(() => transactionFromJson({ ...good, signature: good.signature + '00' }))).toBe('transaction.signature');
    expect(fieldOf(() => transactionFromJson({ ...good, type: 256 }))).toBe('transaction.type');
    expect(fieldOf(() => transactionFromJson({ ...good, timestamp: 2 ** 32 }))).toBe('transaction.timestamp');
    expect(fieldOf(() => transactionFromJson({ ...good, id: '00'.repeat(32) }))).toBe('transaction.id');
    expect(fieldOf(() => transactionFromJson({ ...good, nonce: 1 }))).toBe('transaction.nonce');
    expect(fieldOf(() => transactionFromJson([good]))).toBe('transaction');
  });

  it('binary: rejects a bad presence flag, truncation and trailing bytes', () => {
    const bytes = encodeTransaction(createTransaction(sender, fields));
    const badFlag = bytes.slice();
    badFlag[125] = 2;
    expect(() => decodeTransaction(badFlag)).toThrow(ChainError);
    expect(() => decodeTransaction(bytes.subarray(0, 100))).toThrow(ChainError);
    expect(() => decodeTransaction(new Uint8Array([...bytes, 0]))).toThrow(ChainError);
  });

  it('addressFromPublicKey takes exactly 32 bytes', () => {
    expect(() => addressFromPublicKey(new Uint8Array(33))).toThrow(ChainError);
    expect(addressFromPublicKey(sender.publicKey)).toBe(sender.address);
  });

  it('keyPairFromSeed takes exactly 32 bytes; ed25519Verify returns false, never throws', () => {
    expect(() => keyPairFromSeed(new Uint8Array(31))).toThrow(ChainError);
    expect(ed25519Verify(new Uint8Array(5), new Uint8Array(1), new Uint8Array(64))).toBe(false);
    expect(ed25519Verify(sender.publicKey, new Uint8Array(1), new Uint8Array(10))).toBe(false);
  });
});
