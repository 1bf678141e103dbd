// Ingest's side of the store's batch writer: settled devices go to the open batch in groups while
// later lines are still being checked, one group in the store at a time and a few queued behind
// it, so filing overlaps checking; commit once at the end. A failed group fails the ingest at
// its next step, and abort() leaves nothing filed.
import type { BatchWriter, FileOutcome, NewDevice } from '../store/types.ts';

// Devices per call to the store: a few round trips per batch on PostgreSQL, a few ms of the
// event loop per call on SQLite.
const GROUP_ROWS = 2048;
// Groups waiting behind the one in the store before ingest waits for them (bounds the memory of a
// store slower than the checks).
const MAX_QUEUED = 2;

export class BatchFiling {
  readonly #open: () => Promise<BatchWriter>;
  readonly #apply: (outcomes: readonly FileOutcome[], at: readonly number[]) => void;
  #writer: BatchWriter | null = null;
  #devices: NewDevice[] = [];
  #at: number[] = [];
  #last: Promise<void> = Promise.resolve();
  #queued: Promise<void>[] = [];
  #failure: { readonly error: unknown } | null = null;
  #started: boolean;

  /**
   * `open` opens the store's batch (when the first group is sent); `apply` receives each group's
   * outcomes with the tokens given to add(). Until start(), devices are only collected.
   */
  constructor(open: () => Promise<BatchWriter>, apply: (outcomes: readonly FileOutcome[], at: readonly number[]) => void, started: boolean) {
    this.#open = open;
    this.#apply = apply;
    this.#started = started;
  }

  add(device: NewDevice, at: number): void {
    this.#devices.push(device);
    this.#at.push(at);
    if (this.#started && this.#devices.length >= GROUP_ROWS) this.#send();
  }

  /** Filing may begin (the batch's signature verified). */
  start(): void {
    this.#started = true;
  }

  /** Throws a failed group's error; waits while too many groups are queued. */
  async keepUp(): Promise<void> {
    if (this.#failure !== null) throw this.#failure.error;
    while (this.#queued.length > MAX_QUEUED) await this.#queued.shift();
  }

  /** Files what is left and commits; resolves once the batch is durable. */
  async commit(counts: { readonly lineCount: number; readonly rejected: number }): Promise<void> {
    this.#started = true;
    if (this.#devices.length > 0) this.#send();
    await this.#last;
    this.#writer ??= await this.#open();
    await this.#writer.commit(counts);
  }

  /** Rolls back whatever was filed (after the group in the store has settled). */
  async abort(): Promise<void> {
    await this.#last.catch(() => undefined);
    await this.#writer?.abort();
  }

  #send(): void {
    const devices = this.#devices, at = this.#at;
    this.#devices = [];
    this.#at = [];
    const group = this.#last.then(async () => {
      this.#writer ??= await this.#open();
      this.#apply(await this.#writer.file(devices), at);
    });
    group.catch((error: unknown) => { this.#failure ??= { error }; });
    this.#last = group;
    this.#queued.push(group);
  }
}
