import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  keyFingerprint, mqttClientIdFromSpki, nodeIdFromSpki, nodeIdOf, pemOfSpki, provisionalNodeId, spkiOf,
} from '../../../firmware/protocol/identity.ts';
import { ProtocolError } from '../../../firmware/protocol/errors.ts';
import { parsePublicArea, publicKeySpki, rsaPublicArea } from '../../../tpm/public-area.ts';
import { SEALING_KEY_ATTRIBUTES } from '../../../tpm/templates.ts';

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
