// The EK certificate chain NV indices hold one or more DER certificates back to back, sometimes
// padded to the index size: split into certificates, anything else refused.
import { describe, expect, it } from 'vitest';
import { splitDerCertificates } from '../../tpm/endorsement.ts';

const der = (len: number, fill: number): Uint8Array => {
  const body = new Uint8Array(len).fill(fill);
  const head = len < 128 ? [0x30, len] : [0x30, 0x82, len >> 8, len & 0xff];
  return new Uint8Array([...head, ...body]);
};

describe('splitDerCertificates', () => {
  it('splits certificates back to back, short and long lengths, and stops at padding', () => {
    const a = der(5, 1);
    const b = der(300, 2);
    const joined = new Uint8Array([...a, ...b, 0xff, 0xff, 0x00]);
    expect(splitDerCertificates(joined, 0x01c00100)).toEqual([a, b]);
    expect(splitDerCertificates(new Uint8Array(), 0x01c00100)).toEqual([]);
  });

  it('refuses a certificate that runs past the index, and bytes that are not a certificate', () => {
    expect(() => splitDerCertificates(der(300, 2).subarray(0, 200), 0x01c00100)).toThrow(/certificate 1 runs past the end of the index/);
    expect(() => splitDerCertificates(new Uint8Array([...der(5, 1), 0x04, 0x01, 0x00]), 0x01c00101)).toThrow(/0x01C00101: byte 7 is not the start of a DER certificate/);
    expect(() => splitDerCertificates(new Uint8Array([0x30, 0x80, 0x00]), 0x01c00100)).toThrow(/bad DER length/);
  });
});
