// The firmware's public API (firmware/index.ts), imported the way a user would.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { addressFromPublicKey, leadingZeroBits } from '../../firmware/index.ts';

describe('firmware/index.ts', () => {
  it('leadingZeroBits counts bits across byte boundaries', () => {
    expect(leadingZeroBits(new Uint8Array([0, 0, 0x10, 0xff]))).toBe(19);
    expect(leadingZeroBits(new Uint8Array(32))).toBe(256);
    expect(leadingZeroBits(new Uint8Array([0x80]))).toBe(0);
  });

  it('addressFromPublicKey is the first 8 bytes of SHA-256(key), reversed, as unsigned decimal', () => {
    const key = new Uint8Array(32).map((_, i) => i * 7);
    const digest = createHash('sha256').update(key).digest();
    const expected = digest.subarray(0, 8).reverse().readBigUInt64BE().toString();
    expect(addressFromPublicKey(key)).toBe(expected);
  });
});
