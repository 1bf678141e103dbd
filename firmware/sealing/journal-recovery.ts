// A seal journal that outlives a full or read-only disk without a restart. After a failed write the file journal refuses all use (its file's state is
// unknown). This wrapper then closes it, reports the fault once through onHealth, answers every
// operation with ERR_JOURNAL_UNAVAILABLE (so no seal is made or published on a decision that was
// not written durably), and reopens the file in the background with capped, jittered backoff:
// reopening re-reads and checks the file (a torn tail is cut) and reserves space again, so the
// journal is back only when its next appends have room.
import pino from 'pino';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from '../core/backoff.ts';
import { systemClock } from '../core/clock.ts';
import { SealingError } from './errors.ts';
import { errnoOf } from './fs-errors.ts';
import type { CheckResult, ImportOptions, ImportResult, JournalExport, JournalRollback, RecordedSeal, SealIntent, SealJournal } from './journal.ts';

export type JournalHealth =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly since: number };

export interface RecoveringJournalOptions {
  /** Opens the journal again (openSealJournal with the same path and options). */
  readonly reopen: () => Promise<SealJournal>;
  /** Called when the journal goes down, when the reason changes, and when it is back. */
  readonly onHealth?: (health: JournalHealth) => void;
  /** Reopen attempts; default 0.5 s doubling up to 10 s, full jitter. */
  readonly backoff?: BackoffOptions;
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export class RecoveringJournal implements SealJournal {
  #inner: SealJournal;
  #health: JournalHealth = { ok: true };
  /** errno (or error code) of what took the journal down. */
  #cause = '';
  #recovery: Promise<void> | null = null;
  #rollbackWatcher: ((rollback: JournalRollback | null) => void) | null = null;
  readonly #stop = new AbortController();
  readonly #o: RecoveringJournalOptions;
  readonly #log: Logger;

  constructor(inner: SealJournal, options: RecoveringJournalOptions) {
    this.#inner = inner;
    this.#o = options;
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'seal-journal' });
  }

  get path(): string {
    return this.#inner.path;
  }

  get finalizedHeight(): number {
    return this.#inner.finalizedHeight;
  }

  get size(): number {
    return this.#inner.size;
  }

  get entryCount(): number {
    return this.#inner.entryCount;
  }

  get highestHeight(): number {
    return this.#inner.highestHeight;
  }

  /** The open journal's loss of records; a reopen checks the TPM counter again. */
  get rollback(): JournalRollback | null {
    return this.#inner.rollback;
  }

  watchRollback(fn: (rollback: JournalRollback | null) => void): () => void {
    this.#rollbackWatcher = fn;
    const off = this.#inner.watchRollback(fn);
    return () => {
      if (this.#rollbackWatcher === fn) this.#rollbackWatcher = null;
      off();
    };
  }

  health(): JournalHealth {
    return this.#health;
  }

  checkAndRecord(intent: SealIntent): Promise<CheckResult> {
    return this.#use((j) => j.checkAndRecord(intent));
  }

  recordSeal(seal: RecordedSeal): Promise<void> {
    return this.#use((j) => j.recordSeal(seal));
  }

  /** False while the journal is unavailable: nothing is signed on a decision that cannot be read back. */
  holds(intent: SealIntent): boolean {
    return this.#health.ok && this.#inner.holds(intent);
  }

  setFinalized(height: number): Promise<void> {
    return this.#use((j) => j.setFinalized(height));
  }

  import(input: unknown, options?: ImportOptions): Promise<ImportResult> {
    return this.#use((j) => j.import(input, options));
  }

  compact(options?: { readonly retainBelowWatermark?: number }): Promise<{ readonly before: number; readonly after: number; readonly dropped: number }> {
    return this.#use((j) => j.compact(options));
  }

  export(): JournalExport {
    if (!this.#health.ok) throw this.#unavailable(this.#health.message);
    return this.#inner.export();
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#recovery;
    await this.#inner.close();
  }

  async #use<T>(fn: (j: SealJournal) => Promise<T>): Promise<T> {
    if (!this.#health.ok) throw this.#unavailable(this.#health.message);
    const inner = this.#inner;
    try {
      return await fn(inner);
    } catch (err) {
      // Refusals and bad arguments are answers; only a failed write or fsync takes it down.
      const code = (err as { code?: unknown }).code;
      const message = `not sealing: ${(err as Error).message}`;
      if (code === 'ERR_JOURNAL_FAILED' && inner === this.#inner && this.#health.ok && !this.#stop.signal.aborted) {
        this.#cause = causeOf(err);
        this.#down(message, inner);
      }
      // An operation queued on the failed journal while it was being closed fails the same way.
      if (code === 'ERR_JOURNAL_FAILED' || (code === 'ERR_JOURNAL_CLOSED' && inner !== this.#inner) || (code === 'ERR_JOURNAL_CLOSED' && !this.#health.ok)) {
        const h = this.#health as JournalHealth;
        throw this.#unavailable(h.ok ? message : h.message);
      }
      throw err;
    }
  }

  #down(message: string, failed: SealJournal): void {
    this.#setHealth({ ok: false, code: 'ERR_JOURNAL_UNAVAILABLE', message, since: (this.#o.now ?? Date.now)() });
    this.#recovery = this.#recover(failed).catch((err: unknown) => {
      this.#log.error({ err: String(err) }, 'seal journal recovery stopped on an unexpected error');
    });
  }

  async #recover(failed: SealJournal): Promise<void> {
    const signal = this.#stop.signal;
    const sleep = this.#o.sleep ?? systemClock.sleep;
    const backoff = new Backoff({ baseMs: 500, capMs: 10_000, ...this.#o.backoff });
    // Releases the lock; the file is read again, and checked, by the reopen.
    await failed.close().catch(() => undefined);
    while (!signal.aborted) {
      await sleep(backoff.next(), signal);
      if (signal.aborted) return;
      try {
        this.#inner = await this.#o.reopen();
        if (this.#rollbackWatcher !== null) this.#inner.watchRollback(this.#rollbackWatcher);
        this.#setHealth({ ok: true });
        return;
      } catch (err) {
        // Said again only when the cause changes (disk full -> read-only), not per attempt.
        const cause = causeOf(err);
        if (!this.#health.ok && cause !== this.#cause) {
          this.#cause = cause;
          this.#setHealth({ ...this.#health, message: `not sealing: ${(err as Error).message}` });
        }
        this.#log.debug({ attempt: backoff.attempt, err: (err as Error).message }, 'seal journal still unavailable');
      }
    }
  }

  #setHealth(h: JournalHealth): void {
    this.#health = h;
    this.#o.onHealth?.(h);
  }

  #unavailable(message: string): SealingError {
    return new SealingError('ERR_JOURNAL_UNAVAILABLE', message, { file: this.#inner.path });
  }
}

function causeOf(err: unknown): string {
  const e = err as { detail?: { errno?: unknown }; cause?: unknown; code?: unknown };
  const found = e?.detail?.errno ?? errnoOf(e?.cause) ?? e?.code;
  return typeof found === 'string' || typeof found === 'number' ? String(found) : 'unknown';
}
