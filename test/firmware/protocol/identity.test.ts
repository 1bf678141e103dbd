import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ekProblem, EK_REQUIRED, KEY_ATTR, keyFingerprint, mqttClientIdFromSpki, nodeIdFromSpki, nodeIdOf, pemOfSpki, provisionalNodeId,
  SEALING_KEY_REQUIRED, sealingKeyProblem, spkiOf,
} from '../../../firmware/protocol/identity.ts';
import { ProtocolError } from '../../../firmware/protocol/errors.ts';
import { ObjectAttr } from '../../../tpm/constants.ts';
import { parsePublicArea, publicKeySpki, rsaPublicArea, type TpmPublic } from '../../../tpm/public-area.ts';
import { EK_RSA_ATTRIBUTES, ekRsaTemplate, SEALING_KEY_ATTRIBUTES, SEALING_KEY_REQUIRED as BINDING_SEALING_REQUIRED, sealingKeyTemplate } from '../../../tpm/templates.ts';

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const der = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
const expectedId = createHash('sha256').update(der).digest('hex');

describe('identity: ids from a key', () => {
  it('the node id is SHA-256 of the SPKI DER in lower-case hex, whatever form the key comes in', () => {
    expect(nodeIdFromSpki(der)).toBe(expectedId);
    expect(keyFingerprint(der)).toBe(expectedId);
    expect(nodeIdOf(der)).toBe(expectedId);
    expect(nodeIdOf(pem)).toBe(expectedId);
    expect(nodeIdOf(publicKey)).toBe(expectedId);
    expect(nodeIdOf(privateKey)).toBe(expectedId);
  });

  it('the MQTT client id and the provisional name are prefixes of the same fingerprint (values as before)', () => {
    expect(mqttClientIdFromSpki(der)).toBe(`btn-${expectedId.slice(0, 16)}`);
    expect(provisionalNodeId(der)).toBe(`n-${expectedId.slice(0, 24)}`);
  });

  it('PEM and SPKI DER convert both ways', () => {
    expect(spkiOf(pem)).toEqual(der);
    expect(spkiOf(privateKey)).toEqual(der);
    expect(pemOfSpki(der)).toBe(pem);
  });

  it('refuses text that is not a key with a labelled ProtocolError', () => {
    expect(() => spkiOf('not a key')).toThrow(ProtocolError);
    expect(() => pemOfSpki(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))).toThrow(ProtocolError);
  });

  it('a TPM sealing key has the same id from its public area as from its PEM (the device and the registrar agree)', () => {
    const area = parsePublicArea(rsaPublicArea({
      nameAlg: 0x000b, objectAttributes: SEALING_KEY_ATTRIBUTES, symmetric: { algorithm: 0x0010 },
      scheme: { scheme: 0x0014, hashAlg: 0x000b }, keyBits: 2048,
      unique: new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).n!, 'base64url')),
    }));
    expect(nodeIdFromSpki(publicKeySpki(area))).toBe(expectedId);
  });
});

describe('identity: key rules', () => {
  const sealing = (): TpmPublic => parsePublicArea(sealingKeyTemplate());
  const ek = (): TpmPublic => parsePublicArea(ekRsaTemplate());
  const withAttrs = (pub: TpmPublic, objectAttributes: number): TpmPublic => ({ ...pub, objectAttributes });

  it('the rule names the binding\'s attribute bits', () => {
    for (const [name, bit] of Object.entries(KEY_ATTR)) expect(bit).toBe(ObjectAttr[name as keyof typeof ObjectAttr]);
    expect(SEALING_KEY_REQUIRED).toBe(BINDING_SEALING_REQUIRED);
    expect(EK_RSA_ATTRIBUTES & EK_REQUIRED).toBe(EK_REQUIRED);
  });

  it('the binding\'s sealing-key and EK templates pass the rules', () => {
    expect(sealingKeyProblem(sealing())).toBeNull();
    expect(ekProblem(ek())).toBeNull();
  });

  it('refuses sealing keys that lack an attribute, decrypt, are restricted, the wrong size or scheme', () => {
    const s = sealing();
    expect(sealingKeyProblem(withAttrs(s, s.objectAttributes & ~ObjectAttr.fixedTPM))).toBe('sealing key lacks fixedTPM');
    expect(sealingKeyProblem(withAttrs(s, s.objectAttributes & ~(ObjectAttr.userWithAuth | ObjectAttr.sign)))).toBe('sealing key lacks userWithAuth, sign');
    expect(sealingKeyProblem(withAttrs(s, s.objectAttributes | ObjectAttr.decrypt))).toMatch(/decrypt/);
    expect(sealingKeyProblem(withAttrs(s, s.objectAttributes | ObjectAttr.restricted))).toMatch(/restricted/);
    expect(sealingKeyProblem({ ...s, rsa: { ...s.rsa!, keyBits: 3072 } })).toBe('sealing key is RSA-3072, RSA-2048 required');
    expect(sealingKeyProblem({ ...s, rsa: { ...s.rsa!, scheme: { scheme: 0x0016, hashAlg: 0x000b } } })).toBe('sealing key scheme is not RSASSA-SHA256');
    expect(sealingKeyProblem(ek())).not.toBeNull();
  });

  it('refuses EKs that sign or are not restricted decryption keys', () => {
    const e = ek();
    expect(ekProblem(withAttrs(e, e.objectAttributes | ObjectAttr.sign))).toMatch(/restricted decryption key/);
    expect(ekProblem(withAttrs(e, e.objectAttributes & ~ObjectAttr.restricted))).toMatch(/restricted decryption key/);
    expect(ekProblem(sealing())).not.toBeNull();
  });
});
