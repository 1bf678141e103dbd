// Signed, versioned revocation list served to clerks and devices. The format and the verifier
// live in firmware/protocol/revocation-list.ts; the registrar signs lists here.
import { revocationSignedBytes, REVOCATION_FORMAT, type RevocationList, type RevokedNode } from '../../firmware/protocol/revocation-list.ts';
import { ed25519Sign, type Ed25519Key } from '../keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';

export { verifyRevocationList, REVOCATION_FORMAT, type RevocationList, type RevokedNode } from '../../firmware/protocol/revocation-list.ts';

export function signRevocationList(root: Ed25519Key, version: number, issuedAt: string, entries: readonly RevokedNode[]): RevocationList {
  const clean = entries.map((e) => ({ nodeId: e.nodeId, ekName: e.ekName, revokedAt: e.revokedAt, reason: e.reason }));
  return { format: REVOCATION_FORMAT, version, issuedAt, entries: clean, signature: toHex(ed25519Sign(root, revocationSignedBytes(version, issuedAt, clean))) };
}
