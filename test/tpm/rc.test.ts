import { describe, expect, it } from 'vitest';
import { baseTpmRc, describeRc } from '../../tpm/rc.ts';
import { TpmRcError } from '../../tpm/errors.ts';
import { tss2 } from '../../tpm/ffi.ts';

describe('describeRc (TPM2 Part 2 §6.6)', () => {
  it('format-1 codes name the parameter that failed', () => {
    // TPM_RC_VALUE (0x084) | TPM_RC_P (0x040) | parameter 1 << 8
    const info = describeRc(0x1c4);
    expect(info).toMatchObject({ layer: 0, layerName: 'tpm', parameter: 1, where: 'parameter 1', warning: false, retryable: false });
    expect(info.handle).toBeUndefined();
    expect(info.session).toBeUndefined();
    expect(describeRc(0xfc4)).toMatchObject({ parameter: 15, where: 'parameter 15' });
  });

  it('format-1 codes name the handle that failed', () => {
    // TPM_RC_HANDLE (0x08B), handle 1 and handle 2
    expect(describeRc(0x18b)).toMatchObject({ handle: 1, where: 'handle 1' });
    expect(describeRc(0x28b)).toMatchObject({ handle: 2, where: 'handle 2' });
    expect(describeRc(0x28b).parameter).toBeUndefined();
  });

  it('format-1 codes name the session that failed (N with bit 3 set)', () => {
    // TPM_RC_AUTH_FAIL (0x08E) in session 1: N = 0x9; session 3: N = 0xB
    expect(describeRc(0x98e)).toMatchObject({ session: 1, where: 'session 1' });
    expect(describeRc(0xb8e)).toMatchObject({ session: 3, where: 'session 3' });
    expect(describeRc(0x98e).handle).toBeUndefined();
  });

  it('format-1 codes without a position name nothing', () => {
    expect(describeRc(0x084)).toMatchObject({ where: '', warning: false });
  });

  it('format-0 errors are neither warnings nor retryable', () => {
    // TPM_RC_FAILURE 0x101, TPM_RC_COMMAND_CODE 0x143
    for (const rc of [0x101, 0x143]) expect(describeRc(rc)).toMatchObject({ where: '', warning: false, retryable: false, unreachable: false });
  });

  it('RETRY, YIELDED and TESTING are retryable warnings', () => {
    for (const rc of [0x922, 0x908, 0x90a]) {
      expect(describeRc(rc), `rc 0x${rc.toString(16)}`).toMatchObject({ warning: true, retryable: true, unreachable: false });
    }
  });

  it('LOCKOUT is a warning that retrying does not cure', () => {
    expect(describeRc(0x921)).toMatchObject({ warning: true, retryable: false });
  });

  it('the same codes passed through the resource manager layer (11) decode the same way', () => {
    expect(describeRc(0x000b0922)).toMatchObject({ layer: 11, layerName: 'resmgr-tpm', warning: true, retryable: true });
    expect(describeRc(0x000b01c4)).toMatchObject({ layer: 11, parameter: 1 });
  });

  it('TPM_RC_INITIALIZE asks for TPM2_Startup', () => {
    expect(describeRc(0x100)).toMatchObject({ needsStartup: true, retryable: false });
    expect(describeRc(0x101).needsStartup).toBe(false);
  });

  it('TCTI IO error and no-connection mean unreachable; other TCTI and ESYS codes do not', () => {
    expect(describeRc(0x000a000a)).toMatchObject({ layer: 10, layerName: 'tcti', unreachable: true, warning: false });
    expect(describeRc(0x000a0008)).toMatchObject({ layer: 10, unreachable: true });
    expect(describeRc(0x000a0005).unreachable).toBe(false); // TSS2_BASE_RC_BAD_VALUE
    expect(describeRc(0x0007000a).unreachable).toBe(false); // ESYS IO error is not the TCTI's
    expect(describeRc(0x00070009)).toMatchObject({ layer: 7, layerName: 'esys', retryable: true }); // TRY_AGAIN
  });

  it('ESYS BAD_SEQUENCE marks the context broken (reopen); TCTI BAD_SEQUENCE and TPM codes do not', () => {
    expect(describeRc(0x00070007)).toMatchObject({ layer: 7, contextBroken: true, unreachable: false, retryable: false });
    expect(describeRc(0x000a0007).contextBroken).toBe(false);
    expect(describeRc(0x00000907).contextBroken).toBe(false);
  });

  it('baseTpmRc strips position bits from format-1 codes and keeps format-0 codes', () => {
    expect(baseTpmRc(0x18b)).toBe(0x08b);
    expect(baseTpmRc(0x28b)).toBe(0x08b);
    expect(baseTpmRc(0x98e)).toBe(0x08e);
    expect(baseTpmRc(0x1c4)).toBe(0x084);
    expect(baseTpmRc(0x922)).toBe(0x922);
  });
});

describe('TpmRcError', () => {
  it('carries the code, the decoded text from Tss2_RC_Decode, the position and retryability', () => {
    const text = tss2().decodeRc(0x1c4);
    expect(text).toMatch(/value/i);
    const err = new TpmRcError(0x1c4, 'Esys_Sign', text, 'swtpm:port=1');
    expect(err.code).toBe('ERR_TPM_RC');
    expect(err.message).toContain('Esys_Sign');
    expect(err.message).toContain(text);
    expect(err.message).toContain('parameter 1');
    expect(err.message).toContain('0x000001c4');
    expect(err.retryable).toBe(false);
    expect(err.toObject()).toMatchObject({ code: 'ERR_TPM_RC', rc: 0x1c4, command: 'Esys_Sign', parameter: 1 });
    expect(new TpmRcError(0x922, 'Esys_Sign', tss2().decodeRc(0x922)).retryable).toBe(true);
  });

  it('an unreachable TCTI error says so and names the TCTI', () => {
    const err = new TpmRcError(0xa000a, 'Esys_GetCapability', tss2().decodeRc(0xa000a), 'swtpm:host=127.0.0.1,port=9');
    expect(err.code).toBe('ERR_TPM_UNREACHABLE');
    expect(err.message).toContain('swtpm:host=127.0.0.1,port=9');
  });
});
