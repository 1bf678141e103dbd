// Builders for the devnet's primary node and transaction generator: they make real, signed
// transactions and blocks with the same encoding the validator checks.
import { sign as nodeSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { BLOCK_VERSION, encodeUnsignedHeader } from './block.ts';
import type { Block, BlockHeader } from './block.ts';
import { ChainError } from './errors.ts';
import { lotteryMessage, scoreTicket } from './lottery.ts';
import type { TicketScore } from './lottery.ts';
import { merkleRoot } from './merkle.ts';
import { spkiOf } from '../identity.ts';
import { keyPairFromSeed, signTransaction, transactionIdBytes } from './transaction.ts';
import type { Ed25519KeyPair, Transaction } from './transaction.ts';

export interface TransactionFields {
  readonly type?: number;
  /** Unix seconds. */
  readonly timestamp: number;
  readonly recipientId: string;
  readonly amount: bigint;
  readonly fee: bigint;
}

/** A signed transaction from an Ed25519 seed (32 bytes) or key pair; optional second signer. */
export function createTransaction(sender: Uint8Array | Ed25519KeyPair, fields: TransactionFields, second?: Uint8Array | Ed25519KeyPair): Transaction {
  const keys = sender instanceof Uint8Array ? keyPairFromSeed(sender) : sender;
  const secondKeys = second === undefined ? undefined : second instanceof Uint8Array ? keyPairFromSeed(second) : second;
  return signTransaction(
    { type: fields.type ?? 0, timestamp: fields.timestamp, senderPublicKey: keys.publicKey, recipientId: fields.recipientId, amount: fields.amount, fee: fields.fee },
    keys,
    secondKeys,
  );
}

/** RSASSA-PKCS1-v1_5-SHA256 draw signature of a clerk over lotteryMessage(previousHash, round). */
export function drawSignature(clerkKey: KeyObject, previousHash: Uint8Array, round: number): { signature: Uint8Array; score: TicketScore } {
  const signature = new Uint8Array(nodeSign('sha256', lotteryMessage(previousHash, round), clerkKey));
  return { signature, score: scoreTicket(signature, round) };
}

/**
 * The first round in firstRound..firstRound+maxRounds-1 whose draw ticket has at least
 * `clerkZeros` leading zero bits, or undefined. (Rounds are time-paced on a real network; the
 * devnet calls this once per round slot.)
 */
export function drawUntilQualified(clerkKey: KeyObject, previousHash: Uint8Array, clerkZeros: number, maxRounds: number, firstRound = 0): { round: number; signature: Uint8Array; score: TicketScore } | undefined {
  for (let round = firstRound; round < firstRound + maxRounds; round++) {
    const d = drawSignature(clerkKey, previousHash, round);
    if (d.score.zeros >= clerkZeros) return { round, ...d };
  }
  return undefined;
}

export interface CreateBlockOptions {
  /** The clerk's RSA private key (node:crypto). */
  readonly clerkKey: KeyObject;
  readonly height: number;
  readonly previousHash: Uint8Array;
  /** Unix ms. */
  readonly timestamp: number;
  readonly transactions?: readonly Transaction[];
  readonly drawRound: number;
  /** Defaults to the clerk's signature for drawRound; pass one to reuse or to test. */
  readonly drawSignature?: Uint8Array;
  readonly version?: number;
  /** Hook for tests: change the header before the clerk signs it. */
  readonly tamper?: (header: BlockHeader) => BlockHeader;
}

/** A complete block signed by the clerk: the header hash is signed as RSASSA-PKCS1-v1_5-SHA256. */
export function createBlock(options: CreateBlockOptions): Block {
  const { clerkKey } = options;
  if (clerkKey.type !== 'private' || clerkKey.asymmetricKeyType !== 'rsa') {
    throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', 'clerkKey must be an RSA private KeyObject', 'clerkKey');
  }
  const transactions = options.transactions ?? [];
  let header: BlockHeader = {
    version: options.version ?? BLOCK_VERSION,
    height: options.height,
    previousHash: options.previousHash,
    timestamp: options.timestamp,
    txRoot: merkleRoot(transactions.map(transactionIdBytes)),
    txCount: transactions.length,
    clerkPublicKey: spkiOf(clerkKey),
    drawRound: options.drawRound,
    drawSignature: options.drawSignature ?? drawSignature(clerkKey, options.previousHash, options.drawRound).signature,
  };
  if (options.tamper !== undefined) header = options.tamper(header);
  const clerkSignature = signHeader(clerkKey, header);
  return { header: { ...header, clerkSignature }, transactions };
}

/** The clerk's signature over the unsigned header bytes (its digest is the block hash). */
export function signHeader(clerkKey: KeyObject, header: BlockHeader): Uint8Array {
  return new Uint8Array(nodeSign('sha256', encodeUnsignedHeader(header), clerkKey));
}
