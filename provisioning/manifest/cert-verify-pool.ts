// EK certificate signatures verified on worker threads: the RSA verification (~60 us for a
// 3072-bit CA key here) is most of a manifest line's cost, so a batch of 100,000 lines spreads
// it over the cores while the main thread parses the next lines.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
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

interface Slot { worker: Worker; busy: boolean }
interface Pending { id: number; jobs: readonly SignatureJob[]; resolve: (v: Int32Array) => void; reject: (e: unknown) => void }

export class CertVerifyPool implements SignatureVerifier {
  readonly size: number;
  readonly #caKeys: readonly Uint8Array[];
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  readonly #inFlight = new Map<Worker, Pending>();
  #nextId = 0;
  #closed = false;

  constructor(caKeys: readonly Uint8Array[], size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.#caKeys = caKeys;
    this.size = size;
  }

  verify(jobs: readonly SignatureJob[]): Promise<Int32Array> {
    if (this.#closed) return Promise.reject(new ProvisioningError('ERR_PROV_WORKER_FAILED', 'certificate verify pool is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, jobs, resolve, reject });
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#queue.splice(0)) p.reject(new ProvisioningError('ERR_PROV_WORKER_FAILED', 'certificate verify pool closed'));
    await Promise.all(this.#slots.splice(0).map((s) => s.worker.terminate()));
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => !s.busy);
      if (slot === undefined && this.#slots.length < this.size) slot = this.#spawn();
      if (slot === undefined) return;
      const job = this.#queue.shift()!;
      slot.busy = true;
      slot.worker.ref();
      this.#inFlight.set(slot.worker, job);
      slot.worker.postMessage({ id: job.id, jobs: job.jobs });
    }
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./cert-verify-worker.js', import.meta.url), { workerData: { caKeys: this.#caKeys } });
    const slot: Slot = { worker, busy: false };
    worker.on('message', (msg: { id: number; verified: Int32Array }) => {
      const job = this.#inFlight.get(worker);
      this.#inFlight.delete(worker);
      slot.busy = false;
      worker.unref();
      if (job !== undefined && job.id === msg.id) job.resolve(msg.verified);
      this.#pump();
    });
    const fail = (cause: unknown): void => {
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots.splice(i, 1);
      const job = this.#inFlight.get(worker);
      this.#inFlight.delete(worker);
      job?.reject(new ProvisioningError('ERR_PROV_WORKER_FAILED', 'certificate verify worker failed', undefined, { cause }));
      if (!this.#closed) this.#pump();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.#closed) fail(new Error(`worker exited with code ${code}`));
    });
    worker.unref();
    this.#slots.push(slot);
    return slot;
  }
}
