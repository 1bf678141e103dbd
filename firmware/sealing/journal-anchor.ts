// The seal journal anchored in the TPM (docs/seal-journal.md, firmware/sealing/README.md): a
// monotonic NV counter is advanced once per seal, before the seal is recorded and published,
// and each seal record carries the counter's value. A file can lose acknowledged writes (an SD
// card on power loss), be cut, or be replaced by an older copy; the counter cannot go back. At
// open, a counter ahead of the journal's newest value means seals were published that the file
// no longer holds: which (height, clerk) slots they took is unknown, so the journal seals
// nothing at heights they could have covered until a final block is above them.
import type { Tpm } from '../../tpm/index.ts';
import { SealingError } from './errors.ts';

/** The TPM's seal counter as the journal uses it (a fake one in unit tests). */
export interface SealCounter {
  /** Where it lives, for messages ("NV 0x01000B70"). */
  readonly name: string;
  /** The count, or null while it was never incremented. */
  read(): Promise<number | null>;
  /** One increment (one NV write); the count after it, as the TPM holds it. */
  increment(): Promise<number>;
}

/** The TPM's counter at `index` (default 0x01000B70), defined on first use when missing. */
export function tpmSealCounter(tpm: Pick<Tpm, 'ensureNvCounter' | 'incrementNvCounter'>, index?: number): SealCounter {
  const opts = index === undefined ? {} : { index };
  const name = `NV 0x${(index ?? 0x01000b70).toString(16).toUpperCase().padStart(8, '0')}`;
  return {
    name,
    read: async () => (await tpm.ensureNvCounter(opts)).value,
    increment: () => tpm.incrementNvCounter(opts),
  };
}

/** Records lost from the journal: what the counter shows, which heights they could cover, when sealing resumes. */
export interface JournalRollback {
  /** The TPM counter at open. */
  readonly counter: number;
  /** The newest counter value the journal holds (null: none). */
  readonly journalCounter: number | null;
  /** Seals published and not in the file: counter - journalCounter (null when the journal holds no value). */
  readonly lostSeals: number | null;
  /** Lowest height a lost seal can have: one above the journal's finalized height. */
  readonly fromHeight: number;
  /** Highest: one above the chain's final block when the node next hears of it (null until then). */
  readonly untilHeight: number | null;
}

/** How the journal's newest counter value stands against the TPM's. */
export function compareAnchor(journal: number | null, tpm: number | null): 'in-step' | 'behind' | 'ahead' {
  if (journal === tpm) return 'in-step';
  if (tpm === null) return 'ahead';
  if (journal === null || journal < tpm) return 'behind';
  return 'ahead';
}

export function anchorMismatch(file: string, counterName: string, journal: number | null, tpm: number | null): SealingError {
  return new SealingError(
    'ERR_JOURNAL_ANCHOR',
    `seal journal ${file} records seal counter value ${journal} but the TPM's counter (${counterName}) is at ${tpm ?? 'never incremented'}: ` +
      'this journal belongs to another TPM, or this TPM was cleared; refusing to start (keep the journal, export it with "btn-node journal export", and start this TPM on a fresh one)',
    { file, journalCounter: journal, counter: tpm },
  );
}

/**
 * The heights a loss blocks. Lost seals were made after the journal's newest record, so above its
 * finalized height F; each was for a candidate on a final block, so at most one above the chain's
 * final block of now. The first final the node sees after open (or one that jumps ahead of the
 * last, as a node catching up sees) sets the ceiling to its height + 1; the loss is over once the
 * finalized height reaches the ceiling.
 */
export class LostRecords {
  #until: number | null = null;

  constructor(readonly counter: number, readonly journalCounter: number | null, readonly fromHeight: number) {}

  get state(): JournalRollback {
    return {
      counter: this.counter, journalCounter: this.journalCounter, fromHeight: this.fromHeight, untilHeight: this.#until,
      lostSeals: this.journalCounter === null ? null : this.counter - this.journalCounter,
    };
  }

  /** Whether a decision at `height` must be refused. */
  refuses(height: number): boolean {
    return this.#until === null || height <= this.#until;
  }

  /** A final block at `height`, after `previous`: returns true when the loss is over. */
  finalized(previous: number, height: number): boolean {
    if (this.#until === null || height > previous + 1) this.#until = Math.max(this.#until ?? 0, height + 1);
    return height >= this.#until;
  }
}

/** What the status page says. */
export function describeRollback(r: JournalRollback): string {
  const lost = r.lostSeals === null ? 'published seals it no longer holds' : `${r.lostSeals} published seal${r.lostSeals === 1 ? '' : 's'} it no longer holds`;
  const range = r.untilHeight === null
    ? `heights from ${r.fromHeight} up to one above the next final block`
    : `heights ${r.fromHeight} to ${r.untilHeight}`;
  const resume = r.untilHeight === null ? 'sealing resumes after the final block that follows it' : `sealing resumes after the final block at height ${r.untilHeight}`;
  return `seal journal lost records: the TPM seal counter is at ${r.counter}, the journal at ${r.journalCounter ?? 'none'} (${lost}; the storage lost acknowledged writes or an older copy was restored); not sealing at ${range}; ${resume}`;
}
