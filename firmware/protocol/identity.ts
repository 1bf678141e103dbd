// Who a key is: a node's id and a clerk's fingerprint are both the SHA-256 of the key's
// SubjectPublicKeyInfo (DER), in lowercase hex. The root assigns a node its id this way, so
// anyone can recompute it from a registration certificate; the MQTT client id is derived from it.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ProtocolError } from './errors.ts';

/** SHA-256 of the SPKI DER, hex: a node's id (its sealing key) or a clerk's name (its RSA key). */
export function keyFingerprint(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
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

/** A node's id from its sealing key (SPKI DER, a KeyObject or PEM text). */
export function nodeIdOf(key: Uint8Array | KeyObject | string): string {
  return keyFingerprint(key instanceof Uint8Array ? key : spkiOf(key));
}
