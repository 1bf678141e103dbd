// What the seal journal's records add up to, in memory: per (height, clerk) slot the current
// decision and its seal, the finalized watermark, and the newest seal-counter value. A slot is
// taken by a seal, not by an attempt: a decision for another block replaces one that has no
// seal (an attempt that ended without one), and nothing replaces a seal.
import { SealingError } from './errors.ts';
import type { JournalEntry, JournalExport } from './journal-interchange.ts';
import { scanJournal, type JournalRecord, type ScanResult } from './journal-record.ts';

export interface Slot {
  readonly height: number;
  readonly clerk: string;
  /** The current decision, lowercase hex. */
  blockHash: string;
  seal: { readonly round: number; readonly signature: string; readonly n?: number } | null;
}

export class JournalSlots {
  readonly entries = new Map<string, Slot>();
  finalized = -1;
  /** Newest seal-counter value recorded (null: none). */
  counter: number | null = null;
  /** Highest height of any decision recorded (-1: none); compaction keeps it, as it drops low slots only. */
  highest = -1;

  get(height: number, clerk: string): Slot | undefined {
    return this.entries.get(slotKey(height, clerk));
  }

  /** Applies one record; a record that contradicts the ones before it is returned as a problem. */
  apply(r: JournalRecord): string | null {
    if (r.k === 'f') {
      if (r.h > this.finalized) this.finalized = r.h;
      return null;
    }
    if (r.k === 'a') {
      this.#count(r.n);
      return null;
    }
    const k = slotKey(r.h, r.c);
    const e = this.entries.get(k);
    if (r.k === 'i') {
      if (e === undefined) {
        this.entries.set(k, { height: r.h, clerk: r.c, blockHash: r.b, seal: null });
        if (r.h > this.highest) this.highest = r.h;
      }
      else if (e.blockHash !== r.b) {
        if (e.seal !== null) return `a decision for another block after a seal at height ${r.h}, clerk ${r.c}`;
        e.blockHash = r.b; // the earlier attempt ended without a seal
      }
      return null;
    }
    if (e === undefined || e.blockHash !== r.b) return `seal without a matching decision at height ${r.h}, clerk ${r.c}`;
    if (e.seal !== null && (e.seal.round !== r.r || e.seal.signature !== r.s)) return `two seals recorded at height ${r.h}, clerk ${r.c}`;
    if (e.seal === null) e.seal = r.n === undefined ? { round: r.r, signature: r.s } : { round: r.r, signature: r.s, n: r.n };
    if (r.n !== undefined) this.#count(r.n);
    return null;
  }

  /** The records that rebuild this state, keeping slots above `cutoff` (compaction). */
  records(cutoff: number): JournalRecord[] {
    const out: JournalRecord[] = [];
    if (this.finalized >= 0) out.push({ k: 'f', h: this.finalized });
    if (this.counter !== null) out.push({ k: 'a', n: this.counter });
    for (const e of this.entries.values()) {
      if (e.height <= cutoff) continue;
      out.push({ k: 'i', h: e.height, c: e.clerk, b: e.blockHash });
      if (e.seal !== null) out.push({ k: 's', h: e.height, c: e.clerk, b: e.blockHash, r: e.seal.round, s: e.seal.signature, ...(e.seal.n === undefined ? {} : { n: e.seal.n }) });
    }
    return out;
  }

  /** Drops slots at or below `cutoff`; returns how many. */
  drop(cutoff: number): number {
    let dropped = 0;
    for (const [k, e] of this.entries) {
      if (e.height <= cutoff) {
        this.entries.delete(k);
        dropped++;
      }
    }
    return dropped;
  }

  #count(n: number): void {
    if (this.counter === null || n > this.counter) this.counter = n;
  }
}

/** Reads a whole journal file into slots; damage before the tail, and records that contradict each other, throw ERR_JOURNAL_CORRUPT. */
export function replayJournal(bytes: Uint8Array, file: string): { readonly scan: ScanResult; readonly slots: JournalSlots } {
  const scan = scanJournal(bytes, file);
  const slots = new JournalSlots();
  for (const { offset, record } of scan.records) {
    const problem = slots.apply(record);
    if (problem !== null) {
      throw new SealingError('ERR_JOURNAL_CORRUPT', `seal journal ${file} is corrupt at byte offset ${offset}: ${problem}; refusing to start`, { file, offset, reason: problem });
    }
  }
  return { scan, slots };
}

/** The slots in the interchange format, by height, then clerk. Counter values stay with their TPM and are not exported. */
export function exportSlots(slots: JournalSlots): JournalExport {
  const entries: JournalEntry[] = [...slots.entries.values()]
    .sort((a, b) => a.height - b.height || (a.clerk < b.clerk ? -1 : a.clerk > b.clerk ? 1 : 0))
    .map((e) => ({ height: e.height, clerk: e.clerk, blockHash: e.blockHash, seal: e.seal === null ? null : { round: e.seal.round, signature: e.seal.signature } }));
  return { version: 1, finalizedHeight: slots.finalized, entries };
}

export function slotKey(height: number, clerk: string): string {
  return `${height}/${clerk}`;
}
