import { describe, expect, it } from 'vitest';
import { TpmArgumentError } from '../../tpm/errors.ts';
import { checkSealingHandle, hex, parseHandle } from '../../tpm/handles.ts';

function refused(text: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    parseHandle(text);
  } catch (err) {
    caught = err;
  }
  expect(caught, `handle ${JSON.stringify(text)} should be refused`).toBeInstanceOf(TpmArgumentError);
  expect((caught as TpmArgumentError).code).toBe('ERR_TPM_ARGUMENT');
  expect((caught as Error).message).toMatch(pattern);
}

describe('sealing-key handles', () => {
  it('accepts owner-range persistent handles in hex or decimal', () => {
    expect(parseHandle('0x81000B70')).toBe(0x81000b70);
    expect(parseHandle('0x81000b70')).toBe(0x81000b70);
    expect(parseHandle(' 0x81000002 ')).toBe(0x81000002);
    expect(parseHandle(String(0x81000b71))).toBe(0x81000b71);
    expect(parseHandle('0x81000000')).toBe(0x81000000);
    expect(parseHandle('0x817FFFFF')).toBe(0x817fffff);
  });

  it('refuses the endorsement range, where the RSA EK lives', () => {
    refused('0x81010001', /reserved for endorsement keys/);
    refused('0x81010000', /reserved for endorsement keys/);
    refused('0x8101FFFF', /reserved for endorsement keys/);
  });

  it('refuses the SRK handle', () => {
    refused('0x81000001', /SRK/);
  });

  it('refuses transient, platform-range and other non-owner handles', () => {
    refused('0x80000001', /outside the owner persistent range/);
    refused('0x81800000', /outside the owner persistent range/);
    refused('0x81FFFFFF', /outside the owner persistent range/);
    refused('0x01C00002', /outside the owner persistent range/);
    refused('0', /outside/);
  });

  it('refuses garbage', () => {
    refused('garbage', /not a hex \(0x\.\.\.\) or decimal number/);
    refused('', /not a hex/);
    refused('0x', /not a hex/);
    refused('0x81000B70zz', /not a hex/);
    refused('0x181000B70', /not a hex/); // nine hex digits
    refused('-2164263792', /not a hex/);
    refused('1e9', /not a hex/);
    refused('0x81000B70; rm -rf /', /not a hex/);
  });

  it('checkSealingHandle refuses non-integers', () => {
    expect(() => checkSealingHandle(Number.NaN)).toThrow(TpmArgumentError);
    expect(() => checkSealingHandle(0x81000b70 + 0.5)).toThrow(TpmArgumentError);
    expect(checkSealingHandle(0x81000b70)).toBe(0x81000b70);
  });

  it('hex prints eight upper-case digits', () => {
    expect(hex(0x81000b70)).toBe('0x81000B70');
    expect(hex(1)).toBe('0x00000001');
  });
});
