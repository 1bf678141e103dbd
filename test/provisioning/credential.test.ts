// Software MakeCredential (provisioning/credential.ts) cross-checked against real TPMs: the
// binding's ActivateCredential and tpm2_activatecredential (tpm2-tools, not written here) both
// recover the secret; credentials for another name or another EK fail; KDFa matches the
// known-answer vectors of the TCG reference implementation's self test.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kdfa } from '../../provisioning/credential-kdf.ts';
import { checkEkSupported, makeCredential } from '../../provisioning/credential.ts';
import { ProvisioningError } from '../../provisioning/errors.ts';
import { openTpm, type SealingKeyInfo, type Tpm } from '../../tpm/tpm.ts';
import { TpmRcError } from '../../tpm/errors.ts';
import { parsePublic, rsaPublicArea, toTpm2bPublic, type TpmPublic } from '../../tpm/public-area.ts';
import { makeCredential as toolsMakeCredential, startFixture, tpm2, type SwtpmFixture } from '../tpm/helpers.ts';
import { toolsActivate } from './credential-tools.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

describe('KDFa (TPM2 Part 1 §11.4.10.2)', () => {
  // Known-answer data of the TCG reference implementation's KDF self test (KdfTestData.h):
  // 20-byte key, label "KDFSELFTESTLABEL\0", two 8-byte contexts, 160 output bits.
  const key = unhex('271fa08bbdc5060ec3dfa928ff9b73123a12da0c');
  const label = unhex('4b444653454c46544553544c4142454c00');
  const u = unhex('ce244f395dca7391');
  const v = unhex('da504031ddf12e83');
  const vectors: Array<[number, string]> = [
    [0x0004, '55b5a7184aa07423c47dae766c26a2377d7cf851'],
    [0x000b, 'bb0259e1c8ba607e6a2cd704b69a902e9ade84c4'],
    [0x000c, '1dce70c9113eb2dba47bd9cfc72bf46f45b09312'],
    [0x000d, '8be2c1b85b78569b9fa759f5857c56d684810fd3'],
  ];
  for (const [alg, expected] of vectors) {
    it(`matches the reference self-test vector for hash 0x${alg.toString(16)}`, () => {
      expect(hex(kdfa(alg, key, label, u, v, 160))).toBe(expected);
    });
  }

  it('a label without its NUL derives the same bytes (the NUL is added), a different label does not', () => {
    expect(hex(kdfa(0x000b, key, 'KDFSELFTESTLABEL', u, v, 160))).toBe('bb0259e1c8ba607e6a2cd704b69a902e9ade84c4');
    expect(hex(kdfa(0x000b, key, 'KDFSELFTESTLABEX', u, v, 160))).not.toBe('bb0259e1c8ba607e6a2cd704b69a902e9ade84c4');
  });

  it('property: ceil(bits/8) bytes, excess top bits clear, deterministic, bits is part of the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 1100 }), fc.uint8Array({ maxLength: 40 }), (k, bits, ctx) => {
        const a = kdfa(0x000b, k, 'STORAGE', ctx, new Uint8Array(0), bits);
        expect(a.length).toBe(Math.ceil(bits / 8));
        if (bits % 8 !== 0) expect(a[0]! >> (bits % 8)).toBe(0);
        expect(hex(kdfa(0x000b, k, 'STORAGE', ctx, new Uint8Array(0), bits))).toBe(hex(a));
        // Counter-mode with [L]32 in every block: a longer output is not an extension of a shorter one.
        if (bits % 8 === 0 && bits >= 16) expect(hex(kdfa(0x000b, k, 'STORAGE', ctx, new Uint8Array(0), bits + 8)).startsWith(hex(a))).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses unknown hashes and bad bit counts with a typed error', () => {
    expect(() => kdfa(0x0099, key, 'X', u, v, 128)).toThrow(ProvisioningError);
    expect(() => kdfa(0x000b, key, 'X', u, v, 0)).toThrow(/bits/);
    expect(() => kdfa(0x000b, key, 'X', u, v, 1.5)).toThrow(/bits/);
  });
});

let modulus2048: Uint8Array | null = null;

