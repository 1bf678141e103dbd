import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectAttr, TPM_ALG } from '../../tpm/constants.ts';
import { TpmWireError } from '../../tpm/errors.ts';
import {
  hasAttributes, objectName, parsePublic, parsePublicArea, publicKeyObject, publicKeyPem, publicKeySpki, rsaPublicArea, toTpm2bPublic, type TpmPublic,
} from '../../tpm/public-area.ts';
import { EK_POLICY_SHA256, EK_RSA_ATTRIBUTES, ekRsaTemplate, SEALING_KEY_REQUIRED, sealingKeyTemplate, srkRsaTemplate } from '../../tpm/templates.ts';
import { startFixture, tpm2, type SwtpmFixture } from './helpers.ts';

/** Serialize a parsed RSA area again from its fields alone. */
function reserialize(pub: TpmPublic): Uint8Array {
  const rsa = pub.rsa!;
  return rsaPublicArea({
    nameAlg: pub.nameAlg,
    objectAttributes: pub.objectAttributes,
    authPolicy: pub.authPolicy,
    symmetric: rsa.symmetric,
    scheme: rsa.scheme,
    keyBits: rsa.keyBits,
    exponent: rsa.exponent,
    unique: rsa.modulus,
  });
}

describe('public areas of the templates', () => {
  const templates = { ek: ekRsaTemplate(), srk: srkRsaTemplate(), sealing: sealingKeyTemplate() };

  for (const [name, template] of Object.entries(templates)) {
    it(`${name}: parse -> serialize round trip gives the same bytes`, () => {
      const parsed = parsePublicArea(template);
      expect(Buffer.from(reserialize(parsed)).equals(Buffer.from(template))).toBe(true);
      expect(Buffer.from(parsed.bytes).equals(Buffer.from(template))).toBe(true);
      const viaTpm2b = parsePublic(toTpm2bPublic(template));
      expect(viaTpm2b).toEqual(parsed);
      expect(toTpm2bPublic(template).length).toBe(template.length + 2);
    });
  }

  it('the EK template is TCG template L-1: RSA-2048, AES-128-CFB, PolicySecret(endorsement), restricted decrypt', () => {
    const ek = parsePublicArea(templates.ek);
    expect(ek).toMatchObject({ type: TPM_ALG.RSA, nameAlg: TPM_ALG.SHA256, objectAttributes: EK_RSA_ATTRIBUTES });
    expect(Buffer.from(ek.authPolicy).equals(Buffer.from(EK_POLICY_SHA256))).toBe(true);
    expect(ek.rsa).toMatchObject({ keyBits: 2048, exponent: 0, symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }, scheme: { scheme: TPM_ALG.NULL } });
    expect(ek.rsa!.modulus).toEqual(new Uint8Array(256));
    expect(ek.objectAttributes).toBe(0x000300b2);
  });

  it('the sealing-key template is an unrestricted RSASSA-SHA256 signing key (docs/keys.md)', () => {
    const key = parsePublicArea(templates.sealing);
    expect(hasAttributes(key, SEALING_KEY_REQUIRED)).toBe(true);
    expect(key.objectAttributes & (ObjectAttr.decrypt | ObjectAttr.restricted)).toBe(0);
    expect(key.rsa).toMatchObject({ keyBits: 2048, scheme: { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 }, symmetric: { algorithm: TPM_ALG.NULL } });
    expect(key.authPolicy.length).toBe(0);
  });

  it('the SRK template is a restricted decrypt storage key without sign', () => {
    const srk = parsePublicArea(templates.srk);
    expect(hasAttributes(srk, ObjectAttr.restricted | ObjectAttr.decrypt | ObjectAttr.fixedTPM | ObjectAttr.fixedParent)).toBe(true);
    expect(srk.objectAttributes & ObjectAttr.sign).toBe(0);
  });

  it('publicKeyPem, encoded directly, is the PEM node:crypto (OpenSSL) writes for the same RSA key', () => {
    const template = parsePublicArea(sealingKeyTemplate());
    for (const publicExponent of [65537, 3, 0x10001 + 2]) {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent });
      const jwk = publicKey.export({ format: 'jwk' });
      const area = parsePublicArea(rsaPublicArea({
        ...template, symmetric: template.rsa!.symmetric, scheme: template.rsa!.scheme, keyBits: 2048,
        exponent: publicExponent === 65537 ? 0 : publicExponent, unique: new Uint8Array(Buffer.from(jwk.n!, 'base64url')),
      }));
      expect(publicKeyPem(area)).toBe(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    }
  });

  it('publicKeySpki, encoded directly, is the SPKI OpenSSL encodes: every DER length form, leading zeros, any exponent', () => {
    const template = parsePublicArea(sealingKeyTemplate());
    const modulus = (bytes: number, first: number): Uint8Array => {
      const n = new Uint8Array(bytes).fill(0x5a);
      n[0] = first;
      n[bytes - 1] = 0x5b; // odd
      return n;
    };
    // modulus sizes put the BIT STRING and SEQUENCE lengths in the short, 0x81 and 0x82 forms
    const moduli = [modulus(32, 0xc1), modulus(100, 0x41), modulus(128, 0x80), modulus(256, 0xff), modulus(256, 0x01), modulus(384, 0x93), modulus(512, 0x7f)];
    const withZeros = new Uint8Array(256);
    withZeros.set(modulus(254, 0x81), 2); // leading zero bytes are not part of the INTEGER
    for (const unique of [...moduli, withZeros]) {
      for (const exponent of [0, 3, 0x10001 + 2, 0x7fffffff, 0x80000001, 0xffffffff]) {
        const area = parsePublicArea(rsaPublicArea({
          ...template, symmetric: template.rsa!.symmetric, scheme: template.rsa!.scheme, keyBits: unique.length * 8, exponent, unique,
        }));
        const expected = publicKeyObject(area).export({ type: 'spki', format: 'der' });
        expect(Buffer.from(publicKeySpki(area)).equals(expected), `${unique.length} bytes from 0x${unique[0]!.toString(16)}, e ${exponent}`).toBe(true);
      }
    }
  });

  it('a parsed area owns its bytes: changing the input afterwards changes nothing in it', () => {
    const input = toTpm2bPublic(rsaPublicArea({
      nameAlg: TPM_ALG.SHA256, objectAttributes: 0, authPolicy: new Uint8Array(32).fill(7), symmetric: { algorithm: TPM_ALG.NULL },
      scheme: { scheme: TPM_ALG.NULL }, keyBits: 2048, unique: new Uint8Array(256).fill(9),
    }));
    const parsed = parsePublic(input);
    const before = structuredClone(parsed);
    input.fill(0xee);
    expect(parsed).toEqual(before);
    expect(parsed.rsa!.modulus).toEqual(new Uint8Array(256).fill(9));
    expect(parsed.authPolicy).toEqual(new Uint8Array(32).fill(7));
  });

  it('objectName is nameAlg || SHA-256(TPMT_PUBLIC)', () => {
    const name = objectName(parsePublicArea(templates.sealing));
    expect(name.length).toBe(34);
    expect(Buffer.from(name.subarray(0, 2)).toString('hex')).toBe('000b');
  });
});

