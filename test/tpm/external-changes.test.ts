// The TPM changes behind the binding's back (another tool evicts a key, the owner clears the
// TPM): an open Tpm must notice instead of trusting the ESYS handles it cached.
import { verify } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTpm, type Tpm } from '../../tpm/tpm.ts';
import { TpmError } from '../../tpm/errors.ts';
import { getcapHandles, startFixture, tpm2, type SwtpmFixture } from './helpers.ts';

describe('external changes to persistent objects', () => {
  let fx: SwtpmFixture;
  let tpm: Tpm;

  beforeAll(async () => {
    fx = await startFixture();
  });

  // A new context per test, so that one test's stale cache cannot fail the next.
  beforeEach(async () => {
    tpm = await openTpm({ tcti: fx.swtpm.tcti });
  });

  afterEach(async () => {
    await tpm?.close();
  });

  afterAll(async () => {
    await fx?.destroy();
  });

  it('sealing key evicted by tpm2_evictcontrol: sealingKey() is null, signing says "run init", ensureSealingKey() makes a new one', async () => {
    const old = await tpm.ensureSealingKey();
    await tpm.sign(new Uint8Array([1])); // the handle is now cached
    await tpm2('tpm2_evictcontrol', ['-T', fx.swtpm.tcti, '-C', 'o', '-c', '0x81000B70']);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-persistent')).not.toContain('0x81000B70');

    const err = await tpm.sign(new Uint8Array([1])).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TpmError);
    expect((err as TpmError).code).toBe('ERR_TPM_KEY_MISMATCH');
    expect(await tpm.sealingKey()).toBeNull();

    const fresh = await tpm.ensureSealingKey();
    expect(fresh.name).not.toBe(old.name);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-persistent')).toContain('0x81000B70');
    const message = new Uint8Array([2]);
    expect(verify('sha256', message, fresh.publicKeyPem, await tpm.sign(message))).toBe(true);
  });

  it('EK evicted: ekPublic() falls back to the EK created from the TCG template (same key)', async () => {
    const before = await tpm.ekPublic(); // the persistent EK, now cached
    await tpm2('tpm2_evictcontrol', ['-T', fx.swtpm.tcti, '-C', 'o', '-c', '0x81010001']);
    const after = await tpm.ekPublic();
    expect(Buffer.from(after.bytes).equals(Buffer.from(before.bytes))).toBe(true);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-transient')).toEqual([]);
  });

  it('TPM cleared by its owner (tpm2_clear): ensureSealingKey() recreates the SRK and the sealing key', async () => {
    const old = await tpm.ensureSealingKey();
    await tpm.sign(new Uint8Array([3]));
    await tpm2('tpm2_clear', ['-T', fx.swtpm.tcti, '-c', 'p']);
    // TPM2_Clear flushes persistent objects of the storage and endorsement hierarchies (TPM2 Part 3 §24.6).
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-persistent')).toEqual([]);

    const fresh = await tpm.ensureSealingKey();
    expect(fresh.name).not.toBe(old.name);
    const message = new Uint8Array([4]);
    expect(verify('sha256', message, fresh.publicKeyPem, await tpm.sign(message))).toBe(true);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-transient')).toEqual([]);
    // The endorsement seed survives: the EK from the template is the one the certificate names.
    const cert = await tpm.readEkCertificate();
    const { X509Certificate } = await import('node:crypto');
    const { publicKeyPem } = await import('../../tpm/public-area.ts');
    expect(new X509Certificate(Buffer.from(cert!)).publicKey.export({ type: 'spki', format: 'pem' })).toBe(publicKeyPem(await tpm.ekPublic()));
  });

  it('with an encrypted signing session: the key evicted and recreated leaves no session behind', async () => {
    const encrypted = await openTpm({ tcti: fx.swtpm.tcti, signSession: 'encrypted' });
    try {
      await encrypted.ensureSealingKey();
      await encrypted.sign(new Uint8Array([5])); // session started, key handle cached
      await tpm2('tpm2_evictcontrol', ['-T', fx.swtpm.tcti, '-C', 'o', '-c', '0x81000B70']);
      await expect(encrypted.sign(new Uint8Array([5]))).rejects.toMatchObject({ code: 'ERR_TPM_KEY_MISMATCH' });
      const key = await encrypted.ensureSealingKey();
      expect(verify('sha256', new Uint8Array([6]), key.publicKeyPem, await encrypted.sign(new Uint8Array([6])))).toBe(true);
      expect((await getcapHandles(fx.swtpm.tcti, 'handles-loaded-session')).length).toBeLessThanOrEqual(1);
    } finally {
      await encrypted.close();
    }
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-loaded-session')).toEqual([]);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-transient')).toEqual([]);
  });
});
