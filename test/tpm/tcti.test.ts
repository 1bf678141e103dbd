import { describe, expect, it } from 'vitest';
import { TpmArgumentError } from '../../tpm/errors.ts';
import { DEFAULT_TCTI, parseTcti, resolveTcti } from '../../tpm/tcti.ts';

function refused(tcti: unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    parseTcti(tcti as string);
  } catch (err) {
    caught = err;
  }
  expect(caught, `TCTI ${JSON.stringify(tcti)} should be refused`).toBeInstanceOf(TpmArgumentError);
  expect((caught as TpmArgumentError).code).toBe('ERR_TPM_ARGUMENT');
  expect((caught as Error).message).toMatch(pattern);
}

describe('parseTcti', () => {
  it('accepts the documented forms', () => {
    expect(parseTcti('swtpm:host=127.0.0.1,port=2321')).toEqual({ name: 'swtpm', conf: 'host=127.0.0.1,port=2321' });
    expect(parseTcti('swtpm:port=2321,host=localhost')).toEqual({ name: 'swtpm', conf: 'port=2321,host=localhost' });
    expect(parseTcti('swtpm')).toEqual({ name: 'swtpm', conf: '' });
    expect(parseTcti('mssim:host=::1,port=65534')).toEqual({ name: 'mssim', conf: 'host=::1,port=65534' });
    expect(parseTcti('device:/dev/tpmrm0')).toEqual({ name: 'device', conf: '/dev/tpmrm0' });
    expect(parseTcti('tabrmd')).toEqual({ name: 'tabrmd', conf: '' });
    expect(parseTcti('tabrmd:bus_name=com.intel.tss2.Tabrmd,bus_type=system').name).toBe('tabrmd');
  });

  it('refuses unknown kinds', () => {
    refused('libtpms:foo', /unknown kind "libtpms"/);
    refused('cmd:tpm2_send', /unknown kind "cmd"/);
    refused('none', /unknown kind/);
    refused('Swtpm:port=1', /unknown kind/);
  });

  it('refuses bad ports', () => {
    refused('swtpm:port=0', /port must be 1..65534/);
    refused('swtpm:port=65535', /port must be 1..65534/); // the control port would be 65536
    refused('swtpm:port=123456', /port/);
    refused('swtpm:port=abc', /port/);
    refused('swtpm:port=-1', /port/);
    refused('mssim:host=127.0.0.1,port=', /port/);
  });

  it('refuses bad hosts, unknown and repeated keys', () => {
    refused('swtpm:host=a/b,port=1', /host/);
    refused('swtpm:host=a;rm,port=1', /host/);
    refused('swtpm:path=/tmp/x', /not one of host=..., port=.../);
    refused('swtpm:port=1,port=2', /"port=2"/);
    refused('swtpm:host', /"host"/);
    refused('tabrmd:bus=x', /bus_name/);
  });

  it('refuses device TCTIs without an absolute path', () => {
    refused('device:', /absolute path/);
    refused('device:dev/tpmrm0', /absolute path/);
    refused('device:/dev/tpm$0', /absolute path/);
  });

  it('refuses control characters and whitespace, and shows them escaped', () => {
    refused('swtpm:host=127.0.0.1,port=2321\n', /control characters/);
    refused('swtpm:host=127.0.0.1\0,port=2321', /control characters/);
    refused('swtpm:host=127.0.0.1, port=2321', /whitespace/);
    refused('device:/dev/tpm\x1b[2J', /"device:\/dev\/tpm\?\[2J"/);
  });

  it('refuses empty, non-string and overlong strings', () => {
    refused('', /non-empty/);
    refused(undefined, /non-empty/);
    refused(42, /non-empty/);
    refused(`swtpm:host=${'a'.repeat(300)}`, /at most 256/);
    refused(`device:/${'d'.repeat(300)}`, /at most 256/);
  });
});

describe('resolveTcti', () => {
  it('takes --tcti first, then $BTN_TCTI, then the kernel resource manager', () => {
    expect(resolveTcti('swtpm:port=1', { BTN_TCTI: 'swtpm:port=2' })).toBe('swtpm:port=1');
    expect(resolveTcti(undefined, { BTN_TCTI: 'swtpm:port=2' })).toBe('swtpm:port=2');
    expect(resolveTcti(undefined, {})).toBe(DEFAULT_TCTI);
    expect(DEFAULT_TCTI).toBe('device:/dev/tpmrm0');
  });
});
