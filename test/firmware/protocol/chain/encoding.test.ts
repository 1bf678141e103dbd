import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, ChainError, hexBytes, readChain } from '../../../../firmware/protocol/chain/index.ts';
import { toHex } from '../../../../firmware/core/bytes.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChainError);
    return (err as ChainError).code;
  }
  throw new Error('did not throw');
}

describe('ByteWriter / ByteReader', () => {
  it('writes big-endian integers and length-prefixed bytes, and reads them back', () => {
    const bytes = new ByteWriter(64).u8(1).u16(0x0203).u32(0x04050607).u64(0x08090a0b0c0d0e0fn).bytes16(new Uint8Array([9, 9]), 4).bytes32(new Uint8Array([7]), 4).finish();
    expect(toHex(bytes)).toBe('01' + '0203' + '04050607' + '08090a0b0c0d0e0f' + '00020909' + '0000000107');
    const r = new ByteReader(bytes, 64);
    expect([r.u8(), r.u16(), r.u32(), r.u64(), toHex(r.bytes16(4)), toHex(r.bytes32(4))]).toEqual([1, 0x0203, 0x04050607, 0x08090a0b0c0d0e0fn, '0909', '07']);
    r.end();
  });

  it('grows past its initial buffer up to the cap, and not beyond', () => {
    const w = new ByteWriter(10, 2);
    for (let i = 0; i < 10; i++) w.u8(i);
    expect(w.length).toBe(10);
    expect(codeOf(() => w.u8(1))).toBe('ERR_CHAIN_OVERSIZE');
  });

  it('rejects out-of-range values with ERR_CHAIN_INVALID_ARGUMENT', () => {
    const w = new ByteWriter(64);
    expect(codeOf(() => w.u8(256))).toBe('ERR_CHAIN_INVALID_ARGUMENT');
    expect(codeOf(() => w.u16(-1))).toBe('ERR_CHAIN_INVALID_ARGUMENT');
    expect(codeOf(() => w.u32(1.5))).toBe('ERR_CHAIN_INVALID_ARGUMENT');
    expect(codeOf(() => w.u64(2n ** 64n))).toBe('ERR_CHAIN_INVALID_ARGUMENT');
    expect(codeOf(() => w.u64(-1n))).toBe('ERR_CHAIN_INVALID_ARGUMENT');
    expect(codeOf(() => w.fixed(new Uint8Array(3), 4))).toBe('ERR_CHAIN_INVALID_ARGUMENT');
    expect(codeOf(() => w.bytes16(new Uint8Array(5), 4))).toBe('ERR_CHAIN_OVERSIZE');
  });

  it('reader: truncation, caps, trailing bytes and non-canonical flags are ChainErrors', () => {
    expect(codeOf(() => new ByteReader(new Uint8Array(3), 64).u32())).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => new ByteReader(new Uint8Array(65), 64))).toBe('ERR_CHAIN_OVERSIZE');
    expect(codeOf(() => new ByteReader(new Uint8Array([0, 5, 1, 2, 3, 4, 5]), 64).bytes16(4))).toBe('ERR_CHAIN_OVERSIZE');
    expect(codeOf(() => new ByteReader(new Uint8Array([0, 1, 1]), 64).bytes16(4, 'x', 2))).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => new ByteReader(new Uint8Array([0, 9, 1]), 64).bytes16(16))).toBe('ERR_CHAIN_MALFORMED');
    const r = new ByteReader(new Uint8Array([1, 2]), 64);
    r.u8();
    expect(codeOf(() => r.end())).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => new ByteReader(new Uint8Array([2]), 64).flag())).toBe('ERR_CHAIN_MALFORMED');
    expect(new ByteReader(new Uint8Array([1]), 64).flag()).toBe(true);
  });

  it('ChainError carries code, field and toObject()', () => {
    try {
      new ByteReader(new Uint8Array(1), 64).u16('height');
    } catch (err) {
      expect((err as ChainError).toObject()).toMatchObject({ name: 'ChainError', code: 'ERR_CHAIN_MALFORMED', field: 'height' });
    }
  });
});

describe('hexBytes (the chain JSON hex reader)', () => {
  const hexField = (v: unknown, field: string, min: number, max: number): Uint8Array => readChain(hexBytes(min, max), v, field);
  it('accepts exact sizes, rejects odd length, bad digits, wrong size and non-strings', () => {
    expect(toHex(hexField('00Ff', 'f', 2, 2))).toBe('00ff');
    expect(codeOf(() => hexField('0', 'f', 0, 4))).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => hexField('zz', 'f', 1, 1))).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => hexField('00', 'f', 2, 2))).toBe('ERR_CHAIN_MALFORMED');
    expect(codeOf(() => hexField('000000', 'f', 2, 2))).toBe('ERR_CHAIN_OVERSIZE');
    expect(codeOf(() => hexField(12, 'f', 2, 2))).toBe('ERR_CHAIN_MALFORMED');
    expect(() => hexField('zz', 'block.f', 1, 1)).toThrow(expect.objectContaining({ field: 'block.f', message: 'block.f: expected hex of 1 bytes' }));
  });
});
