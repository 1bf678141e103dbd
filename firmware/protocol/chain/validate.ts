// Validation of a candidate block (docs/protocol.md step 2): ok, or one specific typed reason.
// Checks run cheapest first; signatures last, large sets on the worker pool. The first
// failing check decides the reason, so a block gets the same reason on every node.
import { blockHash, BLOCK_VERSION, encodeSignedHeader, encodeUnsignedHeader, HASH_BYTES, parseBlockJson, MAX_CLERK_KEY_BYTES } from './block.ts';
import type { Block, BlockCaps, SignedBlockHeader } from './block.ts';
import { U64_MAX } from './encoding.ts';
import { bytesEqual, toHex } from '../../core/bytes.ts';
import { ChainError } from './errors.ts';
import { lotteryMessage, MAX_ROUND, qualifies, scoreTicket } from './lottery.ts';
import { rsaVerify } from './primaries.ts';
import { keyFingerprint } from '../identity.ts';
import type { KnownPrimaries } from './primaries.ts';
import { addressFromPublicKey, encodeTransaction, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './transaction.ts';
import type { Transaction } from './transaction.ts';
import { checkTransactionsWith, inlineVerifier } from './verify-pool.ts';
import type { BatchVerifier, TransactionCheck } from './verify-pool.ts';

export interface ChainParams {
  /** m for the clerk draw: the draw ticket needs at least this many leading zero bits. */
  readonly clerkZeros: number;
  /** Highest draw round accepted. */
  readonly maxDrawRound: number;
  /** A block timestamp may be at most this far ahead of the local clock. */
  readonly maxFutureMs: number;
  /** ... and at most this far behind it. */
  readonly maxPastMs: number;
  readonly caps: BlockCaps;
  readonly maxAmount: bigint;
  readonly minFee: bigint;
  readonly maxFee: bigint;
}

export const DEFAULT_CHAIN_PARAMS: ChainParams = {
  clerkZeros: 0,
  maxDrawRound: MAX_ROUND,
  maxFutureMs: 15_000,
  maxPastMs: 120_000,
  caps: { maxTxs: 20_000, maxBlockBytes: 4 * 1024 * 1024 },
  maxAmount: U64_MAX,
  minFee: 0n,
  maxFee: U64_MAX,
};

export interface ChainTip {
  readonly hash: Uint8Array;
  readonly height: number;
  /** Unix ms; when given, a candidate must be strictly later. */
  readonly timestamp?: number;
}

export interface ValidationContext {
  readonly primaries: KnownPrimaries;
  readonly tip: ChainTip;
  /** Unix ms. */
  readonly now: () => number;
  readonly params: ChainParams;
  /** Defaults to inline verification; pass a VerifyPool for large blocks. */
  readonly verifier?: BatchVerifier;
  /** Registered second public key of an account, if any (BTW second signature). */
  readonly secondPublicKeyOf?: (address: string) => Uint8Array | undefined;
}

export type RejectReason =
  | { readonly code: 'oversize'; readonly message: string; readonly data: { readonly field: string } }
  | { readonly code: 'malformed'; readonly message: string; readonly data: { readonly field: string } }
  | { readonly code: 'unknown-parent'; readonly message: string; readonly data: { readonly previousHash: string; readonly tipHash: string } }
  | { readonly code: 'wrong-height'; readonly message: string; readonly data: { readonly height: number; readonly expected: number } }
  | { readonly code: 'timestamp-out-of-window'; readonly message: string; readonly data: { readonly timestamp: number; readonly min: number; readonly max: number } }
  | { readonly code: 'clerk-not-primary'; readonly message: string; readonly data: { readonly clerk: string } }
  | { readonly code: 'draw-not-qualified'; readonly message: string; readonly data: { readonly clerk: string; readonly drawRound: number; readonly zeros: number; readonly required: number; readonly maxDrawRound: number } }
  | { readonly code: 'draw-signature-invalid'; readonly message: string; readonly data: { readonly clerk: string; readonly drawRound: number } }
  | { readonly code: 'bad-clerk-signature'; readonly message: string; readonly data: { readonly clerk: string; readonly hash: string } }
  | { readonly code: 'tx-root-mismatch'; readonly message: string; readonly data: { readonly expected: string; readonly actual: string } }
  | { readonly code: 'duplicate-transaction'; readonly message: string; readonly data: { readonly index: number; readonly firstIndex: number; readonly id: string } }
  | { readonly code: 'bad-transaction-signature'; readonly message: string; readonly data: { readonly index: number; readonly id: string; readonly which: 'signature' | 'secondSignature' } }
  | { readonly code: 'amount-or-fee-out-of-range'; readonly message: string; readonly data: { readonly index: number; readonly id: string; readonly field: 'amount' | 'fee' | 'total'; readonly value: string } };

export type RejectCode = RejectReason['code'];

export type ValidationResult = { readonly ok: true; readonly hash: Uint8Array } | { readonly ok: false; readonly reason: RejectReason };

/** Parses the JSON wire form first: decode errors become `oversize` / `malformed`. */
export async function validateCandidateJson(payload: Uint8Array | string, ctx: ValidationContext): Promise<ValidationResult> {
  let block: Block;
  try {
    block = parseBlockJson(payload, ctx.params.caps);
  } catch (err) {
    if (err instanceof ChainError) {
      const field = err.field ?? 'block';
      return reject(err.code === 'ERR_CHAIN_OVERSIZE' ? { code: 'oversize', message: err.message, data: { field } } : { code: 'malformed', message: err.message, data: { field } });
    }
    throw err;
  }
  return validateCandidate(block, ctx);
}

/**
 * Tests a candidate block. Resolves to ok (with the block hash) or the first failing reason.
 * Rejects only for operational faults (ChainError ERR_CHAIN_POOL_* / ERR_CHAIN_WORKER_FAILED).
 * `encodings`: each transaction's canonical bytes when the block came in binary (decodeBlockEncoded),
 * so they are not encoded again; they must be the block's own.
 */
export async function validateCandidate(block: Block, ctx: ValidationContext, encodings?: readonly Uint8Array[]): Promise<ValidationResult> {
  const { params } = ctx;
  const h = block.header;
  const txs = block.transactions;

  // Size first: nothing else is worth doing on an oversize block.
  if (txs.length > params.caps.maxTxs || h.txCount > params.caps.maxTxs) {
    return reject({ code: 'oversize', message: `block has ${Math.max(txs.length, h.txCount)} transactions, at most ${params.caps.maxTxs}`, data: { field: 'transactions' } });
  }
  const shape = checkShape(block);
  if (shape !== undefined) return reject(shape);
  // Each transaction is encoded once: its bytes give the block size, the id and the signed body.
  let encoded: readonly Uint8Array[];
  try {
    encoded = encodings?.length === txs.length ? encodings : txs.map(encodeTransaction);
    let size = encodeSignedHeader(h).length;
    for (const e of encoded) size += 2 + e.length;
    if (size > params.caps.maxBlockBytes) {
      return reject({ code: 'oversize', message: `block is ${size} bytes, at most ${params.caps.maxBlockBytes}`, data: { field: 'block' } });
    }
  } catch (err) {
    if (err instanceof ChainError) {
      const field = err.field ?? 'block';
      return reject(err.code === 'ERR_CHAIN_OVERSIZE' ? { code: 'oversize', message: err.message, data: { field } } : { code: 'malformed', message: err.message, data: { field } });
    }
    throw err;
  }

  const head = checkHeader(h, ctx);
  if (!head.ok) return head;
  const hash = head.hash;

  // The per-transaction pass (ids, Merkle root, signatures) is the expensive part: on a pool it
  // runs on the workers while this thread checks the amounts; its results are reported in the
  // fixed order (root, duplicates, amounts, signatures), so the reason is the same on every node.
  const checks: TransactionCheck[] = [];
  for (let i = 0; i < txs.length; i++) {
    checks.push({ encoding: encoded[i]!, secondPublicKey: ctx.secondPublicKeyOf?.(addressOf(txs[i]!.senderPublicKey)) });
  }
  const pass = checkTransactionsWith(ctx.verifier ?? inlineVerifier, checks);
  const amounts = amountCheck(txs, params);
  const { ids, root, bad } = await pass;
  if (!bytesEqual(root, h.txRoot)) {
    return reject({ code: 'tx-root-mismatch', message: 'transaction root does not match the transactions', data: { expected: toHex(root), actual: toHex(h.txRoot) } });
  }
  const seen = new Map<string, number>();
  for (let i = 0; i < ids.length; i++) {
    const id = Buffer.from(ids[i]!.buffer, ids[i]!.byteOffset, 32).toString('latin1');
    const first = seen.get(id);
    if (first !== undefined) {
      return reject({ code: 'duplicate-transaction', message: `transaction ${i} repeats transaction ${first}`, data: { index: i, firstIndex: first, id: toHex(ids[i]!) } });
    }
    seen.set(id, i);
  }
  if (amounts !== undefined) {
    const { index, field, value } = amounts;
    return reject({ code: 'amount-or-fee-out-of-range', message: `transaction ${index} ${field} ${value} out of range`, data: { index, id: toHex(ids[index]!), field, value } });
  }
  if (bad !== null) {
    const { index, which } = bad;
    return reject({ code: 'bad-transaction-signature', message: `transaction ${index} has a bad ${which}`, data: { index, id: toHex(ids[index]!), which } });
  }
  return { ok: true, hash };
}

/**
 * The header's own checks (docs/protocol.md step 2): shape, the announced transaction count,
 * parent, height, timestamp, clerk, draw and the clerk's signature. Header-first delivery runs
 * them before any ticket; the full test (validateCandidate) runs them again on the joined block.
 */
export function validateHeader(h: SignedBlockHeader, ctx: ValidationContext): ValidationResult {
  if (h.txCount > ctx.params.caps.maxTxs) {
    return reject({ code: 'oversize', message: `block has ${h.txCount} transactions, at most ${ctx.params.caps.maxTxs}`, data: { field: 'transactions' } });
  }
  const shape = checkHeaderShape(h);
  if (shape !== undefined) return reject(shape);
  return checkHeader(h, ctx);
}

/** Parent, height, timestamp, clerk, draw, clerk signature: cheapest first, RSA last. */
function checkHeader(h: SignedBlockHeader, ctx: ValidationContext): ValidationResult {
  const { params, tip } = ctx;
  if (!bytesEqual(h.previousHash, tip.hash)) {
    return reject({ code: 'unknown-parent', message: 'previous hash is not the chain tip', data: { previousHash: toHex(h.previousHash), tipHash: toHex(tip.hash) } });
  }
  if (h.height !== tip.height + 1) {
    return reject({ code: 'wrong-height', message: `height ${h.height}, expected ${tip.height + 1}`, data: { height: h.height, expected: tip.height + 1 } });
  }
  const now = ctx.now();
  const min = Math.max(now - params.maxPastMs, tip.timestamp === undefined ? 0 : tip.timestamp + 1);
  const max = now + params.maxFutureMs;
  if (h.timestamp < min || h.timestamp > max) {
    return reject({ code: 'timestamp-out-of-window', message: `timestamp ${h.timestamp} outside ${min}..${max}`, data: { timestamp: h.timestamp, min, max } });
  }

  const clerk = keyFingerprint(h.clerkPublicKey);
  const clerkKey = ctx.primaries.get(h.clerkPublicKey);
  if (clerkKey === undefined) {
    return reject({ code: 'clerk-not-primary', message: `clerk ${clerk.slice(0, 16)} is not a known primary`, data: { clerk } });
  }
  // The draw: ticket = SHA-256(drawSignature) must qualify, and the signature must be the known
  // primary's over lotteryMessage(previousHash, drawRound) (docs/lottery.md).
  const draw = scoreTicket(h.drawSignature, h.drawRound);
  if (h.drawRound > params.maxDrawRound || !qualifies(draw.zeros, params.clerkZeros)) {
    return reject({
      code: 'draw-not-qualified',
      message: `draw round ${h.drawRound} ticket has ${draw.zeros} zero bits, needs ${params.clerkZeros} (round at most ${params.maxDrawRound})`,
      data: { clerk, drawRound: h.drawRound, zeros: draw.zeros, required: params.clerkZeros, maxDrawRound: params.maxDrawRound },
    });
  }
  if (!rsaVerify(clerkKey, lotteryMessage(h.previousHash, h.drawRound), h.drawSignature)) {
    return reject({ code: 'draw-signature-invalid', message: 'draw signature does not verify under the known primary key', data: { clerk, drawRound: h.drawRound } });
  }
  const hash = blockHash(h);
  if (!rsaVerify(clerkKey, encodeUnsignedHeader(h), h.clerkSignature)) {
    return reject({ code: 'bad-clerk-signature', message: 'clerk signature over the header does not verify', data: { clerk, hash: toHex(hash) } });
  }
  return { ok: true, hash };
}

/** The first transaction whose amount or fee is out of the network's range. */
function amountCheck(txs: readonly Transaction[], params: ChainParams): { index: number; field: 'amount' | 'fee' | 'total'; value: string } | undefined {
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i]!;
    const bad = tx.amount > params.maxAmount ? ('amount' as const)
      : tx.fee < params.minFee || tx.fee > params.maxFee ? ('fee' as const)
      : tx.amount + tx.fee > U64_MAX ? ('total' as const) : undefined;
    if (bad !== undefined) return { index: i, field: bad, value: (bad === 'amount' ? tx.amount : bad === 'fee' ? tx.fee : tx.amount + tx.fee).toString(10) };
  }
  return undefined;
}

