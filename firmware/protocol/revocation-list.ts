// Signed, versioned revocation list served to clerks and devices. The version only grows
// (one step per revoked node); a verifier keeps the highest version it has seen and refuses
// an older list (rollback by a man in the middle or a stale cache).
// The root node signs them (provisioning/registration); this module is the format and the verifier.
import { verifyUnderAny } from './root-keys.ts';
import { ProtocolError } from './errors.ts';
import { fromHex } from '../core/bytes.ts';
import { array, hexText, integer, JsonError, literal, object, string } from '../core/json.ts';
import { messageSchema, type ProtocolSchema } from './message-schema.ts';

export const REVOCATION_FORMAT = 'btn-revocations/v1';
const DOMAIN = 'btn-revocations/v1\n';

export interface RevokedNode {
  readonly nodeId: string;
  readonly ekName: string;
  /** ISO-8601 UTC */
  readonly revokedAt: string;
  readonly reason: string;
}

export interface RevocationList {
  readonly format: typeof REVOCATION_FORMAT;
  readonly version: number;
  readonly issuedAt: string;
  readonly entries: readonly RevokedNode[];
  readonly signature: string;
}

/** The bytes the root signs: a domain line, the version, the issue time and the entries in order. */
export function revocationSignedBytes(version: number, issuedAt: string, entries: readonly RevokedNode[]): Uint8Array {
  const canonical = JSON.stringify([REVOCATION_FORMAT, version, issuedAt, entries.map((e) => [e.nodeId, e.ekName, e.revokedAt, e.reason])]);
  return new Uint8Array(Buffer.from(DOMAIN + canonical, 'utf8'));
}

const bad = (message: string): ProtocolError => new ProtocolError('ERR_PROTOCOL_CERTIFICATE_INVALID', message);

/** Largest list accepted (pushed on the broker or fetched); it grows with every revoked node. */
export const MAX_REVOCATION_LIST_BYTES = 4 * 1024 * 1024;

// Signed text is read as it stands (no case folding): the signature covers these exact strings.
const entry = object({
  nodeId: string({ min: 1, max: 128 }),
  ekName: string({ min: 1, max: 128 }),
  revokedAt: string({ max: 64 }),
  reason: string({ max: 1024 }),
});
/** The signed list's fields, exact (the registrar's route table documents its answer from them). */
export const revocationListShape = object({
  format: literal(REVOCATION_FORMAT),
  version: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  issuedAt: string({ min: 1, max: 64 }),
  entries: array(entry, { max: 100_000 }),
  signature: hexText({ bytes: 64, lowercase: true }),
});

/** The list's shape (not its signature: verifyRevocationList checks that with the root key). */
export const revocationListMessage: ProtocolSchema<RevocationList> = messageSchema('revocations', MAX_REVOCATION_LIST_BYTES, revocationListShape);

/**
 * Verify a revocation list against the root public key. `minVersion` is the highest version the
 * caller has accepted before; an older list is refused. Returns the list and a set of node ids.
 */
export function verifyRevocationList(input: unknown, rootPublicKey: Uint8Array | readonly Uint8Array[], minVersion = 0): RevocationList & { readonly revoked: ReadonlySet<string> } {
  let list: RevocationList;
  try {
    list = revocationListShape.read(input, 'revocation list');
  } catch (err) {
    throw err instanceof JsonError ? bad(err.message) : err;
  }
  const { version, issuedAt, entries, signature } = list;
  // During a root key rotation's overlap either key signs (root-keys.ts).
  if (verifyUnderAny(rootPublicKey instanceof Uint8Array ? [rootPublicKey] : rootPublicKey, revocationSignedBytes(version, issuedAt, entries), fromHex(signature)) === null) {
    throw bad('revocation list signature does not verify with the root key');
  }
  if (version < minVersion) throw bad(`revocation list version ${version} is older than version ${minVersion} seen before`);
  return { ...list, revoked: new Set(entries.map((e) => e.nodeId)) };
}
