// Who a key is, and which keys may be one. A node's id and a clerk's fingerprint are both the
// SHA-256 of the key's SubjectPublicKeyInfo (DER), in lowercase hex: the root assigns a node its
// id this way, so anyone can recompute it from a registration certificate, and the MQTT client
// id is derived from it. The key rules (docs/keys.md) are what the registrar checks when it files
// or activates a TPM and what the factory checks before it writes a manifest line.
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

// ---- key rules ----
// The protocol layer does not import the TPM binding, so the few spec numbers the rules need
// are named here; test/firmware/protocol/identity.test.ts pins them to tpm/constants.ts and
// checks that the binding's sealing-key template passes the rule.

/** TPMA_OBJECT bits (TPM2 Part 2 §8.3.2). */
export const KEY_ATTR = {
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** TPM_ALG_ID values the rules name (TCG Algorithm Registry). */
const ALG = { RSA: 0x0001, SHA256: 0x000b, RSASSA: 0x0014 } as const;

/** What a sealing key must carry (docs/keys.md); the binding's template adds noDA. */
export const SEALING_KEY_REQUIRED =
  KEY_ATTR.fixedTPM | KEY_ATTR.fixedParent | KEY_ATTR.sensitiveDataOrigin | KEY_ATTR.userWithAuth | KEY_ATTR.sign;

/** What an endorsement key must carry (TCG EK Credential Profile): a restricted decryption key born in the TPM. */
export const EK_REQUIRED =
  KEY_ATTR.fixedTPM | KEY_ATTR.fixedParent | KEY_ATTR.sensitiveDataOrigin | KEY_ATTR.restricted | KEY_ATTR.decrypt;

/** The facts of a TPM public area the rules read; the binding's TpmPublic has them. */
export interface KeyPublicFacts {
  readonly type: number;
  readonly objectAttributes: number;
  readonly rsa?: { readonly keyBits: number; readonly scheme: { readonly scheme: number; readonly hashAlg?: number } };
  readonly ecc?: object;
}

/** Why a public area cannot be a sealing key (docs/keys.md), or null. */
export function sealingKeyProblem(pub: KeyPublicFacts): string | null {
  if (pub.type !== ALG.RSA || !pub.rsa) return 'sealing key is not an RSA key';
  if (pub.rsa.keyBits !== 2048) return `sealing key is RSA-${pub.rsa.keyBits}, RSA-2048 required`;
  const missing = Object.entries(KEY_ATTR)
    .filter(([, bit]) => (SEALING_KEY_REQUIRED & bit) !== 0 && (pub.objectAttributes & bit) === 0)
    .map(([name]) => name);
  if (missing.length > 0) return `sealing key lacks ${missing.join(', ')}`;
  if (pub.objectAttributes & KEY_ATTR.restricted) return 'sealing key is restricted (it must sign arbitrary digests)';
  if (pub.objectAttributes & KEY_ATTR.decrypt) return 'sealing key has decrypt set (a signing-only key is required)';
  // Lottery tickets must be unique per key and message: RSASSA-PKCS1-v1_5 only (docs/lottery.md).
  if (pub.rsa.scheme.scheme !== ALG.RSASSA || pub.rsa.scheme.hashAlg !== ALG.SHA256) return 'sealing key scheme is not RSASSA-SHA256';
  return null;
}

/** Why a public area cannot be an endorsement key (TCG EK Credential Profile), or null. */
export function ekProblem(pub: KeyPublicFacts): string | null {
  if (!pub.rsa && !pub.ecc) return 'EK is neither RSA nor ECC';
  if ((pub.objectAttributes & EK_REQUIRED) !== EK_REQUIRED || (pub.objectAttributes & KEY_ATTR.sign) !== 0) {
    return 'EK must be a restricted decryption key with fixedTPM, fixedParent and sensitiveDataOrigin';
  }
  return null;
}
