// The clerks' voting committee (docs/protocol.md step 4): each member votes for the sealed block of
// best priority it has seen at a height (its best seal: round ascending, zeros descending,
// ticket ascending, docs/lottery.md); a block with at least `quorum` votes is final (third state).
import { toHex } from '../core/bytes.ts';
import { comparePriority, type TicketScore } from '../protocol/chain/lottery.ts';
import { DevnetError } from './errors.ts';

export interface SealedCandidate {
  readonly height: number;
  readonly hash: Uint8Array;
  /** Fingerprint of the clerk that made the block. */
  readonly clerk: string;
  /** Score of the block's best valid seal: the block's priority. */
  readonly best: TicketScore;
}

export interface CommitteeOptions {
  /** Member ids (clerk fingerprints), unique, at least one. */
  readonly members: readonly string[];
  /** Votes needed for finality; default floor(2n/3) + 1. */
  readonly quorum?: number;
}

export type Decision =
  | { readonly final: true; readonly candidate: SealedCandidate; readonly votes: number; readonly voters: readonly string[] }
  | { readonly final: false; readonly votes: number; readonly needed: number };

export function defaultQuorum(members: number): number {
  return Math.floor((2 * members) / 3) + 1;
}

export class Committee {
  readonly members: readonly string[];
  readonly quorum: number;
  /** height -> member -> the candidate it votes for. */
  readonly #votes = new Map<number, Map<string, SealedCandidate>>();

  constructor(options: CommitteeOptions) {
    const members = options.members;
    if (!Array.isArray(members) || members.length === 0) throw new DevnetError('ERR_DEVNET_OPTIONS', 'a committee needs at least one member');
    if (new Set(members).size !== members.length) throw new DevnetError('ERR_DEVNET_OPTIONS', 'committee members must be unique');
    const quorum = options.quorum ?? defaultQuorum(members.length);
    if (!Number.isInteger(quorum) || quorum < 1 || quorum > members.length) {
      throw new DevnetError('ERR_DEVNET_OPTIONS', `quorum must be an integer in 1..${members.length}, got ${quorum}`);
    }
    this.members = [...members];
    this.quorum = quorum;
  }

  /**
   * `member` has seen `sealed` (and checked its seals). Its vote at that height moves to this block
   * when it has none yet or this block has strictly better priority. Returns true when the vote changed.
   */
  observe(member: string, sealed: SealedCandidate): boolean {
    if (!this.members.includes(member)) throw new DevnetError('ERR_DEVNET_OPTIONS', `${member} is not a committee member`);
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
