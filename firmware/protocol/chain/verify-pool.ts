// Ed25519 verification of many signatures: inline for small sets, on a small pool of worker
// threads for large ones. node:crypto is used on both paths: it verified ~7,000/s per core here
// against ~450-620/s for @noble/curves (test/bench/chain.bench.ts), and one implementation on
// every path keeps the accept/reject decision identical (RFC 8032 edge cases differ between
// libraries).
import { availableParallelism } from 'node:os';
import { WorkerPool } from '../../core/worker-pool.ts';
import { ChainError } from './errors.ts';
import { ed25519PublicKeyObject } from './transaction.ts';
import { verify as nodeVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { merkleRoot, merkleRootOfSubtrees } from './merkle.ts';
import { signatureChecks, transactionIds, type SignatureCheck, type TransactionCheck, type TransactionChecksResult } from './tx-checks.ts';

export type { SignatureCheck, TransactionCheck, TransactionChecksResult };

export interface BatchVerifier {
  /** Index of the first invalid signature, or -1 when all verify. */
  firstInvalid(checks: readonly SignatureCheck[]): Promise<number>;
  /** True when firstInvalid(count checks) runs off this thread (so callers may overlap work). */
  runsInParallel?(count: number): boolean;
  /**
   * Ids, Merkle root and signatures of `count` transactions in one pass off this thread (used
   * when runsInParallel(count)); without it the caller hashes here and calls firstInvalid.
   */
  checkTransactions?(txs: readonly TransactionCheck[]): Promise<TransactionChecksResult>;
}

/** Verifies in the calling thread; stops at the first failure. */
export function firstInvalidInline(checks: readonly SignatureCheck[]): number {
  const keys = new Map<string, KeyObject>();
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    let ok = false;
    try {
      if (c.publicKey.length === 32 && c.signature.length === 64) {
        const tag = Buffer.from(c.publicKey).toString('latin1');
        let key = keys.get(tag);
        if (key === undefined) {
          key = ed25519PublicKeyObject(c.publicKey);
          keys.set(tag, key);
        }
        ok = nodeVerify(null, c.message, key, c.signature);
      }
    } catch {
      ok = false;
    }
    if (!ok) return i;
  }
  return -1;
}

export const inlineVerifier: BatchVerifier = {
  firstInvalid: (checks) => Promise.resolve(firstInvalidInline(checks)),
};

/** The transactions' pass (tx-checks.ts) in the calling thread. */
export function checkTransactionsInline(txs: readonly TransactionCheck[]): TransactionChecksResult {
  const ids = transactionIds(txs);
  const { checks, owners } = signatureChecks(txs);
  const bad = firstInvalidInline(checks);
  return { ids, root: merkleRoot(ids), bad: bad < 0 ? null : owners[bad]! };
}

/** Through `verifier`: its workers when it has them for this many, else ids and root here and its firstInvalid. */
export async function checkTransactionsWith(verifier: BatchVerifier, txs: readonly TransactionCheck[]): Promise<TransactionChecksResult> {
  if (verifier.checkTransactions !== undefined && verifier.runsInParallel?.(txs.length) === true) return verifier.checkTransactions(txs);
  const ids = transactionIds(txs);
  const { checks, owners } = signatureChecks(txs);
  const bad = await verifier.firstInvalid(checks);
  return { ids, root: merkleRoot(ids), bad: bad < 0 ? null : owners[bad]! };
}

export interface VerifyPoolOptions {
  /** Worker count; default: available cores (at least 1, at most 8). */
  readonly size?: number;
  /** Sets smaller than this verify inline. Default 256. */
  readonly inlineThreshold?: number;
  /** Largest batch handed to one worker. Default 1024. */
  readonly maxBatch?: number;
  /** Batches waiting for a worker; beyond this firstInvalid() throws ERR_CHAIN_POOL_SATURATED. Default 256. */
  readonly maxQueuedBatches?: number;
}

const MAX_MESSAGE_BYTES = 0xffff;

export class VerifyPool implements BatchVerifier {
  readonly size: number;
  readonly inlineThreshold: number;
  private readonly maxBatch: number;
  private readonly maxQueued: number;
  private readonly pool: WorkerPool;
  private closed = false;

  constructor(options: VerifyPoolOptions = {}) {
    this.size = options.size ?? Math.min(8, Math.max(1, availableParallelism()));
    this.inlineThreshold = options.inlineThreshold ?? 256;
    this.maxBatch = options.maxBatch ?? 1024;
    this.maxQueued = options.maxQueuedBatches ?? 256;
    if (!Number.isInteger(this.size) || this.size < 1) throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', 'pool size must be a positive integer', 'size');
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', 'maxBatch must be a positive integer', 'maxBatch');
    this.pool = new WorkerPool({
      url: new URL('./verify-worker.js', import.meta.url), size: this.size,
      failure: (message, cause) => this.closed
        ? new ChainError('ERR_CHAIN_POOL_CLOSED', 'verify pool closed')
        : new ChainError('ERR_CHAIN_WORKER_FAILED', `verify ${message}`, undefined, cause === undefined ? undefined : { cause }),
    });
  }

  runsInParallel(count: number): boolean {
    return count >= this.inlineThreshold;
  }

