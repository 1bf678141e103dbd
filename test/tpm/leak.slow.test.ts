// Handle leaks: 10,000 signatures and repeated error paths leave no transient object and no
// loaded session in the TPM (checked with tpm2_getcap, a tool no one here wrote).
import { createHash, randomBytes, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTpm, type SealingKeyInfo, type Tpm } from '../../tpm/tpm.ts';
import { TpmError } from '../../tpm/errors.ts';
import { getcapHandles, makeCredential, startFixture, tpm2, type SwtpmFixture } from './helpers.ts';

const ECC_HANDLE = 0x81000b72;
const EMPTY_HANDLE = 0x81000bee;

describe('no handle leaks', () => {
  let fx: SwtpmFixture;
  let tpm: Tpm;
  let key: SealingKeyInfo;

  beforeAll(async () => {
    fx = await startFixture();
    tpm = await openTpm({ tcti: fx.swtpm.tcti });
    key = await tpm.ensureSealingKey();
    await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81010001', '-o', 'ek.pub'], { cwd: fx.dir });
    // Another TPM's EK, for credentials this TPM cannot activate.
    const other = await startFixture();
    try {
      await tpm2('tpm2_readpublic', ['-T', other.swtpm.tcti, '-c', '0x81010001', '-o', `${fx.dir}/other-ek.pub`]);
    } finally {
      await other.destroy();
    }
    await tpm2('tpm2_createprimary', ['-T', fx.swtpm.tcti, '-C', 'o', '-G', 'ecc', '-c', 'ecc.ctx'], { cwd: fx.dir });
    await tpm2('tpm2_evictcontrol', ['-T', fx.swtpm.tcti, '-C', 'o', '-c', 'ecc.ctx', `0x${ECC_HANDLE.toString(16)}`], { cwd: fx.dir });
    await tpm2('tpm2_flushcontext', ['-T', fx.swtpm.tcti, '-t']);
  });

  afterAll(async () => {
    await tpm?.close();
    await fx?.destroy();
  });

  async function expectNothingLoaded(): Promise<void> {
    expect(await tpm.handles()).toEqual([]);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-transient')).toEqual([]);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-loaded-session')).toEqual([]);
  }

  async function expectFailure(times: number, code: string, call: () => Promise<unknown>): Promise<void> {
    for (let i = 0; i < times; i++) {
      const err = await Promise.resolve().then(call).then(() => null, (e: unknown) => e);
      expect(err, `attempt ${i}`).toBeInstanceOf(TpmError);
      expect((err as TpmError).code).toBe(code);
    }
  }

  it('10,000 signatures', async () => {
    for (let batch = 0; batch < 100; batch++) {
      const messages = Array.from({ length: 100 }, (_, i) => new TextEncoder().encode(`leak ${batch * 100 + i}`));
      const signatures = await Promise.all(messages.map((m) => tpm.sign(m)));
      // Spot-check with node:crypto: the binding's own check is not what we are testing here.
      expect(verify('sha256', messages[batch % 100]!, key.publicKeyPem, signatures[batch % 100]!)).toBe(true);
    }
    await expectNothingLoaded();
  });

  it('1,000 signatures with an encrypted session, then close', async () => {
    const encrypted = await openTpm({ tcti: fx.swtpm.tcti, signSession: 'encrypted' });
    try {
      for (let i = 0; i < 1000; i++) await encrypted.sign(new Uint8Array(createHash('sha256').update(`enc ${i}`).digest()));
      // One long-lived session while open, no more.
      expect((await getcapHandles(fx.swtpm.tcti, 'handles-loaded-session')).length).toBeLessThanOrEqual(1);
    } finally {
      await encrypted.close();
    }
    await expectNothingLoaded();
  });

  it('activation failures, repeated: another TPM\'s EK, another name, a tampered blob', async () => {
    const foreign = await makeCredential(fx.dir, 'other-ek.pub', key.name, new Uint8Array(randomBytes(32)), 'foreign.out');
    const misnamed = await makeCredential(fx.dir, 'ek.pub', `000b${'cd'.repeat(32)}`, new Uint8Array(randomBytes(32)), 'misnamed.out');
    const good = await makeCredential(fx.dir, 'ek.pub', key.name, new Uint8Array(randomBytes(32)), 'good.out');
    const tampered = { ...good, credentialBlob: good.credentialBlob.map((b, i) => (i === 10 ? b ^ 0xff : b)) };
    await expectFailure(100, 'ERR_TPM_RC', () => tpm.activateCredential(foreign));
    await expectFailure(100, 'ERR_TPM_RC', () => tpm.activateCredential(misnamed));
    await expectFailure(100, 'ERR_TPM_RC', () => tpm.activateCredential(tampered));
    await expectFailure(100, 'ERR_TPM_ARGUMENT', () => tpm.activateCredential({ credentialBlob: new Uint8Array(1), secret: good.secret }));
    await expectFailure(50, 'ERR_TPM_KEY_MISMATCH', () => tpm.activateCredential({ ...good, handle: EMPTY_HANDLE }));
    await expectNothingLoaded();
    for (let i = 0; i < 50; i++) expect((await tpm.activateCredential(good)).length).toBe(32);
    await expectNothingLoaded();
  });

  it('bad handles and mismatched keys, repeated', async () => {
    const digest = new Uint8Array(32);
    await expectFailure(200, 'ERR_TPM_KEY_MISMATCH', () => tpm.sign(digest, { handle: EMPTY_HANDLE }));
    await expectFailure(200, 'ERR_TPM_KEY_MISMATCH', () => tpm.sign(digest, { handle: ECC_HANDLE }));
    await expectFailure(100, 'ERR_TPM_KEY_MISMATCH', () => tpm.ensureSealingKey({ handle: ECC_HANDLE }));
    await expectFailure(100, 'ERR_TPM_KEY_MISMATCH', () => tpm.sealingKey({ handle: ECC_HANDLE }));
    await expectFailure(200, 'ERR_TPM_ARGUMENT', () => tpm.sign(digest, { handle: 0x81010001 }));
    for (let i = 0; i < 50; i++) expect(await tpm.sealingKey({ handle: EMPTY_HANDLE + 1 })).toBeNull();
    for (let i = 0; i < 50; i++) await tpm.info();
    await expectNothingLoaded();
  });

  it('without a persistent EK: the transient EK is flushed after every activation, good or bad', async () => {
    await tpm2('tpm2_evictcontrol', ['-T', fx.swtpm.tcti, '-C', 'o', '-c', '0x81010001']);
    expect(await getcapHandles(fx.swtpm.tcti, 'handles-persistent')).not.toContain('0x81010001');
    const secret = new Uint8Array(randomBytes(32));
    // The TCG template recreates the same EK, so credentials for its public key still activate.
    const good = await makeCredential(fx.dir, 'ek.pub', key.name, secret, 'transient-ek.out');
    const foreign = await makeCredential(fx.dir, 'other-ek.pub', key.name, new Uint8Array(randomBytes(32)), 'transient-foreign.out');
    // A new context: how an existing one copes with the EK vanishing under it is tested in
    // external-changes.test.ts; here only the flushing of the transient EK matters.
    const fresh = await openTpm({ tcti: fx.swtpm.tcti });
    try {
      for (let i = 0; i < 20; i++) expect(Buffer.from(await fresh.activateCredential(good)).equals(Buffer.from(secret))).toBe(true);
      await expectFailure(20, 'ERR_TPM_RC', () => fresh.activateCredential(foreign));
      for (let i = 0; i < 20; i++) await fresh.ekPublic();
    } finally {
      await fresh.close();
    }
    await expectNothingLoaded();
  });
});
