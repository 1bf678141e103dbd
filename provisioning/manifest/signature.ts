// Batch manifest signatures (README "Batch manifest"): Ed25519 by the manufacturer over
// "btn-batch/v1\n" || UTF-8(manufacturer) || "\n" || SHA-256(exact manifest bytes).
import { createHash } from 'node:crypto';
import { ProvisioningError, invalid } from '../errors.ts';
import { ed25519PublicKeyObject, ed25519Sign, ed25519Verify, type Ed25519Key } from '../keys.ts';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import { hexText, integer, JsonError, literal, object, parseJson, readWith, string } from '../../firmware/core/json.ts';

export const SIGNATURE_FORMAT = 'btn-batch-signature/v1';
const DOMAIN = 'btn-batch/v1\n';
export const MANUFACTURER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface BatchSignature {
  readonly format: typeof SIGNATURE_FORMAT;
  readonly manufacturer: string;
  /** hex SHA-256 of the manifest bytes */
  readonly sha256: string;
  readonly lines: number;
  /** hex Ed25519 signature */
  readonly signature: string;
}

export function checkManufacturerName(name: unknown, field = 'manufacturer'): string {
  if (typeof name !== 'string' || !MANUFACTURER_NAME.test(name)) {
    throw invalid(`${field} must be 1-64 characters of A-Z a-z 0-9 . _ -`, field);
  }
  return name;
}

/** The exact bytes the manufacturer signs. */
export function batchSignedMessage(manufacturer: string, manifestSha256: Uint8Array): Uint8Array {
  checkManufacturerName(manufacturer);
  if (manifestSha256.length !== 32) throw invalid('manifest digest must be 32 bytes', 'sha256');
  return new Uint8Array(Buffer.concat([Buffer.from(DOMAIN + manufacturer + '\n', 'utf8'), manifestSha256]));
}

/** Batch id: the first 16 bytes of SHA-256(signed message), hex. Same manufacturer + same bytes = same id. */
export function batchId(manufacturer: string, manifestSha256: Uint8Array): string {
  return createHash('sha256').update(batchSignedMessage(manufacturer, manifestSha256)).digest('hex').slice(0, 32);
}

export function countLines(manifest: Uint8Array): number {
  let n = 0;
  for (let i = manifest.indexOf(10); i !== -1; i = manifest.indexOf(10, i + 1)) n++;
  return n;
}

export function signManifest(manifest: Uint8Array, key: Ed25519Key, manufacturer: string): BatchSignature {
  const digest = new Uint8Array(createHash('sha256').update(manifest).digest());
  return {
    format: SIGNATURE_FORMAT,
    manufacturer,
    sha256: toHex(digest),
    lines: countLines(manifest),
    signature: toHex(ed25519Sign(key, batchSignedMessage(manufacturer, digest))),
  };
}

/** true when `signature` is the manufacturer's signature over a manifest with this digest. */
export function verifyBatchSignature(publicKey: Uint8Array, manufacturer: string, manifestSha256: Uint8Array, signature: Uint8Array): boolean {
  return ed25519Verify(ed25519PublicKeyObject(publicKey), batchSignedMessage(manufacturer, manifestSha256), signature);
}

/** Full check of a manifest and its signature file against a manufacturer key. */
export function verifyManifest(manifest: Uint8Array, sig: BatchSignature, publicKey: Uint8Array): { ok: true } | { ok: false; reason: string } {
  const digest = new Uint8Array(createHash('sha256').update(manifest).digest());
  if (toHex(digest) !== sig.sha256) return { ok: false, reason: 'manifest bytes do not match the digest in the signature file (changed after signing?)' };
  if (!verifyBatchSignature(publicKey, sig.manufacturer, digest, parseSignatureHex(sig.signature))) {
    return { ok: false, reason: `signature does not verify with this public key for manufacturer "${sig.manufacturer}"` };
  }
  return { ok: true };
}

export function parseSignatureHex(text: unknown, field = 'signature'): Uint8Array {
  if (typeof text !== 'string' || !/^[0-9a-fA-F]{128}$/.test(text)) throw invalid(`${field} must be 128 hex digits (an Ed25519 signature)`, field);
  return fromHex(text);
}

const MAX_SIGNATURE_FILE_BYTES = 4096;
const signatureFile = object({
  format: literal(SIGNATURE_FORMAT),
  manufacturer: string({ min: 1, max: 64, pattern: MANUFACTURER_NAME, what: '1-64 characters of A-Z a-z 0-9 . _ -' }),
  sha256: hexText({ bytes: 32, lowercase: true }),
  lines: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  signature: hexText({ bytes: 64 }),
});

/** A batch signature file (as signManifest writes it), size-capped; ERR_PROV_INVALID_ARGUMENT naming the field. */
export function parseSignatureFile(text: string): BatchSignature {
  let doc: unknown;
  try {
    doc = parseJson(text, MAX_SIGNATURE_FILE_BYTES, 'signature file');
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', err instanceof JsonError && err.code === 'ERR_JSON_OVERSIZE' ? err.message : 'signature file is not JSON');
  }
  return readWith(signatureFile, doc, 'signature file', (err) => invalid(err.message, err.path.replace(/^signature file\.?/, '') || undefined));
}
