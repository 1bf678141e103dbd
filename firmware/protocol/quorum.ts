// Quorum certificates: a final block counts only with the votes of at least `quorum` distinct,
// current committee members. Each member signs a domain-separated vote over the network's name,
// the height, the block hash and the block's timestamp with its own Ed25519 key (the hash covers
// the timestamp too, but a node takes its new tip's timestamp from the final message without the
// header, so the vote binds it explicitly), and the final message carries the
// votes ("the block will be broadcast immediately with all the votes"), so every node can judge
// by itself whether a block really is final, without trusting whoever published the message.
import type { KeyObject } from 'node:crypto';
import { ed25519PublicKeyObject, ed25519Sign, ed25519Verify } from './chain/transaction.ts';
import { ProtocolError } from './errors.ts';
import { fromHex, toHex } from '../core/bytes.ts';

export const VOTE_FORMAT = 'btn-vote/v1';
const DOMAIN = `${VOTE_FORMAT}\n`;
/** A committee larger than this is refused when a manifest is read (and so is a final carrying more votes). */
export const MAX_COMMITTEE = 1024;
const HEX32 = /^[0-9a-f]{64}$/;
const HEX64 = /^[0-9a-f]{128}$/;

export interface Vote {
  /** The member's Ed25519 public key, 32 bytes as lowercase hex. */
  readonly member: string;
  /** Ed25519 signature over voteSignedBytes(network, height, hash), lowercase hex. */
  readonly signature: string;
}

/** The block a vote is for: what a node takes from a final message once its votes verify. */
export interface VotedBlock {
  readonly height: number;
  readonly hash: Uint8Array;
  /** Unix ms of the block's header. */
  readonly timestamp: number;
}

/** What a vote signs: a domain line, then the network, height, block hash and timestamp in a fixed order. */
export function voteSignedBytes(network: string, block: VotedBlock): Uint8Array {
  return new Uint8Array(Buffer.from(DOMAIN + JSON.stringify([network, block.height, toHex(block.hash), block.timestamp]), 'utf8'));
}

/** The votes a committee of `members` needs by default: more than two thirds, always a majority. */
export function defaultQuorum(members: number): number {
  return Math.floor((2 * members) / 3) + 1;
}

export function signVote(privateKey: KeyObject, member: Uint8Array, network: string, block: VotedBlock): Vote {
  const signature = ed25519Sign(privateKey, voteSignedBytes(network, block));
  return { member: toHex(member), signature: toHex(signature) };
}

/** The committee a node holds (from the root-signed network manifest), with its keys parsed once. */
/**
 * What makes these members and quorum no committee, or undefined: 1..MAX_COMMITTEE distinct
 * members (lowercase hex) and a quorum that is a majority. At most half could certify two
 * different blocks at one height with disjoint votes.
 */
export function committeeProblem(members: readonly string[], quorum: number): string | undefined {
  if (members.length === 0 || members.length > MAX_COMMITTEE) return `members: a committee has 1..${MAX_COMMITTEE} members, got ${members.length}`;
  const seen = new Set<string>();
  for (const m of members) {
    if (seen.has(m)) return `members: ${m.slice(0, 16)}... is listed twice`;
    seen.add(m);
  }
  if (!Number.isInteger(quorum) || quorum <= members.length / 2 || quorum > members.length) {
    return `quorum: must be a majority of the ${members.length} members (${Math.floor(members.length / 2) + 1}..${members.length}), got ${quorum}`;
  }
  return undefined;
}

export class Committee {
  readonly network: string;
  readonly quorum: number;
  readonly #keys = new Map<string, KeyObject>();

  constructor(network: string, members: readonly Uint8Array[], quorum: number) {
    const ids = members.map(toHex);
    const problem = committeeProblem(ids, quorum);
    if (problem !== undefined) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `committee ${problem}`, 'committee');
    for (let i = 0; i < ids.length; i++) this.#keys.set(ids[i]!, ed25519PublicKeyObject(members[i]!));
    this.network = network;
    this.quorum = quorum;
  }

  get size(): number {
    return this.#keys.size;
  }

  /** The members' public keys, lowercase hex, in the manifest's order. */
  get members(): string[] {
    return [...this.#keys.keys()];
  }

  has(member: string): boolean {
    return this.#keys.has(member);
  }

  key(member: string): KeyObject | undefined {
    return this.#keys.get(member);
  }
}

/** One vote's signature under its member's key; false for a non-member or a malformed vote. */
export function verifyVote(committee: Committee, block: VotedBlock, vote: Vote): boolean {
  const key = committee.key(vote.member);
  if (key === undefined || !HEX64.test(vote.signature)) return false;
  return ed25519Verify(key, voteSignedBytes(committee.network, block), fromHex(vote.signature));
}

export type QuorumRefusal = 'too-many-votes' | 'malformed-vote' | 'below-quorum';

export class QuorumError extends ProtocolError {
  constructor(readonly reason: QuorumRefusal, message: string, readonly counts?: QuorumCounts) {
    super('ERR_PROTOCOL_QUORUM', message, 'votes');
  }
}

export interface QuorumCounts {
  /** Distinct current members whose vote verified (before verification stopped). */
  readonly valid: number;
  readonly duplicates: number;
  readonly nonMembers: number;
  readonly badSignatures: number;
}

/**
 * Checks that `votes` hold valid signatures of at least `committee.quorum` distinct current members
 * for (network, height, hash, timestamp). Cheap checks come first (count, shape, duplicates, membership);
 * then one Ed25519 verification per remaining vote, stopping as soon as the quorum is reached.
 * Votes of former members (a committee change between vote and delivery), duplicates and bad
 * signatures do not count but do not spoil the others: a final may carry more votes than the
 * committee now has members (a primary still on the previous committee). At most MAX_COMMITTEE
 * votes are read, and only current members' are verified, so a forged final costs at most
 * committee.size verifications. Returns the counts; throws QuorumError.
 */
export function verifyQuorum(committee: Committee, block: VotedBlock, votes: readonly Vote[]): QuorumCounts {
  if (votes.length > MAX_COMMITTEE) throw new QuorumError('too-many-votes', `${votes.length} votes, at most ${MAX_COMMITTEE} are read`);
  const seen = new Set<string>();
  const candidates: Vote[] = [];
  let duplicates = 0;
  let nonMembers = 0;
  for (const v of votes) {
    if (!HEX32.test(v.member) || !HEX64.test(v.signature)) throw new QuorumError('malformed-vote', 'a vote needs member (32 bytes lowercase hex) and signature (64 bytes lowercase hex)');
    if (seen.has(v.member)) {
      duplicates++;
      continue;
    }
    seen.add(v.member);
    if (!committee.has(v.member)) nonMembers++;
    else candidates.push(v);
  }
  const below = (valid: number, badSignatures: number): QuorumError => new QuorumError('below-quorum',
    `${valid} valid vote(s) of distinct members, the quorum is ${committee.quorum} (${nonMembers} not members, ${duplicates} duplicates, ${badSignatures} bad signatures)`,
    { valid, duplicates, nonMembers, badSignatures });
  if (candidates.length < committee.quorum) throw below(0, 0);
  const message = voteSignedBytes(committee.network, block);
  let valid = 0;
  let badSignatures = 0;
  for (const v of candidates) {
    if (ed25519Verify(committee.key(v.member)!, message, fromHex(v.signature))) {
      if (++valid === committee.quorum) return { valid, duplicates, nonMembers, badSignatures };
    } else {
      badSignatures++;
      if (candidates.length - badSignatures < committee.quorum) break;
    }
  }
  throw below(valid, badSignatures);
}
