// The devnet's clerks (primary nodes that draw and make candidate blocks): RSA-2048 keys made
// in software. A clerk is named by its key fingerprint (SHA-256 of the SPKI DER, hex), which is
// also the topic segment its seals are addressed to. Each clerk is also a committee member: it
// signs its votes with an Ed25519 key of its own (quorum.ts), never with its RSA block key.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { keyPairFromSeed, type Ed25519KeyPair } from '../protocol/chain/transaction.ts';
import { comparePriority } from '../protocol/chain/lottery.ts';
import { drawSignature } from '../protocol/chain/build.ts';
import { PrimaryKeySet } from '../protocol/chain/primaries.ts';
import { keyFingerprint, spkiOf } from '../protocol/identity.ts';
import type { TicketScore } from '../protocol/chain/lottery.ts';
import { DevnetError } from './errors.ts';

export interface Clerk {
  /** RSA private key (never logged, never leaves the process). */
  readonly key: KeyObject;
  readonly publicKey: KeyObject;
  readonly spki: Uint8Array;
  readonly fingerprint: string;
  /** The clerk's vote key as a committee member (the manifest lists its public key). */
  readonly voteKey: Ed25519KeyPair;
}

export const MAX_CLERKS = 64;

/** A clerk with this RSA block key, and a fresh vote key unless one is given. */
export function clerkFromKey(privateKey: KeyObject | string, voteKey: Ed25519KeyPair = keyPairFromSeed(randomBytes(32))): Clerk {
  let key: KeyObject;
  try {
    key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  } catch (cause) {
    throw new DevnetError('ERR_DEVNET_OPTIONS', 'clerk key is not a private key', {}, { cause });
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa') throw new DevnetError('ERR_DEVNET_OPTIONS', 'a clerk key must be an RSA private key');
  const spki = spkiOf(key);
  return { key, publicKey: createPublicKey(key), spki, fingerprint: keyFingerprint(spki), voteKey };
}

/** n fresh RSA-2048 clerks (about 50-150 ms each on this machine). */
export function createClerks(n: number): Clerk[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_CLERKS) throw new DevnetError('ERR_DEVNET_OPTIONS', `clerks must be an integer in 1..${MAX_CLERKS}, got ${n}`);
  return Array.from({ length: n }, () => clerkFromKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
}

/** The clerks' public keys as the set agents trust candidates from. */
export function primaryKeySet(clerks: readonly Clerk[]): PrimaryKeySet {
  return new PrimaryKeySet(clerks.map((c) => c.publicKey));
}

export interface Draw {
  readonly clerk: Clerk;
  readonly round: number;
  readonly signature: Uint8Array;
  readonly score: TicketScore;
}

/**
 * One draw round (docs/lottery.md): every clerk signs lotteryMessage(previousHash, round); of those
 * whose ticket has at least clerkZeros leading zero bits, the best by priority wins. Undefined
 * when none qualifies in this round.
 */
export function drawRound(clerks: readonly Clerk[], previousHash: Uint8Array, round: number, clerkZeros: number): Draw | undefined {
  let best: Draw | undefined;
  for (const clerk of clerks) {
    const d = drawSignature(clerk.key, previousHash, round);
    if (d.score.zeros < clerkZeros) continue;
    if (best === undefined || comparePriority(d.score, best.score) < 0) best = { clerk, round, signature: d.signature, score: d.score };
  }
  return best;
}
