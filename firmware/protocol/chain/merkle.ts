// Transaction root.
//
//   leaf(id)      = SHA-256(0x00 || id)            id = 32-byte transaction id (transaction.ts)
//   node(l, r)    = SHA-256(0x01 || l || r)
//   level above   = pairs hashed left to right; an odd last node is promoted unchanged
//   empty root    = 32 zero bytes
// The 0x00/0x01 prefixes (RFC 6962 §2.1) keep a leaf from passing for an inner node. Promotion
// instead of duplication avoids Bitcoin's CVE-2012-2459 (two lists, same root).
import { createHash } from 'node:crypto';
import { ChainError } from './errors.ts';

export const MERKLE_EMPTY_ROOT: Uint8Array = new Uint8Array(32);

export function merkleLeaf(id: Uint8Array): Uint8Array {
  if (!(id instanceof Uint8Array) || id.length !== 32) {
    throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', 'merkle leaf id must be 32 bytes', 'id');
  }
  return new Uint8Array(createHash('sha256').update(LEAF).update(id).digest());
}

export function merkleNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(NODE).update(left).update(right).digest());
}

export function merkleRoot(ids: readonly Uint8Array[]): Uint8Array {
  if (ids.length === 0) return MERKLE_EMPTY_ROOT.slice();
  return reduceLevels(ids.map(merkleLeaf));
}

/**
 * The root from the roots of consecutive subtrees of 2^k leaves each (the last may hold fewer),
 * as the verify workers compute them: with promotion, such a subtree's root is exactly the node
 * the whole tree has at level k, so the levels above are the same as merkleRoot's.
 */
export function merkleRootOfSubtrees(roots: readonly Uint8Array[]): Uint8Array {
  if (roots.length === 0) return MERKLE_EMPTY_ROOT.slice();
  return reduceLevels(roots);
}

function reduceLevels(nodes: readonly Uint8Array[]): Uint8Array {
  let level = nodes;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i]!;
      const right = level[i + 1];
      next.push(right === undefined ? left : merkleNode(left, right));
    }
    level = next;
  }
  return level[0]!;
}

const LEAF = new Uint8Array([0x00]);
const NODE = new Uint8Array([0x01]);
