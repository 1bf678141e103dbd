// A small pool of worker threads for CPU-bound batches (signature checks): spawned on demand up
// to `size`, one job per worker at a time, jobs queued in order, idle workers unref'd so they
// never keep the process alive. A worker that crashes fails its job and is replaced. The
// protocol with a worker is one message each way: { id, ...job } in, { id, ...result } out.
import { Worker, type Transferable } from 'node:worker_threads';

export interface WorkerPoolOptions {
  /** The worker script (a plain .js file beside the module, so it also runs next to a bundle). */
  readonly url: URL;
  readonly size: number;
  readonly workerData?: unknown;
  /** The error a job gets when its worker fails or the pool closes (the caller's typed error). */
  readonly failure: (message: string, cause?: unknown) => Error;
}

interface Job {
  readonly id: number;
  readonly message: object;
  readonly transfer: readonly Transferable[];
  readonly cancelled: () => boolean;
  readonly resolve: (reply: Record<string, unknown> | null) => void;
  readonly reject: (err: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
}

export class WorkerPool {
  readonly size: number;
  readonly #o: WorkerPoolOptions;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`worker pool size must be a positive integer, got ${options.size}`);
    this.#o = options;
    this.size = options.size;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs one job; resolves with the worker's reply, or null when `cancelled()` said so before a
   * worker took it (a batch whose request no longer matters).
   */
  run(message: object, transfer: readonly Transferable[] = [], cancelled: () => boolean = () => false): Promise<Record<string, unknown> | null> {
    if (this.#closed) return Promise.reject(this.#o.failure('worker pool is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, message, transfer, cancelled, resolve, reject });
      this.#pump();
    });
  }

  /** Terminates every worker; queued and running jobs reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const err = this.#o.failure('worker pool closed');
    for (const job of this.#queue.splice(0)) job.reject(err);
    await Promise.all(this.#slots.splice(0).map(async (slot) => {
      slot.job?.reject(err);
      slot.job = undefined;
      await slot.worker.terminate();
    }));
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const job = this.#queue[0]!;
      if (job.cancelled()) {
        this.#queue.shift();
        job.resolve(null);
        continue;
      }
      let slot = this.#slots.find((s) => s.job === undefined);
      if (slot === undefined && this.#slots.length < this.size) slot = this.#spawn();
      if (slot === undefined) return;
      this.#queue.shift();
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage({ ...job.message, id: job.id }, job.transfer);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(this.#o.url, this.#o.workerData === undefined ? {} : { workerData: this.#o.workerData });
    const slot: Slot = { worker, job: undefined };
    worker.on('message', (reply: Record<string, unknown>) => {
      const job = slot.job;
      if (job === undefined || job.id !== reply['id']) return;
      slot.job = undefined;
      worker.unref();
      job.resolve(reply);
      this.#pump();
    });
    const fail = (cause: unknown): void => {
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots.splice(i, 1);
      const job = slot.job;
      slot.job = undefined;
      job?.reject(this.#o.failure('worker failed', cause));
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