/** An EK-shaped public area around a software RSA key (3072 bits: a random modulus, never used). */
function softwareEk(over: Partial<Parameters<typeof rsaPublicArea>[0]> = {}, bits = 2048): TpmPublic {
  if (bits === 2048 && modulus2048 === null) {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    modulus2048 = new Uint8Array(Buffer.from((publicKey.export({ format: 'jwk' }) as { n: string }).n, 'base64url'));
  }
  const modulus = bits === 2048 ? modulus2048! : new Uint8Array(randomBytes(bits / 8));
  return parsePublic(toTpm2bPublic(rsaPublicArea({
    nameAlg: 0x000b,
    objectAttributes: 0x000300b2, // fixedTPM fixedParent sensitiveDataOrigin adminWithPolicy restricted decrypt
    symmetric: { algorithm: 0x0006, keyBits: 128, mode: 0x0043 },
    scheme: { scheme: 0x0010 },
    keyBits: bits,
    unique: modulus,
    ...over,
  })));
}

describe('makeCredential input checks', () => {
  const ek = softwareEk();
  const name = unhex(`000b${'11'.repeat(32)}`);

  it('accepts the template L-1 shape and returns TPM2B wire bytes', () => {
    const cred = makeCredential({ ekPublic: ek, name, secret: new Uint8Array(32).fill(7) });
    expect(cred.encryptedSecret.length).toBe(2 + 256);
    expect((cred.encryptedSecret[0]! << 8) | cred.encryptedSecret[1]!).toBe(256);
    // size || (u16 32 || HMAC) || AES-CFB(u16 32 || secret)
    expect(cred.credentialBlob.length).toBe(2 + 2 + 32 + 2 + 32);
    expect((cred.credentialBlob[0]! << 8) | cred.credentialBlob[1]!).toBe(cred.credentialBlob.length - 2);
    expect((cred.credentialBlob[2]! << 8) | cred.credentialBlob[3]!).toBe(32);
    // A fresh seed every time.
    const again = makeCredential({ ekPublic: ek, name, secret: new Uint8Array(32).fill(7) });
    expect(hex(again.encryptedSecret)).not.toBe(hex(cred.encryptedSecret));
  });

  it('refuses other EK shapes, bad names and bad secrets with ProvisioningError', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => checkEkSupported(softwareEk({}, 3072)), /RSA-2048/],
      [() => checkEkSupported(softwareEk({ symmetric: { algorithm: 0x0006, keyBits: 256, mode: 0x0043 } })), /AES-128-CFB/],
      [() => checkEkSupported(softwareEk({ nameAlg: 0x000c })), /SHA-256/],
      [() => checkEkSupported(softwareEk({ objectAttributes: 0x00040072 })), /restricted decryption/],
      [() => makeCredential({ ekPublic: ek, name: unhex('000b1234'), secret: new Uint8Array(32) }), /name is 4 bytes/],
      [() => makeCredential({ ekPublic: ek, name: unhex(`0099${'11'.repeat(32)}`), secret: new Uint8Array(32) }), /unsupported hash/],
      [() => makeCredential({ ekPublic: ek, name, secret: new Uint8Array(33) }), /secret must be 1\.\.32/],
      [() => makeCredential({ ekPublic: ek, name, secret: new Uint8Array(0) }), /secret must be/],
      [() => makeCredential({ ekPublic: ek, name, secret: 'abc' as unknown as Uint8Array }), /secret must be/],
      [() => makeCredential(null as unknown as Parameters<typeof makeCredential>[0]), /needs/],
    ];
    for (const [fn, message] of cases) {
      let err: unknown = null;
      try { fn(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ProvisioningError);
      expect((err as ProvisioningError).code).toBe('ERR_PROV_INVALID_ARGUMENT');
      expect((err as Error).message).toMatch(message);
    }
  });
});