const bad = (field: string, message: string): RejectReason => ({ code: 'malformed', message, data: { field } });

function checkHeaderShape(h: SignedBlockHeader): RejectReason | undefined {
  if (h.version !== BLOCK_VERSION) return bad('version', `version ${h.version}, expected ${BLOCK_VERSION}`);
  if (h.previousHash.length !== HASH_BYTES) return bad('previousHash', 'previousHash must be 32 bytes');
  if (h.txRoot.length !== HASH_BYTES) return bad('txRoot', 'txRoot must be 32 bytes');
  if (h.clerkPublicKey.length === 0 || h.clerkPublicKey.length > MAX_CLERK_KEY_BYTES) return bad('clerkPublicKey', 'clerkPublicKey size');
  if (!Number.isInteger(h.drawRound) || h.drawRound < 0 || h.drawRound > MAX_ROUND) return bad('drawRound', 'drawRound must be a u32');
  return undefined;
}

function checkShape(block: Block): RejectReason | undefined {
  const h = block.header;
  if (h.version !== BLOCK_VERSION) return bad('version', `version ${h.version}, expected ${BLOCK_VERSION}`);
  if (h.txCount !== block.transactions.length) return bad('txCount', `txCount ${h.txCount} but ${block.transactions.length} transactions`);
  const header = checkHeaderShape(h);
  if (header !== undefined) return header;
  for (let i = 0; i < block.transactions.length; i++) {
    const tx = block.transactions[i]!;
    if (tx.senderPublicKey.length !== PUBLIC_KEY_BYTES) return bad(`transactions[${i}].senderPublicKey`, 'senderPublicKey must be 32 bytes');
    if (tx.signature.length !== SIGNATURE_BYTES) return bad(`transactions[${i}].signature`, 'signature must be 64 bytes');
  }
  return undefined;
}

const addressCache = new WeakMap<Uint8Array, string>();
function addressOf(publicKey: Uint8Array): string {
  let a = addressCache.get(publicKey);
  if (a === undefined) {
    a = addressFromPublicKey(publicKey);
    addressCache.set(publicKey, a);
  }
  return a;
}

function reject(reason: RejectReason): ValidationResult {
  return { ok: false, reason };
}
