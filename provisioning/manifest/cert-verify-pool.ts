// EK certificate signatures verified on worker threads: the RSA verification (~60 us for a
// 3072-bit CA key here) is most of a manifest line's cost, so a batch of 100,000 lines spreads
// it over the cores while the main thread parses the next lines.
import { availableParallelism } from 'node:os';
import { WorkerPool } from '../../firmware/core/worker-pool.ts';
import { ProvisioningError } from '../errors.ts';

export interface SignatureJob {
  readonly candidates: readonly number[];
  readonly hash: string;
  readonly tbs: Uint8Array;
  readonly signature: Uint8Array;
}

/** Verifies jobs; resolves to the index of the verifying CA per job, or -1. */
export interface SignatureVerifier {
  verify(jobs: readonly SignatureJob[]): Promise<Int32Array>;
  close(): Promise<void>;
}

export class CertVerifyPool implements SignatureVerifier {
  readonly size: number;
  readonly #pool: WorkerPool;

  constructor(caKeys: readonly Uint8Array[], size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.size = size;
    this.#pool = new WorkerPool({
      url: new URL('./cert-verify-worker.js', import.meta.url), size, workerData: { caKeys },
      failure: (message, cause) => new ProvisioningError('ERR_PROV_WORKER_FAILED', `certificate verify ${message}`, undefined, cause === undefined ? undefined : { cause }),
    });
  }

  async verify(jobs: readonly SignatureJob[]): Promise<Int32Array> {
    const reply = await this.#pool.run({ jobs });
    return reply!['verified'] as Int32Array;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
