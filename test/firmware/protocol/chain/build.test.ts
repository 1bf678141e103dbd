import { describe, expect, it } from 'vitest';
import { blockHash, createBlock, drawUntilQualified, ticketOf, validateCandidate } from '../../../../firmware/protocol/chain/index.ts';
import { leadingZeroBits, toHex } from '../../../../firmware/core/bytes.ts';
import { clerkKey, context, NOW, PARENT, TIP_HEIGHT, txs } from './helpers.ts';

describe('builders', () => {
  it('drawUntilQualified finds the first qualifying round, and the block it makes validates at that threshold', async () => {
    const m = 4;
    const draw = drawUntilQualified(clerkKey, PARENT, m, 1000);
    expect(draw).toBeDefined();
    expect(leadingZeroBits(ticketOf(draw!.signature))).toBeGreaterThanOrEqual(m);
    for (let r = 0; r < draw!.round; r++) {
      expect(drawUntilQualified(clerkKey, PARENT, m, 1, r)).toBeUndefined();
    }
    const b = createBlock({ clerkKey, height: TIP_HEIGHT + 1, previousHash: PARENT, timestamp: NOW, drawRound: draw!.round, drawSignature: draw!.signature, transactions: txs(4) });
    const r = await validateCandidate(b, context({ params: { clerkZeros: m } }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(toHex(r.hash)).toBe(toHex(blockHash(b.header)));
  });

  it('drawUntilQualified gives up after maxRounds', () => {
    expect(drawUntilQualified(clerkKey, PARENT, 256, 3)).toBeUndefined();
  });
});
