// Quorum certificates: the votes of a final block, checked against the committee alone.
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Committee, defaultQuorum, QuorumError, signVote, verifyQuorum, verifyVote, voteSignedBytes, type Vote } from '../../../firmware/protocol/quorum.ts';

function member() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
  return { publicKey: raw, privateKey };
}

const members = Array.from({ length: 7 }, member);
const committee = new Committee('devnet', members.map((m) => m.publicKey), 5);
const hash = new Uint8Array(32).fill(0xab);
const TS = 1_700_000_000_000;
const at = (height: number, h = hash, timestamp = TS) => ({ height, hash: h, timestamp });
const votesBy = (ms: typeof members, height = 9, h = hash, network = 'devnet', timestamp = TS): Vote[] => ms.map((m) => signVote(m.privateKey, m.publicKey, network, at(height, h, timestamp)));

function refusal(fn: () => unknown): QuorumError {
  try {
    fn();
  } catch (err) {
    if (err instanceof QuorumError) return err;
    throw err;
  }
  throw new Error('expected a QuorumError');
}

describe('verifyQuorum', () => {
  it('takes a quorum of distinct members and stops verifying once it is reached', () => {
    expect(verifyQuorum(committee, at(9), votesBy(members.slice(0, 5))).valid).toBe(5);
    expect(verifyQuorum(committee, at(9), votesBy(members)).valid).toBe(5);
  });

  it('a vote is an Ed25519 signature over the domain line, network, height, hash and timestamp (checked with node:crypto alone)', () => {
    const v = votesBy(members.slice(0, 1))[0]!;
    const message = Buffer.from('btn-vote/v1\n["devnet",9,"' + 'ab'.repeat(32) + '",' + TS + ']');
    expect(Buffer.from(voteSignedBytes('devnet', at(9))).equals(message)).toBe(true);
    expect(Buffer.from(sign(null, message, members[0]!.privateKey)).toString('hex')).toBe(v.signature);
  });

  it('refuses too few votes, duplicates that pad a short list, and non-members', () => {
    expect(refusal(() => verifyQuorum(committee, at(9), votesBy(members.slice(0, 4)))).reason).toBe('below-quorum');
    const four = votesBy(members.slice(0, 4));
    const padded = refusal(() => verifyQuorum(committee, at(9), [...four, four[0]!]));
    expect(padded.counts?.duplicates).toBe(1);
    const outsider = votesBy([member()]);
    expect(refusal(() => verifyQuorum(committee, at(9), [...four, ...outsider])).counts?.nonMembers).toBe(1);
  });

  it('refuses votes for another height, block or network (an old final replayed at a higher height)', () => {
    const old = votesBy(members.slice(0, 5), 8);
    expect(refusal(() => verifyQuorum(committee, at(9), old)).counts?.badSignatures).toBeGreaterThan(0);
    expect(refusal(() => verifyQuorum(committee, at(9, new Uint8Array(32)), votesBy(members.slice(0, 5)))).reason).toBe('below-quorum');
    expect(refusal(() => verifyQuorum(committee, at(9), votesBy(members.slice(0, 5), 9, hash, 'othernet'))).reason).toBe('below-quorum');
    // a valid final with its timestamp changed (it becomes the tip's, which bounds the next candidate's)
    expect(refusal(() => verifyQuorum(committee, at(9, hash, TS + 60_000), votesBy(members.slice(0, 5)))).reason).toBe('below-quorum');
  });

  it('a bad signature does not spoil the others, but does not count', () => {
    const votes = votesBy(members.slice(0, 6));
    const bad = { ...votes[0]!, signature: votes[1]!.signature };
    expect(verifyQuorum(committee, at(9), [bad, ...votes.slice(1)]).valid).toBe(5);
    // verification stops as soon as the quorum is out of reach
    expect(refusal(() => verifyQuorum(committee, at(9), [bad, ...votes.slice(1, 5)])).counts).toMatchObject({ badSignatures: 1 });
  });

  it('refuses malformed votes and more votes than members before any verification', () => {
    expect(refusal(() => verifyQuorum(committee, at(9), [{ member: 'AB'.repeat(32), signature: '00'.repeat(64) }])).reason).toBe('malformed-vote');
    expect(refusal(() => verifyQuorum(committee, at(9), Array.from({ length: 1025 }, () => votesBy(members.slice(0, 1))[0]!))).reason).toBe('too-many-votes');
    // More votes than members is a committee change in flight: the former member's vote is skipped.
    expect(verifyQuorum(committee, at(9), votesBy([member(), ...members])).nonMembers).toBe(1);
  });

  it('a committee needs a majority quorum and distinct members', () => {
    expect(() => new Committee('devnet', members.map((m) => m.publicKey), 3)).toThrow(/majority/);
    expect(() => new Committee('devnet', [members[0]!.publicKey, members[0]!.publicKey], 2)).toThrow(/twice/);
  });
});

describe('defaultQuorum, verifyVote', () => {
  it('defaults the quorum to floor(2n/3) + 1: always a majority the Committee takes', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(defaultQuorum)).toEqual([1, 2, 3, 3, 4, 5, 5]);
    const pool = Array.from({ length: 100 }, () => member().publicKey);
    for (const n of [1, 2, 3, 4, 10, 21, 33, 100]) expect(new Committee('devnet', pool.slice(0, n), defaultQuorum(n)).quorum).toBe(defaultQuorum(n));
  });

  it('one vote: verifies under its member key only, for its block and network', () => {
    const [v] = votesBy(members.slice(0, 1));
    expect(committee.members).toEqual(members.map((m) => Buffer.from(m.publicKey).toString('hex')));
    expect(verifyVote(committee, at(9), v!)).toBe(true);
    expect(verifyVote(committee, at(10), v!)).toBe(false);
    expect(verifyVote(committee, at(9), { ...v!, member: Buffer.from(members[1]!.publicKey).toString('hex') })).toBe(false);
    expect(verifyVote(committee, at(9), votesBy(members.slice(0, 1), 9, hash, 'othernet')[0]!)).toBe(false);
    expect(verifyVote(committee, at(9), votesBy([member()])[0]!)).toBe(false);
    expect(verifyVote(committee, at(9), { ...v!, signature: 'zz' })).toBe(false);
  });
});