describe('makeCredential against real TPMs (swtpm, binding, tpm2-tools)', () => {
  let fx: SwtpmFixture;
  let other: SwtpmFixture;
  let tpm: Tpm;
  let key: SealingKeyInfo;
  let ek: TpmPublic;
  let otherEk: TpmPublic;

  beforeAll(async () => {
    const started = await Promise.allSettled([startFixture(), startFixture()]);
    if (started[0].status === 'fulfilled') fx = started[0].value;
    if (started[1].status === 'fulfilled') other = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    tpm = await openTpm({ tcti: fx.swtpm.tcti });
    key = await tpm.ensureSealingKey();
    ek = await tpm.ekPublic();
    const otherTpm = await openTpm({ tcti: other.swtpm.tcti });
    try {
      otherEk = await otherTpm.ekPublic();
    } finally {
      await otherTpm.close();
    }
    await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81010001', '-o', 'ek.pub'], { cwd: fx.dir });
  });

  afterAll(async () => {
    await tpm?.close();
    await Promise.all([fx?.destroy(), other?.destroy()]);
  });

  it('the real EK passes the template check', () => {
    expect(() => checkEkSupported(ek)).not.toThrow();
  });

  it('(a) the binding activates our credential and recovers the secret, for 1..32-byte secrets', async () => {
    for (const size of [32, 20, 1]) {
      const secret = new Uint8Array(randomBytes(size));
      const cred = makeCredential({ ekPublic: ek, name: unhex(key.name), secret });
      const recovered = await tpm.activateCredential({ credentialBlob: cred.credentialBlob, secret: cred.encryptedSecret });
      expect(hex(recovered)).toBe(hex(secret));
    }
  });

  it('property: any 1..32-byte secret round-trips through the real TPM; a one-bit change of the name never activates', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 32 }), fc.integer({ min: 2, max: 33 * 8 - 1 }), async (secret, bit) => {
        const name = unhex(key.name);
        const cred = makeCredential({ ekPublic: ek, name, secret });
        expect(hex(await tpm.activateCredential({ credentialBlob: cred.credentialBlob, secret: cred.encryptedSecret }))).toBe(hex(secret));
        // Flip one bit of the digest part (bytes 2..33): bound to another name, the TPM refuses.
        const other = name.slice();
        other[2 + Math.floor((bit - 2) / 8) % 32]! ^= 1 << (bit % 8);
        const wrong = makeCredential({ ekPublic: ek, name: other, secret });
        await expect(tpm.activateCredential({ credentialBlob: wrong.credentialBlob, secret: wrong.encryptedSecret })).rejects.toBeInstanceOf(TpmRcError);
      }),
      { numRuns: 15 },
    );
  });

  it('(b) tpm2_activatecredential recovers the secret from our credential', async () => {
    const secret = new Uint8Array(randomBytes(32));
    const cred = makeCredential({ ekPublic: ek, name: unhex(key.name), secret });
    expect(hex(await toolsActivate(fx.swtpm.tcti, fx.dir, cred, 'tools'))).toBe(hex(secret));
  });

  it('our output has exactly the sizes tpm2_makecredential produces', async () => {
    const secret = new Uint8Array(randomBytes(32));
    const theirs = await toolsMakeCredential(fx.dir, 'ek.pub', key.name, secret, 'theirs.out');
    const ours = makeCredential({ ekPublic: ek, name: unhex(key.name), secret });
    expect(ours.credentialBlob.length).toBe(theirs.credentialBlob.length);
    expect(ours.encryptedSecret.length).toBe(theirs.secret.length);
  });

  it('(c) a credential for another name fails in the binding and in tpm2-tools', async () => {
    const cred = makeCredential({ ekPublic: ek, name: unhex(`000b${'ab'.repeat(32)}`), secret: new Uint8Array(randomBytes(32)) });
    await expect(tpm.activateCredential({ credentialBlob: cred.credentialBlob, secret: cred.encryptedSecret })).rejects.toBeInstanceOf(TpmRcError);
    await expect(toolsActivate(fx.swtpm.tcti, fx.dir, cred, 'badname')).rejects.toThrow(/tpm2_activatecredential/);
  });

  it("(c) a credential for another TPM's EK fails in the binding and in tpm2-tools", async () => {
    const cred = makeCredential({ ekPublic: otherEk, name: unhex(key.name), secret: new Uint8Array(randomBytes(32)) });
    await expect(tpm.activateCredential({ credentialBlob: cred.credentialBlob, secret: cred.encryptedSecret })).rejects.toBeInstanceOf(TpmRcError);
    await expect(toolsActivate(fx.swtpm.tcti, fx.dir, cred, 'badek')).rejects.toThrow(/tpm2_activatecredential/);
  });

  it('a flipped bit anywhere in the blob is caught by the TPM (outer HMAC)', async () => {
    const secret = new Uint8Array(randomBytes(32));
    const cred = makeCredential({ ekPublic: ek, name: unhex(key.name), secret });
    for (const at of [4, 40, cred.credentialBlob.length - 1]) {
      const blob = cred.credentialBlob.slice();
      blob[at]! ^= 0x10;
      await expect(tpm.activateCredential({ credentialBlob: blob, secret: cred.encryptedSecret })).rejects.toBeInstanceOf(TpmRcError);
    }
    // And the untouched one still works afterwards.
    expect(hex(await tpm.activateCredential({ credentialBlob: cred.credentialBlob, secret: cred.encryptedSecret }))).toBe(hex(secret));
  });
});
