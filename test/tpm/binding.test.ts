// The binding against a real swtpm, cross-checked with tpm2-tools and node:crypto.
import { lotteryMessage, scoreTicket } from '../../firmware/protocol/chain/lottery.ts';
import { createHash, verify, X509Certificate, createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOTTERY_MESSAGE_BYTES, openTpm, type LotteryKey, type SealingKeyInfo, type Tpm } from '../../tpm/tpm.ts';
import { TpmError } from '../../tpm/errors.ts';
import { parsePublic, publicKeyPem } from '../../tpm/public-area.ts';
import { getcapHandles, startFixture, tpm2, type SwtpmFixture } from './helpers.ts';

const DEFAULT_HANDLE = 0x81000b70;
const CUSTOM_HANDLE = 0x81000b71;
const ECC_HANDLE = 0x81000b72;
const STORAGE_HANDLE = 0x81000b73;
const PSS_HANDLE = 0x81000b74;

const sha256 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest());
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Leading zero bits, counted independently of firmware/core/bytes.ts: via the binary string. */
function zerosOf(bytes: Uint8Array): number {
  const bits = [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('');
  const first = bits.indexOf('1');
  return first < 0 ? bits.length : first;
}

async function codeOf(p: () => Promise<unknown>): Promise<string> {
  try {
    await p();
  } catch (err) {
    expect(err).toBeInstanceOf(TpmError);
    return (err as TpmError).code;
  }
  throw new Error('expected a TpmError');
}

describe('node-tpm2 binding on swtpm', () => {
  let fx: SwtpmFixture;
  let tpm: Tpm;
  let key: SealingKeyInfo;
  let lottery: LotteryKey;

  beforeAll(async () => {
    fx = await startFixture();
    tpm = await openTpm({ tcti: fx.swtpm.tcti });
    key = await tpm.ensureSealingKey();
    lottery = tpm.lotteryKey();
  });

  afterAll(async () => {
    await tpm?.close();
    await fx?.destroy();
  });

  describe('signatures', () => {
    it('verify with node:crypto under the exported PEM', async () => {
      const message = new TextEncoder().encode('block 1 || round 0');
      const signature = await tpm.sign(message);
      expect(signature.length).toBe(256);
      expect(verify('sha256', message, key.publicKeyPem, signature)).toBe(true);
      expect(verify('sha256', new TextEncoder().encode('block 1 || round 1'), key.publicKeyPem, signature)).toBe(false);
    });

    it('are byte-identical for the same message (RSASSA-PKCS1-v1_5 is deterministic)', async () => {
      const message = new Uint8Array(40).fill(7);
      const a = await tpm.sign(message);
      const b = await tpm.sign(message);
      expect(hex(a)).toBe(hex(b));
      expect(verify('sha256', message, key.publicKeyPem, a)).toBe(true);
    });

    it('the lottery scores a TPM signature as SHA-256(signature) and its leading zero bits', async () => {
      for (let i = 0; i < 8; i++) {
        const message = lotteryMessage(new Uint8Array(32).fill(i), i);
        const signature = await lottery.sign(message);
        expect(verify('sha256', message, key.publicKeyPem, signature)).toBe(true);
        const t = scoreTicket(signature, 0);
        expect(hex(t.ticket)).toBe(hex(sha256(signature)));
        expect(t.zeros).toBe(zerosOf(t.ticket));
      }
    });

    it('tpm2_sign on the persisted handle gives the same bytes, over the message and over a digest', async () => {
      const message = new TextEncoder().encode('cross-check with tpm2-tools');
      await writeFile(join(fx.dir, 'msg.bin'), message);
      await writeFile(join(fx.dir, 'digest.bin'), sha256(message));
      const common = ['-T', fx.swtpm.tcti, '-c', '0x81000B70', '-g', 'sha256', '-s', 'rsassa', '-f', 'plain'];
      await tpm2('tpm2_sign', [...common, '-o', 'sig-msg.bin', 'msg.bin'], { cwd: fx.dir });
      await tpm2('tpm2_sign', [...common, '-d', '-o', 'sig-digest.bin', 'digest.bin'], { cwd: fx.dir });
      const ours = hex(await tpm.sign(message));
      expect(hex(await readFile(join(fx.dir, 'sig-msg.bin')))).toBe(ours);
      expect(hex(await readFile(join(fx.dir, 'sig-digest.bin')))).toBe(ours);
    });
  });

  describe('the lottery key (the seal signer\'s, handed out once)', () => {
    it('is the only way to sign a lottery-shaped message: sign() refuses 36 bytes before the TPM', async () => {
      expect(LOTTERY_MESSAGE_BYTES).toBe(lotteryMessage(new Uint8Array(32), 0).length);
      const message = lotteryMessage(sha256(new TextEncoder().encode('block')), 3);
      expect(await codeOf(() => tpm.sign(message))).toBe('ERR_TPM_ARGUMENT');
      await expect(tpm.sign(message)).rejects.toThrow(/lottery-shaped/);
      // One byte more or less is not a lottery message, and the general sign makes it.
      for (const n of [35, 37]) expect(verify('sha256', new Uint8Array(n), key.publicKeyPem, await tpm.sign(new Uint8Array(n)))).toBe(true);
    });

    it('signs exactly 36-byte messages, verifiable with node:crypto and byte-identical to tpm2_sign', async () => {
      const message = lotteryMessage(sha256(new TextEncoder().encode('block 9')), 0xfffffffe);
      const signature = await lottery.sign(message);
      expect(verify('sha256', message, key.publicKeyPem, signature)).toBe(true);
      await writeFile(join(fx.dir, 'lottery.bin'), message);
      await tpm2('tpm2_sign', ['-T', fx.swtpm.tcti, '-c', '0x81000B70', '-g', 'sha256', '-s', 'rsassa', '-f', 'plain', '-o', 'lottery.sig', 'lottery.bin'], { cwd: fx.dir });
      expect(hex(await readFile(join(fx.dir, 'lottery.sig')))).toBe(hex(signature));
      for (const bad of [new Uint8Array(35), new Uint8Array(37), new Uint8Array(0), 'x'.repeat(36)]) {
        expect(await codeOf(() => lottery.sign(bad as Uint8Array))).toBe('ERR_TPM_ARGUMENT');
      }
    });

    it('has one holder per handle and Tpm object: a claim while it is held is refused; a released key signs no more', async () => {
      expect(lottery.handle).toBe(DEFAULT_HANDLE);
      expect(await codeOf(async () => tpm.lotteryKey())).toBe('ERR_TPM_LOTTERY_KEY_TAKEN');
      expect(await codeOf(async () => tpm.lotteryKey({ handle: DEFAULT_HANDLE }))).toBe('ERR_TPM_LOTTERY_KEY_TAKEN');
      // Another handle is another key; with no key there, its signature fails at the TPM.
      const empty = tpm.lotteryKey({ handle: 0x81000b7e });
      expect(await codeOf(() => empty.sign(new Uint8Array(36)))).toBe('ERR_TPM_KEY_MISMATCH');
      expect(await codeOf(async () => tpm.lotteryKey({ handle: 0x81000b7e }))).toBe('ERR_TPM_LOTTERY_KEY_TAKEN');
      empty.release();
      const again = tpm.lotteryKey({ handle: 0x81000b7e });
      expect(await codeOf(() => empty.sign(new Uint8Array(36)))).toBe('ERR_TPM_CLOSED');
      // The old holder's release does not free the new holder's claim.
      empty.release();
      expect(await codeOf(async () => tpm.lotteryKey({ handle: 0x81000b7e }))).toBe('ERR_TPM_LOTTERY_KEY_TAKEN');
      again.release();
    });
  });

  describe('the sealing key', () => {
    it('tpm2_readpublic gives the same public key (PEM) and name', async () => {
      const out = await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81000B70', '-f', 'pem', '-o', 'seal.pem', '-n', 'seal.name'], { cwd: fx.dir });
      const pem = await readFile(join(fx.dir, 'seal.pem'), 'utf8');
      const name = hex(await readFile(join(fx.dir, 'seal.name')));
      expect(key.publicKeyPem.trim()).toBe(pem.trim());
      expect(key.name).toBe(name);
      expect(out).toContain(`name: ${name}`);
      expect(out).toMatch(/value: fixedtpm\|fixedparent\|sensitivedataorigin\|userwithauth\|noda\|sign/);
      expect(out).toMatch(/scheme:\s*\n\s*value: rsassa/);
      expect(key.handle).toBe(DEFAULT_HANDLE);
      expect(parsePublic(key.publicArea).bytes).toEqual(key.public.bytes);
    });

    it('init twice gives the same key, also from a new context', async () => {
      const again = await tpm.ensureSealingKey();
      expect(again.name).toBe(key.name);
      const other = await openTpm({ tcti: fx.swtpm.tcti });
      try {
        expect((await other.ensureSealingKey()).name).toBe(key.name);
        expect((await other.sealingKey())?.publicKeyPem).toBe(key.publicKeyPem);
      } finally {
        await other.close();
      }
      const persistent = await getcapHandles(fx.swtpm.tcti, 'handles-persistent');
      expect(persistent).toContain('0x81000B70');
      expect(persistent).toContain('0x81000001'); // the SRK, its parent
      expect(persistent.filter((h) => h === '0x81000B70')).toHaveLength(1);
    });

    it('sealingKey() is null for an empty handle', async () => {
      expect(await tpm.sealingKey({ handle: 0x81000bff })).toBeNull();
    });

    it('works at a custom handle, with its own key', async () => {
      expect(await tpm.sealingKey({ handle: CUSTOM_HANDLE })).toBeNull();
      const custom = await tpm.ensureSealingKey({ handle: CUSTOM_HANDLE });
      expect(custom.handle).toBe(CUSTOM_HANDLE);
      expect(custom.name).not.toBe(key.name);
      const message = new TextEncoder().encode('custom handle');
      const signature = await tpm.sign(message, { handle: CUSTOM_HANDLE });
      expect(verify('sha256', message, custom.publicKeyPem, signature)).toBe(true);
      expect(verify('sha256', message, key.publicKeyPem, signature)).toBe(false);
      await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81000B71', '-n', 'custom.name'], { cwd: fx.dir });
      expect(hex(await readFile(join(fx.dir, 'custom.name')))).toBe(custom.name);
      expect((await tpm.ensureSealingKey({ handle: CUSTOM_HANDLE })).name).toBe(custom.name);
    });

    it('handles out of range are refused before the TPM (a context to a closed port still says ERR_TPM_ARGUMENT)', async () => {
      const { Tpm } = await import('../../tpm/tpm.ts');
      const offline = new Tpm({ tcti: 'swtpm:host=127.0.0.1,port=9', connectTimeoutMs: 500 });
      for (const handle of [0x81010001, 0x80000001, 0x81800000, 0x81000001, Number.NaN, 0x181000b70]) {
        for (const t of [offline, tpm]) {
          expect(await codeOf(async () => t.ensureSealingKey({ handle })), `ensure ${handle}`).toBe('ERR_TPM_ARGUMENT');
          expect(await codeOf(async () => t.sealingKey({ handle }))).toBe('ERR_TPM_ARGUMENT');
          expect(await codeOf(async () => t.lotteryKey({ handle }))).toBe('ERR_TPM_ARGUMENT');
          expect(await codeOf(async () => t.sign(new Uint8Array(1), { handle }))).toBe('ERR_TPM_ARGUMENT');
        }
      }
      // The EK at 0x81010001 is untouched.
      const ek = await tpm.ekPublic();
      expect(ek.rsa?.keyBits).toBe(2048);
    });

    describe('a handle that holds another kind of object', () => {
      const foreign: Record<number, string> = {};

      beforeAll(async () => {
        const put = async (handle: number, alg: string): Promise<void> => {
          const h = `0x${handle.toString(16)}`;
          const attrs = alg === 'rsa2048:rsapss-sha256:null' ? ['-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'] : [];
          await tpm2('tpm2_createprimary', ['-T', fx.swtpm.tcti, '-C', 'o', '-G', alg, ...attrs, '-c', `${h}.ctx`], { cwd: fx.dir });
          await tpm2('tpm2_evictcontrol', ['-T', fx.swtpm.tcti, '-C', 'o', '-c', `${h}.ctx`, h], { cwd: fx.dir });
          await tpm2('tpm2_flushcontext', ['-T', fx.swtpm.tcti, '-t'], { cwd: fx.dir });
          await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', h, '-n', `${h}.name`], { cwd: fx.dir });
          foreign[handle] = hex(await readFile(join(fx.dir, `${h}.name`)));
        };
        await put(ECC_HANDLE, 'ecc');
        await put(STORAGE_HANDLE, 'rsa2048');
        await put(PSS_HANDLE, 'rsa2048:rsapss-sha256:null');
      });

      for (const [handle, what] of [[ECC_HANDLE, 'ECC storage key'], [STORAGE_HANDLE, 'RSA decrypt key'], [PSS_HANDLE, 'RSA-PSS signing key']] as const) {
        it(`${what}: ERR_TPM_KEY_MISMATCH and the object is not overwritten`, async () => {
          expect(await codeOf(() => tpm.sealingKey({ handle }))).toBe('ERR_TPM_KEY_MISMATCH');
          expect(await codeOf(() => tpm.ensureSealingKey({ handle }))).toBe('ERR_TPM_KEY_MISMATCH');
          expect(await codeOf(() => tpm.sign(new Uint8Array(32), { handle }))).toBe('ERR_TPM_KEY_MISMATCH');
          await expect(tpm.ensureSealingKey({ handle })).rejects.toThrow(/0x81000B7\d cannot be the sealing key: sealing key /);
          const name = `0x${handle.toString(16)}.after`;
          await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', `0x${handle.toString(16)}`, '-n', name], { cwd: fx.dir });
          expect(hex(await readFile(join(fx.dir, name)))).toBe(foreign[handle]);
          expect(await getcapHandles(fx.swtpm.tcti, 'handles-transient')).toEqual([]);
        });
      }

      it('the ECC public area parses and its PEM matches tpm2_readpublic', async () => {
        await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81000b72', '-o', 'ecc.pub'], { cwd: fx.dir });
        await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81000b72', '-f', 'pem', '-o', 'ecc.pem'], { cwd: fx.dir });
        const pub = parsePublic(new Uint8Array(await readFile(join(fx.dir, 'ecc.pub'))));
        expect(pub.ecc?.curveId).toBe(3);
        expect(publicKeyPem(pub).trim()).toBe((await readFile(join(fx.dir, 'ecc.pem'), 'utf8')).trim());
      });
    });
  });

  describe('EK and info', () => {
    it('the EK certificate from NV parses as X.509, carries the EK public key and equals tpm2_nvread', async () => {
      const der = await tpm.readEkCertificate();
      expect(der).not.toBeNull();
      const cert = new X509Certificate(Buffer.from(der!));
      const ekPem = publicKeyPem(await tpm.ekPublic());
      expect(cert.publicKey.export({ type: 'spki', format: 'pem' }).toString()).toBe(ekPem);
      await tpm2('tpm2_nvread', ['-T', fx.swtpm.tcti, '-C', 'o', '0x01c00002', '-o', 'ekcert.der'], { cwd: fx.dir });
      expect(hex(await readFile(join(fx.dir, 'ekcert.der')))).toBe(hex(der!));
      // Issued by the suite's own CA.
      const issuer = new X509Certificate(await readFile(fx.swtpm.caCertFiles[1]!));
      expect(cert.checkIssued(issuer)).toBe(true);
      expect(cert.verify(issuer.publicKey)).toBe(true);
    });

    it('the ECC EK certificate index is absent: null, not an error', async () => {
      expect(await tpm.readEkCertificate(0x01c0000a)).toBeNull();
    });

    it('ekPublic is the persisted EK (tpm2_readpublic 0x81010001)', async () => {
      await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81010001', '-f', 'pem', '-o', 'ek.pem'], { cwd: fx.dir });
      expect(publicKeyPem(await tpm.ekPublic()).trim()).toBe((await readFile(join(fx.dir, 'ek.pem'), 'utf8')).trim());
    });

    it('info() reports manufacturer, firmware, EK and sealing key consistently with tpm2_getcap', async () => {
      const info = await tpm.info();
      const fixed = await tpm2('tpm2_getcap', ['-T', fx.swtpm.tcti, 'properties-fixed']);
      const prop = (name: string): number => {
        const m = new RegExp(`${name}:\\s*\\n\\s*raw: (0x[0-9A-Fa-f]+)`).exec(fixed);
        if (!m) throw new Error(`${name} not in tpm2_getcap output`);
        return Number.parseInt(m[1]!, 16);
      };
      expect(info.manufacturer).toBe('IBM');
      const fw1 = prop('TPM2_PT_FIRMWARE_VERSION_1');
      const fw2 = prop('TPM2_PT_FIRMWARE_VERSION_2');
      expect(info.firmwareVersion).toBe(`${fw1 >>> 16}.${fw1 & 0xffff}.${fw2 >>> 16}.${fw2 & 0xffff}`);
      expect(info.ek.publicKeyPem).toBe(publicKeyPem(await tpm.ekPublic()));
      expect(new X509Certificate(info.ek.certificatePem!).publicKey.export({ type: 'spki', format: 'pem' })).toBe(info.ek.publicKeyPem);
      expect(info.sealingKey).toEqual({ handle: '0x81000B70', publicKeyPem: key.publicKeyPem, name: key.name });
      expect((await tpm.info({ handle: 0x81000bfe })).sealingKey).toBeNull();
      createPublicKey(info.sealingKey!.publicKeyPem);
    });

    it('nothing transient is left behind', async () => {
      expect(await tpm.handles()).toEqual([]);
      expect(await getcapHandles(fx.swtpm.tcti, 'handles-transient')).toEqual([]);
      expect(await getcapHandles(fx.swtpm.tcti, 'handles-loaded-session')).toEqual([]);
    });
  });
});
