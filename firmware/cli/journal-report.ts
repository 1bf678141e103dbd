// What `btn-node journal inspect` shows: from a read-only view of the seal journal, the
// finalized height, the entries (the last N) and what opening would change, as text or JSON.
import type { JournalEntry } from '../sealing/journal-interchange.ts';
import { exportSlots } from '../sealing/journal-slots.ts';
import type { JournalLockState, JournalView } from '../sealing/journal-view.ts';

export interface InspectReport {
  readonly journal: string;
  readonly fileBytes: number;
  /** A live process holds the journal's lock: a node runs on it. */
  readonly running: boolean;
  readonly lock: JournalLockState | null;
  /** -1 when nothing is finalized. */
  readonly finalizedHeight: number;
  readonly entryCount: number;
  readonly sealedCount: number;
  readonly lowestHeight: number | null;
  readonly highestHeight: number | null;
  /** The newest TPM seal-counter value the journal records (null: none). */
  readonly sealCounter: number | null;
  /** A torn last record: opening the journal truncates the file to `truncateTo` bytes. */
  readonly tornTail: { readonly offset: number; readonly reason: string; readonly truncateTo: number } | null;
  readonly limit: number;
  /** The last `limit` entries by height, then clerk, in the interchange format. */
  readonly entries: readonly JournalEntry[];
}

export function inspectReport(view: JournalView, limit: number): InspectReport {
  const all = exportSlots(view.slots).entries;
  return {
    journal: view.path,
    fileBytes: view.fileBytes,
    running: view.lock?.state === 'held' || view.lock?.state === 'held-unnamed',
    lock: view.lock,
    finalizedHeight: view.slots.finalized,
    entryCount: all.length,
    sealedCount: all.filter((e) => e.seal !== null).length,
    lowestHeight: all[0]?.height ?? null,
    highestHeight: all.at(-1)?.height ?? null,
    sealCounter: view.slots.counter,
    tornTail: view.torn === null ? null : { ...view.torn, truncateTo: view.validEnd },
    limit,
    entries: limit === 0 ? [] : all.slice(-limit),
  };
}

export function describeView(view: JournalView, limit: number): string {
  const r = inspectReport(view, limit);
  const lines = [`seal journal ${r.journal}: ${r.fileBytes} bytes`, `node: ${describeLock(r.lock)}`];
  lines.push(`finalized height: ${r.finalizedHeight < 0 ? 'none' : r.finalizedHeight}`);
  lines.push(r.entryCount === 0
    ? 'entries: 0'
    : `entries: ${r.entryCount} (${r.sealedCount} sealed, ${r.entryCount - r.sealedCount} decisions without a seal), heights ${r.lowestHeight}..${r.highestHeight}`);
  lines.push(`highest height: ${r.highestHeight ?? 'none'}`);
  lines.push(`seal counter: ${r.sealCounter ?? 'none recorded'}`);
  lines.push(r.tornTail === null
    ? 'tail: clean'
    : `tail: torn last record at byte ${r.tornTail.offset} (${r.tornTail.reason}): opening the journal cuts the file from ${r.fileBytes} to ${r.tornTail.truncateTo} bytes${r.running ? ', unless it is a record the running node is appending right now' : ''}; inspect left it as it is`);
  if (r.entries.length > 0) {
    lines.push(`${r.entries.length === r.entryCount ? 'all' : `last ${r.entries.length} of`} ${r.entryCount} entries (height, seal, block hash, clerk):`);
    const width = String(r.entries.at(-1)!.height).length;
    for (const e of r.entries) {
      lines.push(`  ${String(e.height).padStart(width)}  ${(e.seal === null ? 'decision' : `round ${e.seal.round}`).padEnd(12)}  ${e.blockHash}  ${e.clerk}`);
    }
  }
  return lines.join('\n') + '\n';
}

function describeLock(lock: JournalLockState | null): string {
  if (lock === null) return 'not running (no lock)';
  if (lock.state === 'held') {
    const details = [lock.command, lock.since > 0 ? `since ${new Date(lock.since).toISOString()}` : ''].filter((s) => s !== '');
    return `running: pid ${lock.pid} on ${lock.host}${details.length === 0 ? '' : ` (${details.join(', ')})`} holds the lock; read without it, nothing written`;
  }
  if (lock.state === 'held-unnamed') return 'running: a process that does not name itself holds the lock; read without it, nothing written';
  return `unknown: ${lock.reason}; a node may be running`;
}
