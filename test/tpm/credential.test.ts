// ActivateCredential through the binding, with credentials made by tpm2_makecredential.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTpm, type SealingKeyInfo, type Tpm } from '../../tpm/tpm.ts';
import { TpmError, TpmRcError } from '../../tpm/errors.ts';
import { getcapHandles, makeCredential, parseCredentialFile, startFixture, tpm2, type SwtpmFixture } from './helpers.ts';

describe('ActivateCredential with tpm2_makecredential credentials', () => {
  let fx: SwtpmFixture;
  let other: SwtpmFixture;
  let tpm: Tpm;
  let key: SealingKeyInfo;

  beforeAll(async () => {
    // Started side by side; assigned one by one so that afterAll destroys whichever started.
    const started = await Promise.allSettled([startFixture(), startFixture()]);
    if (started[0].status === 'fulfilled') fx = started[0].value;
    if (started[1].status === 'fulfilled') other = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    tpm = await openTpm({ tcti: fx.swtpm.tcti });
    key = await tpm.ensureSealingKey();
    await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81010001', '-o', 'ek.pub'], { cwd: fx.dir });
    await tpm2('tpm2_readpublic', ['-T', other.swtpm.tcti, '-c', '0x81010001', '-o', 'other-ek.pub'], { cwd: fx.dir });
  });

  afterAll(async () => {
    await tpm?.close();
    await Promise.all([fx?.destroy(), other?.destroy()]);
  });

  async function expectClean(): Promise<void> {
    expect(await tpm.handles()).toEqual([]);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-transient')).toEqual([]);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-loaded-session')).toEqual([]);
  }

  it('the credential file parses as magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET', async () => {
    const cred = await makeCredential(fx.dir, 'ek.pub', key.name, new Uint8Array(randomBytes(32)), 'parse.out');
    const file = new Uint8Array(await readFile(join(fx.dir, 'parse.out')));
    expect(Buffer.from(file.subarray(0, 8)).toString('hex')).toBe('badcc0de00000001');
    expect(file.length).toBe(8 + cred.credentialBlob.length + cred.secret.length);
    expect(() => parseCredentialFile(file.subarray(0, file.length - 1))).toThrow(/truncated/);
    expect(cred.secret.length).toBe(2 + 256); // RSA-2048 EK: the seed is encrypted to 256 bytes
    expect(cred.credentialBlob.length).toBeGreaterThan(2 + 32 + 32);
  });

  it('activates and yields the same secret', async () => {
    for (const size of [32, 16, 1]) {
      const secret = new Uint8Array(randomBytes(size));
      const cred = await makeCredential(fx.dir, 'ek.pub', key.name, secret, `ok-${size}.out`);
      const recovered = await tpm.activateCredential(cred);
      expect(Buffer.from(recovered).toString('hex')).toBe(Buffer.from(secret).toString('hex'));
    }
    await expectClean();
  });

  it('also for a sealing key at a custom handle', async () => {
    const custom = await tpm.ensureSealingKey({ handle: 0x81000b71 });
    const secret = new Uint8Array(randomBytes(32));
    const cred = await makeCredential(fx.dir, 'ek.pub', custom.name, secret, 'custom.out');
    expect(Buffer.from(await tpm.activateCredential({ ...cred, handle: 0x81000b71 })).equals(Buffer.from(secret))).toBe(true);
    // Bound to the custom key's name: the default key cannot activate it.
    await expect(tpm.activateCredential(cred)).rejects.toBeInstanceOf(TpmRcError);
    await expectClean();
  });

  it("one made for ANOTHER TPM's EK fails cleanly with a TpmRcError, and the binding stays usable", async () => {
    const cred = await makeCredential(fx.dir, 'other-ek.pub', key.name, new Uint8Array(randomBytes(32)), 'other.out');
    const err = await tpm.activateCredential(cred).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TpmRcError);
    expect((err as TpmRcError).code).toBe('ERR_TPM_RC');
    expect((err as TpmRcError).command).toBe('Esys_ActivateCredential');
    expect((err as TpmRcError).retryable).toBe(false);
    expect((err as TpmRcError).info.layer).toBe(0);
    await expectClean();
    // Still usable: a good credential and a signature right afterwards.
    const secret = new Uint8Array(randomBytes(32));
    expect(Buffer.from(await tpm.activateCredential(await makeCredential(fx.dir, 'ek.pub', key.name, secret, 'after.out'))).equals(Buffer.from(secret))).toBe(true);
    expect((await tpm.sign(new Uint8Array([1, 2, 3]))).length).toBe(256);
    await expectClean();
  });

  it('one made for another object name fails with a TpmRcError (integrity check)', async () => {
    const otherName = `000b${'ab'.repeat(32)}`;
    const cred = await makeCredential(fx.dir, 'ek.pub', otherName, new Uint8Array(randomBytes(32)), 'name.out');
    await expect(tpm.activateCredential(cred)).rejects.toBeInstanceOf(TpmRcError);
    await expectClean();
  });

  it('a tampered credential blob fails with a TpmRcError', async () => {
    const cred = await makeCredential(fx.dir, 'ek.pub', key.name, new Uint8Array(randomBytes(32)), 'tamper.out');
    const blob = cred.credentialBlob.slice();
    blob[blob.length - 1]! ^= 1;
    await expect(tpm.activateCredential({ ...cred, credentialBlob: blob })).rejects.toBeInstanceOf(TpmRcError);
    await expectClean();
  });

  it('malformed input is refused before the TPM', async () => {
    const cred = await makeCredential(fx.dir, 'ek.pub', key.name, new Uint8Array(randomBytes(32)), 'malformed.out');
    const cases: Array<{ credentialBlob: Uint8Array; secret: Uint8Array }> = [
      { credentialBlob: new Uint8Array(0), secret: cred.secret },
      { credentialBlob: cred.credentialBlob, secret: new Uint8Array(1) },
      { credentialBlob: new Uint8Array(2000), secret: cred.secret },
      { credentialBlob: 'abcd' as unknown as Uint8Array, secret: cred.secret },
    ];
    for (const input of cases) {
      const err = await Promise.resolve().then(() => tpm.activateCredential(input)).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(TpmError);
      expect((err as TpmError).code).toBe('ERR_TPM_ARGUMENT');
    }
    // A TPM2B whose size field disagrees with its length never reaches the TPM either.
    const truncated = cred.credentialBlob.subarray(0, cred.credentialBlob.length - 1);
    const err = await tpm.activateCredential({ ...cred, credentialBlob: truncated }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TpmError);
    expect(['ERR_TPM_ARGUMENT', 'ERR_TPM_WIRE']).toContain((err as TpmError).code);
    await expectClean();
  });
});
