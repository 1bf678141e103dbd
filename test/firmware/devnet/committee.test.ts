import { describe, expect, it } from 'vitest';
import { Committee, defaultQuorum, type SealedCandidate } from '../../../firmware/devnet/committee.ts';
import { DevnetError } from '../../../firmware/devnet/errors.ts';

function candidate(tag: number, round: number, zeros: number, ticketByte = 0x80, height = 1): SealedCandidate {
  const ticket = new Uint8Array(32).fill(ticketByte);
  return { height, hash: new Uint8Array(32).fill(tag), clerk: `clerk${tag}`, best: { round, zeros, ticket } };
}

describe('Committee', () => {
  it('defaults the quorum to floor(2n/3) + 1', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(defaultQuorum)).toEqual([1, 2, 3, 3, 4, 5, 5]);
    expect(new Committee({ members: ['a', 'b', 'c', 'd'] }).quorum).toBe(3);
  });

  it('refuses bad options', () => {
    expect(() => new Committee({ members: [] })).toThrow(DevnetError);
    expect(() => new Committee({ members: ['a', 'a'] })).toThrow(/unique/);
    expect(() => new Committee({ members: ['a', 'b'], quorum: 3 })).toThrow(/quorum/);
    expect(() => new Committee({ members: ['a'], quorum: 0.5 })).toThrow(/quorum/);
    expect(() => new Committee({ members: ['a'] }).observe('z', candidate(1, 0, 4))).toThrow(/not a committee member/);
  });

  it('finalizes the block that reaches the quorum, not before', () => {
    const c = new Committee({ members: ['a', 'b', 'c', 'd'] });
    const x = candidate(1, 0, 4);
    c.observe('a', x);
    c.observe('b', x);
    expect(c.decide(1)).toEqual({ final: false, votes: 2, needed: 3 });
    c.observe('c', x);
    const d = c.decide(1);
    expect(d.final).toBe(true);
    if (d.final) {
      expect(d.votes).toBe(3);
      expect(d.voters).toEqual(['a', 'b', 'c']);
      expect(d.candidate.hash).toEqual(x.hash);
    }
    expect(c.decide(2)).toEqual({ final: false, votes: 0, needed: 3 });
  });

  it('each member votes for the best priority it has seen: lower round, then more zeros, then lower ticket', () => {
    const c = new Committee({ members: ['a'] });
    const late = candidate(1, 2, 9);
    const early = candidate(2, 1, 3);
    const earlyMoreZeros = candidate(3, 1, 5);
    const earlyLowerTicket = candidate(4, 1, 5, 0x10);
    expect(c.observe('a', late)).toBe(true);
    expect(c.observe('a', early)).toBe(true);
    expect(c.observe('a', late)).toBe(false); // a worse block never takes the vote back
    expect(c.observe('a', earlyMoreZeros)).toBe(true);
    expect(c.observe('a', earlyLowerTicket)).toBe(true);
    expect(c.observe('a', candidate(5, 1, 5, 0x10))).toBe(false); // a tie keeps the first
    expect(c.voteOf('a', 1)?.clerk).toBe('clerk4');
  });

  it('split views: no block final until enough members see the better one', () => {
    const c = new Committee({ members: ['a', 'b', 'c'] });
    const worse = candidate(1, 1, 3);
    const better = candidate(2, 0, 3);
    c.observe('a', worse);
    c.observe('b', worse);
    c.observe('c', better);
    expect(c.decide(1).final).toBe(false); // quorum 3 of 3
    c.observe('a', better);
    c.observe('b', better);
    const d = c.decide(1);
    expect(d.final && d.candidate.clerk).toBe('clerk2');
  });

  it('prune forgets decided heights', () => {
    const c = new Committee({ members: ['a'] });
    c.observe('a', candidate(1, 0, 3, 0x80, 1));
    c.observe('a', candidate(1, 0, 3, 0x80, 2));
    c.prune(1);
    expect(c.voteOf('a', 1)).toBeUndefined();
    expect(c.voteOf('a', 2)).toBeDefined();
  });
});
