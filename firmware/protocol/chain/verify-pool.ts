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

export interface SignatureCheck {
  readonly publicKey: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

export interface BatchVerifier {
  /** Index of the first invalid signature, or -1 when all verify. */
  firstInvalid(checks: readonly SignatureCheck[]): Promise<number>;
  /** True when firstInvalid(count checks) runs off this thread (so callers may overlap work). */
  runsInParallel?(count: number): boolean;
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
