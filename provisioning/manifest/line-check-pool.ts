// Manifest lines checked on worker threads, a chunk per message: the per-line work (JSON, hex,
// public areas, SHA-256, certificate parse, chain and RSA signature, ~0.2 ms a line) spreads over
// the cores, and the main thread only splits the upload and files the results in line order.
import { availableParallelism } from 'node:os';
import { WorkerPool } from '../../firmware/core/worker-pool.ts';
import { ProvisioningError } from '../errors.ts';
import type { CheckedLine, LineChecker, LineChunk } from './line-chunk.ts';
import type { TrustStore } from './trust.ts';

export class LineCheckPool implements LineChecker {
  readonly size: number;
  readonly #pool: WorkerPool;

  /** Workers check against the anchors of `trust` as it is now. */
  constructor(trust: TrustStore, size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.size = size;
    this.#pool = new WorkerPool({
      // Beside a bundle, line-check-worker.js is the worker bundled; in the sources it runs line-check-thread.ts under tsx.
      url: new URL('./line-check-worker.js', import.meta.url), size, workerData: { trustPem: trust.anchorsPem() },
      failure: (message, cause) => new ProvisioningError('ERR_PROV_WORKER_FAILED', `manifest line check ${message}`, undefined, cause === undefined ? undefined : { cause }),
    });
  }

  /** The chunk's buffers (whole, not only the views) are transferred: they are unusable here afterwards. */
  async check(chunk: LineChunk, now: number): Promise<CheckedLine[]> {
    const { bytes, ends } = chunk;
    const reply = await this.#pool.run({ bytes, ends, now }, [ends.buffer, bytes.buffer]);
    return reply!['results'] as CheckedLine[];
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
