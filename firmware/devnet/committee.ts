// The committee's voting decision (docs/protocol.md step 4): each member votes for the sealed
// block of best priority it has seen at a height (its best seal: round ascending, zeros
// descending, ticket ascending, docs/lottery.md); a block with at least `quorum` votes is final
// (third state). Who the members are and how many votes a certificate needs is the manifest's
// Committee (firmware/protocol/quorum.ts), which also checks the signed votes; this file decides
// which block each member votes for, and has the voters sign.
import { toHex } from '../core/bytes.ts';
import { comparePriority, type TicketScore } from '../protocol/chain/lottery.ts';
import type { Ed25519KeyPair } from '../protocol/chain/transaction.ts';
import { signVote, verifyVote, type Committee, type Vote, type VotedBlock } from '../protocol/quorum.ts';
import { DevnetError } from './errors.ts';

export interface SealedCandidate {
  readonly height: number;
  readonly hash: Uint8Array;
  /** Fingerprint of the clerk that made the block. */
  readonly clerk: string;
  /** Score of the block's best valid seal: the block's priority. */
  readonly best: TicketScore;
}

export type Decision =
  /** `voters`: the members (vote public keys, hex) whose vote is for the block. */
  | { readonly final: true; readonly candidate: SealedCandidate; readonly votes: number; readonly voters: readonly string[] }
  | { readonly final: false; readonly votes: number; readonly needed: number };

export class CommitteeVoting {
  readonly committee: Committee;
  /** height -> member -> the candidate it votes for. */
  readonly #votes = new Map<number, Map<string, SealedCandidate>>();

  constructor(committee: Committee) {
    this.committee = committee;
  }

  get quorum(): number {
    return this.committee.quorum;
  }

  /**
   * `member` has seen `sealed` (and checked its seals). Its vote at that height moves to this block
   * when it has none yet or this block has strictly better priority. Returns true when the vote changed.
   */
  observe(member: string, sealed: SealedCandidate): boolean {
    if (!this.committee.has(member)) throw new DevnetError('ERR_DEVNET_OPTIONS', `${member.slice(0, 16)}... is not a committee member`);
    let atHeight = this.#votes.get(sealed.height);
    if (atHeight === undefined) {
      atHeight = new Map();
      this.#votes.set(sealed.height, atHeight);
    }
    const current = atHeight.get(member);
    if (current !== undefined && comparePriority(sealed.best, current.best) >= 0) return false;
    atHeight.set(member, sealed);
    return true;
  }

  /** The block member votes for at height, if any. */
  voteOf(member: string, height: number): SealedCandidate | undefined {
    return this.#votes.get(height)?.get(member);
  }

  /** Counts the votes at height: final when one block has at least `quorum`. */
  decide(height: number): Decision {
    const tally = new Map<string, { candidate: SealedCandidate; voters: string[] }>();
    for (const [member, candidate] of this.#votes.get(height) ?? []) {
      const key = toHex(candidate.hash);
      const entry = tally.get(key) ?? { candidate, voters: [] };
      entry.voters.push(member);
      tally.set(key, entry);
    }
    let top: { candidate: SealedCandidate; voters: string[] } | undefined;
    for (const entry of tally.values()) {
      if (top === undefined || entry.voters.length > top.voters.length) top = entry;
    }
    if (top !== undefined && top.voters.length >= this.quorum) {
      return { final: true, candidate: top.candidate, votes: top.voters.length, voters: top.voters };
    }
    return { final: false, votes: top?.voters.length ?? 0, needed: this.quorum };
  }

  /** Drops the votes at and below `height` (after it is final). */
  prune(height: number): void {
    for (const h of this.#votes.keys()) if (h <= height) this.#votes.delete(h);
  }
}

/**
 * The voters sign their votes for `block`, each with its own key (`keyOf`); a vote that does not
 * verify under the member's key in the committee is not counted: it goes to `rejected`.
 */
export function castVotes(committee: Committee, voters: readonly string[], keyOf: (member: string) => Ed25519KeyPair, block: VotedBlock): { votes: Vote[]; rejected: string[] } {
  const votes: Vote[] = [];
  const rejected: string[] = [];
  for (const member of voters) {
    const key = keyOf(member);
    const vote = signVote(key.privateKey, key.publicKey, committee.network, block);
    if (verifyVote(committee, block, vote)) votes.push(vote);
    else rejected.push(member);
  }
  return { votes, rejected };
}
