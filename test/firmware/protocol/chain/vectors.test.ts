// Golden vectors (test/fixtures/chain/vectors.json): recomputed from the inputs and compared.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { computeVectors } from '../../../fixtures/chain/vectors.ts';
import { addressFromPublicKey, decodeBlock, decodeTransaction, ed25519Sign, encodeBlock, encodeTransaction, keyPairFromSeed } from '../../../../firmware/protocol/chain/index.ts';
import { toHex } from '../../../../firmware/core/bytes.ts';

const golden = JSON.parse(readFileSync(new URL('../../../fixtures/chain/vectors.json', import.meta.url), 'utf8')) as {
  transactions: { encoded: string; id: string }[];
  blocks: { encoded: string; hash: string }[];
  accounts: { publicKey: string; address: string }[];
};
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

describe('chain golden vectors', () => {
  it('recomputes every committed vector byte for byte', () => {
    expect(computeVectors()).toEqual(golden);
  });

  it('decodes the committed encodings and re-encodes them identically', () => {
    for (const t of golden.transactions) expect(toHex(encodeTransaction(decodeTransaction(hex(t.encoded))))).toBe(t.encoded);
    for (const b of golden.blocks) expect(toHex(encodeBlock(decodeBlock(hex(b.encoded))))).toBe(b.encoded);
  });

  it('matches RFC 8032 §7.1 TEST 1 and TEST 2 (seed -> public key -> signature)', () => {
    const t1 = keyPairFromSeed(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(toHex(t1.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(toHex(ed25519Sign(t1.privateKey, new Uint8Array(0)))).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    const t2 = keyPairFromSeed(hex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'));
    expect(toHex(t2.publicKey)).toBe('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
    expect(toHex(ed25519Sign(t2.privateKey, hex('72')))).toBe(
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    );
  });

  it('derives addresses as first 8 bytes of SHA-256, reversed, u64 decimal (checked with Python hashlib)', () => {
    // 7035278622117199393 was computed independently: int.from_bytes(sha256(pk)[:8][::-1], 'big').
    expect(addressFromPublicKey(hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'))).toBe('7035278622117199393');
    for (const a of golden.accounts) expect(addressFromPublicKey(hex(a.publicKey))).toBe(a.address);
  });
});
