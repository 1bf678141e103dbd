// Group commit: writes that arrive while a commit is in flight (or in the same event-loop turn)
// wait and go together into the next one, so concurrent requests share one transaction and one
// fsync. Each caller's promise settles only after its group committed (or failed); the commit
// function gives each item its own outcome, so one refused write does not fail the others.

export type Settled<O> = { readonly ok: true; readonly value: O } | { readonly ok: false; readonly error: unknown };

/** Commits a group in order; one outcome per item, in the same order. Throwing fails the whole group. */
export type CommitGroup<I, O> = (items: readonly I[]) => Promise<readonly Settled<O>[]> | readonly Settled<O>[];

/** At most this many writes per transaction: a bounded group keeps each commit's latency bounded. */
export const DEFAULT_GROUP_MAX = 256;

interface Pending<I, O> {
  readonly item: I;
  readonly resolve: (v: O) => void;
  readonly reject: (e: unknown) => void;
}

export class CommitQueue<I, O> {
  readonly #commit: CommitGroup<I, O>;
  readonly #max: number;
  readonly #wrapError: (err: unknown) => unknown;
  readonly #concurrency: number;
  #queue: Pending<I, O>[] = [];
  #inFlight = 0;
  /** A flush is scheduled and has not taken its group yet. */
  #scheduled = false;

  /**
   * `wrapError` maps a thrown error to what each caller of the failed group receives;
   * `concurrency` groups may be in flight at once (a store whose commits wait on a server, not
   * on this thread, and whose groups cannot deadlock each other).
   */
  constructor(commit: CommitGroup<I, O>, options: { readonly max?: number; readonly concurrency?: number; readonly wrapError?: (err: unknown) => unknown } = {}) {
    const max = options.max ?? DEFAULT_GROUP_MAX;
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`group max must be a positive integer, got ${max}`);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`group concurrency must be a positive integer, got ${concurrency}`);
    this.#commit = commit;
    this.#max = max;
    this.#concurrency = concurrency;
    this.#wrapError = options.wrapError ?? ((e) => e);
  }

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#scheduleIfFree();
    });
  }

  /** Writes waiting for the next commit (for metrics and tests). */
  get waiting(): number {
    return this.#queue.length;
  }

  #scheduleIfFree(): void {
    if (this.#scheduled || this.#inFlight >= this.#concurrency || this.#queue.length === 0) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: the rest of this turn's I/O callbacks join the group.
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    const group = this.#queue.splice(0, this.#max);
    this.#inFlight++;
    this.#scheduleIfFree();
    let outcomes: readonly Settled<O>[] | null = null;
    let failure: unknown = null;
    try {
      outcomes = await this.#commit(group.map((p) => p.item));
      if (outcomes.length !== group.length) throw new Error(`commit gave ${outcomes.length} outcomes for ${group.length} writes`);
    } catch (err) {
      outcomes = null;
      failure = this.#wrapError(err);
    }
    group.forEach((p, i) => {
      const o = outcomes?.[i];
      if (o === undefined) p.reject(failure);
      else if (o.ok) p.resolve(o.value);
      else p.reject(o.error);
    });
    this.#inFlight--;
    this.#scheduleIfFree();
  }
}
