// Registration certificates (docs/activation.md): a JSON object signed with the root's Ed25519 key.
// The signature covers a canonical encoding (a JSON array of the fields in a fixed order), so
// key order or whitespace in transport never matters. Clerks and devices verify with the root
// public key alone.
// The root node issues them (provisioning/registration); this module is the format and the
// verifier, shared by the registrar, devices and clerks.
import { verifyUnderAny } from './root-keys.ts';
import { ProtocolError } from './errors.ts';
import { fromHex } from '../core/bytes.ts';
import { hexText, JsonError, literal, object, parseJson, string } from '../core/json.ts';
import { nodeIdFromSpki, spkiOf } from './identity.ts';

export const REGISTRATION_FORMAT = 'btn-registration/v1';
const DOMAIN = 'btn-registration/v1\n';
const MAX_CERT_JSON = 8 * 1024;

export interface RegistrationFields {
  readonly nodeId: string;
  /** Sealing key SPKI, PEM. */
  readonly sealingPublicKey: string;
  /** hex SHA-256 of the EK's TPMT_PUBLIC */
  readonly ekName: string;
  readonly board: string;
  readonly serial: string;
  /** ISO-8601 UTC */
  readonly issuedAt: string;
  readonly expiresAt: string;
}

export interface RegistrationCertificate extends RegistrationFields {
  readonly format: typeof REGISTRATION_FORMAT;
  /** hex Ed25519 signature by the root key */
  readonly signature: string;
}

/** The bytes the root signs: a domain line and the fields in a fixed order. */
export function registrationSignedBytes(c: RegistrationFields): Uint8Array {
  const canonical = JSON.stringify([REGISTRATION_FORMAT, c.nodeId, c.sealingPublicKey, c.ekName, c.board, c.serial, c.issuedAt, c.expiresAt]);
  return new Uint8Array(Buffer.from(DOMAIN + canonical, 'utf8'));
}

/** Only the signed fields, in order (drops anything else an input object carries). */
export function registrationFields(f: RegistrationFields): RegistrationFields {
  return {
    nodeId: f.nodeId, sealingPublicKey: f.sealingPublicKey, ekName: f.ekName, board: f.board, serial: f.serial,
    issuedAt: f.issuedAt, expiresAt: f.expiresAt,
  };
}

const bad = (message: string): ProtocolError => new ProtocolError('ERR_PROTOCOL_CERTIFICATE_INVALID', message);

// Signed text is read as it stands (no case folding): the signature covers these exact strings.
const field = string({ min: 1, max: 4096 });
/** The certificate's fields, exact (the registrar's OpenAPI document is checked against them). */
export const registrationCertificateShape = object({
  format: literal(REGISTRATION_FORMAT),
  nodeId: field,
  sealingPublicKey: field,
  ekName: field,
  board: field,
  serial: field,
  issuedAt: field,
  expiresAt: field,
  signature: hexText({ bytes: 64, lowercase: true }),
});

/** The certificate's shape, from an object or JSON text (not its signature). */
function readCertificate(input: unknown): RegistrationCertificate {
  try {
    const doc = typeof input === 'string' ? parseJson(input, MAX_CERT_JSON, 'registration certificate') : input;
    return registrationCertificateShape.read(doc, 'registration certificate');
  } catch (err) {
    throw err instanceof JsonError ? bad(err.message) : err;
  }
}

/**
 * Verify a registration certificate (object or JSON text) against the root public key (32 bytes),
 * or any of the root keys given (during a rotation's overlap, either key). Checks the shape, the
 * signature, that nodeId is SHA-256 of the sealing key's SPKI DER, and, when `now` is given, the
 * validity period. Returns the certificate; throws ERR_PROTOCOL_CERTIFICATE_INVALID.
 */
export function verifyRegistrationCertificate(input: unknown, rootPublicKey: Uint8Array | readonly Uint8Array[], now?: number): RegistrationCertificate {
  return verifyRegistration(input, rootPublicKey instanceof Uint8Array ? [rootPublicKey] : rootPublicKey, now).cert;
}

/** verifyRegistrationCertificate, also naming the root key that signed it. */
export function verifyRegistration(input: unknown, rootKeys: readonly Uint8Array[], now?: number): { cert: RegistrationCertificate; signer: Uint8Array } {
  const cert = readCertificate(input);
  const signer = verifyUnderAny(rootKeys, registrationSignedBytes(cert), fromHex(cert.signature));
  if (signer === null) throw bad('registration certificate signature does not verify with the root key');
  let spki: Uint8Array;
  try {
    spki = spkiOf(cert.sealingPublicKey);
  } catch {
    throw bad('registration certificate sealingPublicKey is not a PEM public key');
  }
  if (nodeIdFromSpki(spki) !== cert.nodeId) throw bad('registration certificate nodeId does not match its sealing key');
  if (now !== undefined) {
    const from = Date.parse(cert.issuedAt);
    const to = Date.parse(cert.expiresAt);
    if (!Number.isFinite(from) || !Number.isFinite(to)) throw bad('registration certificate dates are not ISO-8601');
    if (now < from - 5 * 60_000 || now > to) throw bad(`registration certificate is not valid now (${cert.issuedAt} .. ${cert.expiresAt})`);
  }
  return { cert, signer };
}
