// Which competing seals may stop this node's spinning (DESIGN.md §2: a node stops when it sees
// a better seal for the block). A provisioned node knows the root's public key, so it counts a
// seal only when it carries a root-signed registration for the sending node and its signature
// verifies under that registration's sealing key: a forged seal cannot make it give up early.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { lotteryMessage } from '../protocol/chain/lottery.ts';
import { rsaVerify } from '../protocol/chain/primaries.ts';
import { verifyRegistrationCertificate } from '../protocol/registration.ts';
import type { SealMessage } from '../protocol/seal-message.ts';

const MAX_CACHED_KEYS = 1024;

export function registeredSealCheck(rootPublicKey: Uint8Array, now: () => number = Date.now): (seal: SealMessage) => boolean {
  // nodeId -> key from a registration that verified; certificates are re-checked on expiry.
  const keys = new Map<string, { key: KeyObject; expiresAt: number }>();
  return (seal) => {
    let entry = keys.get(seal.nodeId);
    if (entry === undefined || now() > entry.expiresAt) {
      if (seal.registration === null) return false;
      try {
        const cert = verifyRegistrationCertificate(seal.registration, rootPublicKey, now());
        if (cert.nodeId !== seal.nodeId) return false;
        entry = { key: createPublicKey(cert.sealingPublicKey), expiresAt: Date.parse(cert.expiresAt) };
      } catch {
        return false;
      }
      if (keys.size >= MAX_CACHED_KEYS) keys.delete(keys.keys().next().value as string);
      keys.set(seal.nodeId, entry);
    }
    return rsaVerify(entry.key, lotteryMessage(seal.blockHash, seal.round), seal.signature);
  };
}
