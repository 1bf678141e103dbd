// The devnet committee's voting decision (which block each member votes for) over the manifest's
// Committee, and the members signing their votes with their own keys.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../firmware/core/bytes.ts';
import { keyPairFromSeed, type Ed25519KeyPair } from '../../../firmware/protocol/chain/transaction.ts';
import { Committee, defaultQuorum, verifyQuorum } from '../../../firmware/protocol/quorum.ts';
import { castVotes, CommitteeVoting, type SealedCandidate } from '../../../firmware/devnet/committee.ts';
import { DevnetError } from '../../../firmware/devnet/errors.ts';

function candidate(tag: number, round: number, zeros: number, ticketByte = 0x80, height = 1): SealedCandidate {
  const ticket = new Uint8Array(32).fill(ticketByte);
  return { height, hash: new Uint8Array(32).fill(tag), clerk: `clerk${tag}`, best: { round, zeros, ticket } };
}

const keys = Array.from({ length: 4 }, () => keyPairFromSeed(randomBytes(32)));
const [a, b, c, d] = keys.map((k) => toHex(k.publicKey)) as [string, string, string, string];
const voting = (n: number, quorum = defaultQuorum(n)): CommitteeVoting => new CommitteeVoting(new Committee('devnet', keys.slice(0, n).map((k) => k.publicKey), quorum));

describe('CommitteeVoting', () => {
  it('takes its members and quorum from the Committee', () => {
    const v = voting(4);
    expect(v.quorum).toBe(3);
    expect(v.committee.members).toEqual([a, b, c, d]);
    expect(() => v.observe(toHex(new Uint8Array(32)), candidate(1, 0, 4))).toThrow(DevnetError);
    expect(() => v.observe('z', candidate(1, 0, 4))).toThrow(/not a committee member/);
  });

  it('finalizes the block that reaches the quorum, not before', () => {
    const v = voting(4);
    const x = candidate(1, 0, 4);
    v.observe(a, x);
    v.observe(b, x);
    expect(v.decide(1)).toEqual({ final: false, votes: 2, needed: 3 });
    v.observe(c, x);
    const decision = v.decide(1);
    expect(decision.final).toBe(true);
    if (decision.final) {
      expect(decision.votes).toBe(3);
      expect(decision.voters).toEqual([a, b, c]);
      expect(decision.candidate.hash).toEqual(x.hash);
    }
    expect(v.decide(2)).toEqual({ final: false, votes: 0, needed: 3 });
  });

  it('each member votes for the best priority it has seen: lower round, then more zeros, then lower ticket', () => {
    const v = voting(1);
    const late = candidate(1, 2, 9);
    const early = candidate(2, 1, 3);
    const earlyMoreZeros = candidate(3, 1, 5);
    const earlyLowerTicket = candidate(4, 1, 5, 0x10);
    expect(v.observe(a, late)).toBe(true);
    expect(v.observe(a, early)).toBe(true);
    expect(v.observe(a, late)).toBe(false); // a worse block never takes the vote back
    expect(v.observe(a, earlyMoreZeros)).toBe(true);
    expect(v.observe(a, earlyLowerTicket)).toBe(true);
    expect(v.observe(a, candidate(5, 1, 5, 0x10))).toBe(false); // a tie keeps the first
    expect(v.voteOf(a, 1)?.clerk).toBe('clerk4');
  });

  it('split views: no block final until enough members see the better one', () => {
    const v = voting(3);
    const worse = candidate(1, 1, 3);
    const better = candidate(2, 0, 3);
    v.observe(a, worse);
    v.observe(b, worse);
    v.observe(c, better);
    expect(v.decide(1).final).toBe(false); // quorum 3 of 3
    v.observe(a, better);
    v.observe(b, better);
    const decision = v.decide(1);
    expect(decision.final && decision.candidate.clerk).toBe('clerk2');
  });

  it('prune forgets decided heights', () => {
    const v = voting(1);
    v.observe(a, candidate(1, 0, 3, 0x80, 1));
    v.observe(a, candidate(1, 0, 3, 0x80, 2));
    v.prune(1);
    expect(v.voteOf(a, 1)).toBeUndefined();
    expect(v.voteOf(a, 2)).toBeDefined();
  });
});

describe('castVotes', () => {
  const block = { height: 7, hash: new Uint8Array(32).fill(7), timestamp: 1_700_000_000_000 };
  const byMember = new Map<string, Ed25519KeyPair>(keys.map((k) => [toHex(k.publicKey), k]));

  it('each voter signs with its own key; the votes certify the block', () => {
    const committee = voting(4).committee;
    const { votes, rejected } = castVotes(committee, [a, b, c], (m) => byMember.get(m)!, block);
    expect(rejected).toEqual([]);
    expect(votes.map((v) => v.member)).toEqual([a, b, c]);
    expect(new Set(votes.map((v) => v.signature)).size).toBe(3);
    expect(verifyQuorum(committee, block, votes).valid).toBe(3);
  });

  it('a vote signed with another key than the member listed in the committee is not counted', () => {
    const committee = voting(4).committee;
    // b's private key was swapped: it signs, but not under the key the manifest lists for it.
    const swapped = { ...byMember.get(b)!, privateKey: keyPairFromSeed(randomBytes(32)).privateKey };
    const { votes, rejected } = castVotes(committee, [a, b, c, d], (m) => (m === b ? swapped : byMember.get(m)!), block);
    expect(rejected).toEqual([b]);
    expect(votes.map((v) => v.member)).toEqual([a, c, d]);
    expect(verifyQuorum(committee, block, votes).valid).toBe(3);
  });
});