  async firstInvalid(checks: readonly SignatureCheck[]): Promise<number> {
    if (this.closed) throw new ChainError('ERR_CHAIN_POOL_CLOSED', 'verify pool is closed');
    if (checks.length < this.inlineThreshold) return firstInvalidInline(checks);
    // Spread evenly: at least one batch per worker, none larger than maxBatch.
    const batch = Math.min(this.maxBatch, Math.ceil(checks.length / this.size));
    const batches = Math.ceil(checks.length / batch);
    if (this.pool.queued + batches > this.maxQueued) {
      throw new ChainError('ERR_CHAIN_POOL_SATURATED', `verify queue full: ${this.pool.queued} batches waiting, ${batches} more refused`);
    }
    const request = { cancelled: false };
    const results = [];
    for (let start = 0; start < checks.length; start += batch) {
      const part = checks.slice(start, start + batch);
      results.push(
        this.submit(part, request).then((bad) => {
          if (bad >= 0) request.cancelled = true; // later batches of this request are skipped
          return bad < 0 ? -1 : start + bad;
        }),
      );
    }
    const bad = (await Promise.all(results)).filter((i) => i >= 0);
    return bad.length === 0 ? -1 : Math.min(...bad);
  }

  /**
   * The transactions' pass on the workers: each batch is 2^k consecutive transactions, so its
   * worker returns the ids and the root of that subtree, and the roots combine into the block's
   * (merkleRootOfSubtrees). Every batch runs to the end (the ids are needed whatever a signature
   * says, so that the first failing check decides the reason, as inline).
   */
  async checkTransactions(txs: readonly TransactionCheck[]): Promise<TransactionChecksResult> {
    if (this.closed) throw new ChainError('ERR_CHAIN_POOL_CLOSED', 'verify pool is closed');
    if (txs.length < this.inlineThreshold) return checkTransactionsInline(txs);
    const batch = 2 ** Math.floor(Math.log2(Math.max(1, Math.min(this.maxBatch, Math.ceil(txs.length / this.size)))));
    const batches = Math.ceil(txs.length / batch);
    if (this.pool.queued + batches > this.maxQueued) {
      throw new ChainError('ERR_CHAIN_POOL_SATURATED', `verify queue full: ${this.pool.queued} batches waiting, ${batches} more refused`);
    }
    const parts: Promise<{ ids: Uint8Array; root: Uint8Array; bad: number; which: number }>[] = [];
    for (let start = 0; start < txs.length; start += batch) {
      const { buf, count } = packTransactions(txs, start, Math.min(txs.length, start + batch));
      parts.push(this.pool.run({ kind: 'txs', buf, count }, [buf]).then((reply) => ({
        ids: new Uint8Array(reply!['ids'] as ArrayBuffer), root: new Uint8Array(reply!['root'] as ArrayBuffer), bad: reply!['bad'] as number, which: reply!['which'] as number,
      })));
    }
    const done = await Promise.all(parts);
    const ids: Uint8Array[] = [];
    let bad: TransactionChecksResult['bad'] = null;
    done.forEach((d, b) => {
      for (let i = 0; i < d.ids.length; i += 32) ids.push(d.ids.subarray(i, i + 32));
      if (bad === null && d.bad >= 0) bad = { index: b * batch + d.bad, which: d.which === 1 ? 'secondSignature' : 'signature' };
    });
    return { ids, root: merkleRootOfSubtrees(done.map((d) => d.root)), bad };
  }

  /** Terminates every worker; pending requests reject with ERR_CHAIN_POOL_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  private async submit(checks: readonly SignatureCheck[], request: { cancelled: boolean }): Promise<number> {
    const { buf, count, firstBad } = pack(checks);
    if (firstBad >= 0) return firstBad;
    // A batch whose request already failed at a lower index no longer matters (-1: not the first).
    const reply = await this.pool.run({ buf, count }, [buf], () => request.cancelled);
    return reply === null ? -1 : (reply['bad'] as number);
  }
}

/**
 * Packs transactions [from, to) for the worker (big-endian):
 *   count x ( u8 hasSecondKey || [secondPublicKey (32)] || u16 length || canonical bytes )
 */
function packTransactions(txs: readonly TransactionCheck[], from: number, to: number): { buf: ArrayBuffer; count: number } {
  let total = 0;
  for (let i = from; i < to; i++) total += 1 + (txs[i]!.secondPublicKey === undefined ? 0 : 32) + 2 + txs[i]!.encoding.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (let i = from; i < to; i++) {
    const { encoding, secondPublicKey } = txs[i]!;
    if (secondPublicKey !== undefined && secondPublicKey.length !== 32) throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', 'second public key must be 32 bytes', 'secondPublicKey');
    if (encoding.length > MAX_MESSAGE_BYTES) throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', 'transaction encoding too long', 'encoding');
    out[off++] = secondPublicKey === undefined ? 0 : 1;
    if (secondPublicKey !== undefined) { out.set(secondPublicKey, off); off += 32; }
    out[off++] = encoding.length >> 8;
    out[off++] = encoding.length & 0xff;
    out.set(encoding, off);
    off += encoding.length;
  }
  return { buf: out.buffer, count: to - from };
}

/** Packs a batch for the worker; a check with wrong sizes is reported as invalid at once. */
function pack(checks: readonly SignatureCheck[]): { buf: ArrayBuffer; count: number; firstBad: number } {
  let total = 0;
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    if (c.publicKey.length !== 32 || c.signature.length !== 64 || c.message.length > MAX_MESSAGE_BYTES) {
      // Sizes are validated at decode time; this only guards direct callers. Verify the
      // valid prefix inline so the reported index stays the first failure.
      const prefix = firstInvalidInline(checks.slice(0, i));
      return { buf: new ArrayBuffer(0), count: 0, firstBad: prefix >= 0 ? prefix : i };
    }
    total += 2 + 32 + 64 + c.message.length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const c of checks) {
    view.setUint16(off, c.message.length, false);
    out.set(c.publicKey, off + 2);
    out.set(c.signature, off + 34);
    out.set(c.message, off + 98);
    off += 98 + c.message.length;
  }
  return { buf: out.buffer, count: checks.length, firstBad: -1 };
}
