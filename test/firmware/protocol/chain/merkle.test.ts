import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MERKLE_EMPTY_ROOT, merkleLeaf, merkleNode, merkleRoot } from '../../../../firmware/protocol/chain/index.ts';
import { toHex } from '../../../../firmware/core/bytes.ts';

const h = (...parts: (number[] | Uint8Array)[]): Uint8Array => {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p instanceof Uint8Array ? p : new Uint8Array(p));
  return new Uint8Array(hash.digest());
};
const id = (i: number): Uint8Array => h([i]);

describe('merkleRoot', () => {
  it('empty root is 32 zero bytes', () => {
    expect(toHex(merkleRoot([]))).toBe('00'.repeat(32));
    expect(MERKLE_EMPTY_ROOT.length).toBe(32);
  });

  it('leaf and node carry 0x00 / 0x01 domain prefixes', () => {
    expect(toHex(merkleLeaf(id(1)))).toBe(toHex(h([0], id(1))));
    expect(toHex(merkleNode(id(1), id(2)))).toBe(toHex(h([1], id(1), id(2))));
    expect(toHex(merkleRoot([id(1)]))).toBe(toHex(h([0], id(1))));
  });

  it('promotes an odd node instead of duplicating it', () => {
    const [a, b, c] = [merkleLeaf(id(1)), merkleLeaf(id(2)), merkleLeaf(id(3))];
    expect(toHex(merkleRoot([id(1), id(2), id(3)]))).toBe(toHex(merkleNode(merkleNode(a, b), c)));
    // Bitcoin's duplication would make [1,2,3] and [1,2,3,3] collide (CVE-2012-2459); not here.
    expect(toHex(merkleRoot([id(1), id(2), id(3), id(3)]))).not.toBe(toHex(merkleRoot([id(1), id(2), id(3)])));
  });

  it('five leaves: ((ab)(cd))e', () => {
    const l = [1, 2, 3, 4, 5].map((i) => merkleLeaf(id(i)));
    const expected = merkleNode(merkleNode(merkleNode(l[0]!, l[1]!), merkleNode(l[2]!, l[3]!)), l[4]!);
    expect(toHex(merkleRoot([1, 2, 3, 4, 5].map(id)))).toBe(toHex(expected));
  });

  it('depends on order', () => {
    expect(toHex(merkleRoot([id(1), id(2)]))).not.toBe(toHex(merkleRoot([id(2), id(1)])));
  });

  it('rejects ids that are not 32 bytes', () => {
    expect(() => merkleRoot([new Uint8Array(31)])).toThrow(/32 bytes/);
  });
});
