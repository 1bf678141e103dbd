// MakeCredential to an ECC EK (TPM2 Part 1 Annex C.6.1: one-pass ECDH with an ephemeral key, the
// seed from KDFe), cross-checked on a real TPM by an implementation no one here wrote: swtpm's
// ECC P-384 EK (0x81010016, its certificate at NV 0x01c00016) and tpm2_activatecredential recover
// the secret our credential carries, bound to the sealing key's name; bound to another name, or
// sent to the RSA EK, it fails.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kdfe } from '../../provisioning/credential-kdf.ts';
import { checkEkSupported, makeCredential } from '../../provisioning/credential.ts';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import { openTpm } from '../../tpm/index.ts';
import { parsePublic, type TpmPublic } from '../../tpm/public-area.ts';
import { startFixture, tpm2, type SwtpmFixture } from '../tpm/helpers.ts';
import { toolsActivate } from './credential-tools.ts';

// userWithAuth with an empty auth value (unlike the RSA EK of template L-1): a password session.
const ECC_EK = { handle: '0x81010016', auth: 'password' } as const;

describe('KDFe (TPM2 Part 1 §11.4.10.3)', () => {
  it('is SP800-56A\'s concatenation KDF: H(counter || Z || label\\0 || U || V), over several blocks, excess bits cleared', async () => {
    const { createHash } = await import('node:crypto');
    const z = fromHex('11'.repeat(48));
    const u = fromHex('22'.repeat(48));
    const v = fromHex('33'.repeat(48));
    const block = (i: number): Buffer => createHash('sha384').update(Buffer.from([0, 0, 0, i])).update(z).update(Buffer.from('IDENTITY\0', 'latin1')).update(u).update(v).digest();
    expect(toHex(kdfe(0x000c, z, 'IDENTITY', u, v, 384))).toBe(block(1).toString('hex'));
    expect(toHex(kdfe(0x000c, z, 'IDENTITY\0', u, v, 384))).toBe(block(1).toString('hex')); // the NUL once either way
    expect(toHex(kdfe(0x000c, z, 'IDENTITY', u, v, 512))).toBe(Buffer.concat([block(1), block(2)]).subarray(0, 64).toString('hex'));
    const odd = kdfe(0x000c, z, 'IDENTITY', u, v, 20);
    expect([odd.length, odd[0]! < 16]).toEqual([3, true]);
  });
});

describe('makeCredential to an ECC EK (swtpm P-384, tpm2-tools)', () => {
  let fx: SwtpmFixture;
  let eccEk: TpmPublic;
  let name: Uint8Array;

  beforeAll(async () => {
    fx = await startFixture();
    const tpm = await openTpm({ tcti: fx.swtpm.tcti });
    try {
      name = fromHex((await tpm.ensureSealingKey()).name);
    } finally {
      await tpm.close();
    }
    await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', ECC_EK.handle, '-o', 'ek-ecc.pub'], { cwd: fx.dir });
    eccEk = parsePublic(new Uint8Array(await readFile(join(fx.dir, 'ek-ecc.pub'))));
  });
  afterAll(async () => fx?.destroy());

  it('swtpm\'s ECC EK is the P-384 shape the registrar supports', () => {
    expect([eccEk.type, eccEk.nameAlg, eccEk.ecc?.curveId, eccEk.ecc?.symmetric.keyBits]).toEqual([0x0023, 0x000c, 0x0004, 256]);
    expect(() => checkEkSupported(eccEk)).not.toThrow();
  });

  it('tpm2_activatecredential on the ECC EK recovers the secret of our credential, for 48- and 1-byte secrets', async () => {
    for (const size of [48, 1]) {
      const secret = new Uint8Array(randomBytes(size));
      const cred = makeCredential({ ekPublic: eccEk, name, secret });
      expect(toHex(await toolsActivate(fx.swtpm.tcti, fx.dir, cred, `ecc-${size}`, '0x81000b70', ECC_EK))).toBe(toHex(secret));
    }
  });

  it('bound to another name, or sent to the RSA EK, the TPM refuses it', async () => {
    const other = name.slice();
    other[5]! ^= 1;
    const wrongName = makeCredential({ ekPublic: eccEk, name: other, secret: new Uint8Array(randomBytes(32)) });
    await expect(toolsActivate(fx.swtpm.tcti, fx.dir, wrongName, 'ecc-wrong-name', '0x81000b70', ECC_EK)).rejects.toThrow(/tpm2_activatecredential/);
    const right = makeCredential({ ekPublic: eccEk, name, secret: new Uint8Array(randomBytes(32)) });
    await expect(toolsActivate(fx.swtpm.tcti, fx.dir, right, 'ecc-to-rsa')).rejects.toThrow(/tpm2_activatecredential/);
  });

  it('refuses ECC EKs of another curve or another nameAlg with a clear message', () => {
    const p521 = { ...eccEk, ecc: { ...eccEk.ecc!, curveId: 0x0005 } };
    expect(() => checkEkSupported(p521)).toThrow(/ECC EK curve 0x0005 is not supported; only NIST P-256 and P-384/);
    expect(() => checkEkSupported({ ...eccEk, nameAlg: 0x000b })).toThrow(/must use nameAlg 0x000c and AES-256-CFB/);
  });
});
