// Signed, versioned revocation list served to clerks and devices. The version only grows
// (one step per revoked node); a verifier keeps the highest version it has seen and refuses
// an older list (rollback by a man in the middle or a stale cache).
// The root node signs them (provisioning/registration); this module is the format and the verifier.
import { ed25519Verify } from './chain/transaction.ts';
import { ProtocolError } from './errors.ts';
import { fromHex } from '../core/bytes.ts';

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

/**
 * Verify a revocation list against the root public key. `minVersion` is the highest version the
 * caller has accepted before; an older list is refused. Returns the list and a set of node ids.
 */
export function verifyRevocationList(input: unknown, rootPublicKey: Uint8Array, minVersion = 0): RevocationList & { readonly revoked: ReadonlySet<string> } {
  const d = input as Record<string, unknown>;
  if (d === null || typeof d !== 'object' || d['format'] !== REVOCATION_FORMAT) throw bad(`revocation list format must be "${REVOCATION_FORMAT}"`);
  const version = d['version'];
  if (!Number.isSafeInteger(version) || (version as number) < 0) throw bad('revocation list version must be a non-negative integer');
  if (typeof d['issuedAt'] !== 'string' || typeof d['signature'] !== 'string' || !Array.isArray(d['entries'])) throw bad('revocation list is malformed');
  const entries: RevokedNode[] = [];
  for (const e of d['entries'] as unknown[]) {
    const x = e as Record<string, unknown>;
    if (x === null || typeof x !== 'object' || ['nodeId', 'ekName', 'revokedAt', 'reason'].some((k) => typeof x[k] !== 'string')) {
      throw bad('revocation list entry is malformed');
    }
    entries.push({ nodeId: String(x['nodeId']), ekName: String(x['ekName']), revokedAt: String(x['revokedAt']), reason: String(x['reason']) });
  }
  const sigHex = String(d['signature']);
  const sig = /^[0-9a-f]{128}$/.test(sigHex) ? fromHex(sigHex) : null;
  if (sig === null || !ed25519Verify(rootPublicKey, revocationSignedBytes(version as number, d['issuedAt'], entries), sig)) {
    throw bad('revocation list signature does not verify with the root key');
  }
  if ((version as number) < minVersion) throw bad(`revocation list version ${String(version)} is older than version ${minVersion} seen before`);
  return {
    format: REVOCATION_FORMAT, version: version as number, issuedAt: d['issuedAt'], entries, signature: sigHex,
    revoked: new Set(entries.map((e) => e.nodeId)),
  };
}
