// Who a key is, and which keys may be one. A node's id and a clerk's fingerprint are both the
// SHA-256 of the key's SubjectPublicKeyInfo (DER), in lowercase hex: the root assigns a node its
// id this way, so anyone can recompute it from a registration certificate, and the MQTT client
// id is derived from it. Which TPM objects may be a sealing key or an EK is the binding's to say
// (tpm/key-rules.ts).
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ProtocolError } from './errors.ts';

/** SHA-256 of the SPKI DER, hex: a node's id (its sealing key) or a clerk's name (its RSA key). */
export function keyFingerprint(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
}

/** A node's id from its sealing key's SPKI DER. */
export const nodeIdFromSpki: (spki: Uint8Array) => string = keyFingerprint;

/** A node's id from its sealing key (SPKI DER, a KeyObject or PEM text). */
export function nodeIdOf(key: Uint8Array | KeyObject | string): string {
  return keyFingerprint(key instanceof Uint8Array ? key : spkiOf(key));
}

/** The MQTT client id of a node: `btn-` and 16 hex digits of its sealing key's fingerprint (stable per key). */
export function mqttClientIdFromSpki(spki: Uint8Array): string {
  return 'btn-' + keyFingerprint(spki).slice(0, 16);
}

/** The name a node without a root-assigned id goes by (runs without a root): `n-` and 24 hex digits. */
export function provisionalNodeId(spki: Uint8Array): string {
  return 'n-' + keyFingerprint(spki).slice(0, 24);
}

/** The SPKI DER of a public (or private) key given as a KeyObject or PEM text. */
export function spkiOf(key: KeyObject | string): Uint8Array {
  let object: KeyObject;
  try {
    object = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
  } catch (cause) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `not a public key: ${(cause as Error).message}`, 'publicKey');
  }
  return new Uint8Array(object.export({ type: 'spki', format: 'der' }));
}

/** PEM text ("-----BEGIN PUBLIC KEY-----") of SPKI DER bytes. */
export function pemOfSpki(spki: Uint8Array): string {
  let object: KeyObject;
  try {
    object = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `not a public key: ${(cause as Error).message}`, 'publicKey');
  }
  return object.export({ type: 'spki', format: 'pem' }).toString();
}