describe('malformed public areas are refused with TpmWireError', () => {
  const template = toTpm2bPublic(sealingKeyTemplate());

  it('truncated', () => {
    for (const cut of [0, 1, 2, 10, template.length - 1]) {
      expect(() => parsePublic(template.subarray(0, cut)), `cut at ${cut}`).toThrow(TpmWireError);
    }
  });

  it('trailing bytes, inside or after the TPM2B', () => {
    const after = new Uint8Array([...template, 0]);
    expect(() => parsePublic(after)).toThrow(/trailing/);
    const inside = toTpm2bPublic(new Uint8Array([...sealingKeyTemplate(), 0]));
    expect(() => parsePublic(inside)).toThrow(/trailing/);
  });

  it('oversized, unsupported type or nameAlg, non-Uint8Array', () => {
    expect(() => parsePublic(new Uint8Array(5000))).toThrow(/at most/);
    const badType = sealingKeyTemplate().slice();
    badType[1] = 0x99;
    expect(() => parsePublicArea(badType)).toThrow(/unsupported object type/);
    const badName = sealingKeyTemplate().slice();
    badName[3] = 0x99;
    expect(() => parsePublicArea(badName)).toThrow(/nameAlg/);
    expect(() => parsePublic('00' as unknown as Uint8Array)).toThrow(TpmWireError);
  });

  it('a modulus larger than RSA-4096 is refused', () => {
    const huge = rsaPublicArea({ nameAlg: TPM_ALG.SHA256, objectAttributes: 0, symmetric: { algorithm: TPM_ALG.NULL }, scheme: { scheme: TPM_ALG.NULL }, keyBits: 8192, unique: new Uint8Array(600) });
    expect(() => parsePublicArea(huge)).toThrow(/unique.rsa/);
  });
});

describe('the EK of a manufactured swtpm, cross-checked with tpm2_readpublic', () => {
  let fx: SwtpmFixture;
  let ek: TpmPublic;
  let toolName: string;
  let toolPem: string;

  beforeAll(async () => {
    fx = await startFixture();
    const out = await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81010001', '-o', 'ek.pub', '-n', 'ek.name'], { cwd: fx.dir });
    await tpm2('tpm2_readpublic', ['-T', fx.swtpm.tcti, '-c', '0x81010001', '-f', 'pem', '-o', 'ek.pem'], { cwd: fx.dir });
    ek = parsePublic(new Uint8Array(await readFile(join(fx.dir, 'ek.pub'))));
    toolName = Buffer.from(await readFile(join(fx.dir, 'ek.name'))).toString('hex');
    expect(out).toContain(`name: ${toolName}`);
    toolPem = await readFile(join(fx.dir, 'ek.pem'), 'utf8');
  });

  afterAll(async () => {
    await fx?.destroy();
  });

  it('name matches', () => {
    expect(Buffer.from(objectName(ek)).toString('hex')).toBe(toolName);
  });

  it('PEM matches', () => {
    expect(publicKeyPem(ek).trim()).toBe(toolPem.trim());
  });

  it('round trips', () => {
    expect(Buffer.from(reserialize(ek)).equals(Buffer.from(ek.bytes))).toBe(true);
  });

  it('is the TCG EK template with the TPM-generated modulus filled in', () => {
    const withoutUnique = ek.bytes.subarray(0, ek.bytes.length - 256);
    const template = ekRsaTemplate();
    expect(Buffer.from(withoutUnique).equals(Buffer.from(template.subarray(0, template.length - 256)))).toBe(true);
  });
});
