// What an interchange import adds to a journal (docs/seal-journal.md): the records to append,
// or a refusal naming every conflicting height. Pure: the journal appends the records in one
// durable write, or, on a conflict, nothing.
import { SealingError } from './errors.ts';
import type { JournalExport } from './journal-interchange.ts';
import type { JournalRecord } from './journal-record.ts';
import type { JournalSlots } from './journal-slots.ts';

export interface ImportOptions {
  /**
   * Only add: every entry must name the block already recorded for its (height, clerk), if any
   * (a seal may complete a decision for that block). Without it an imported seal takes the slot
   * of a decision without a seal, as a re-drawn block does. The operator's import uses it: a
   * file that disagrees with the journal needs a person to look, not a merge.
   */
  readonly onlyAdd?: boolean;
}

export interface ImportResult {
  readonly added: number;
  readonly sealsAdded: number;
  readonly finalizedHeight: number;
}

export interface ImportPlan {
  readonly records: readonly JournalRecord[];
  readonly added: number;
  readonly sealsAdded: number;
}

/** The records that merge `doc` into `slots`; throws ERR_JOURNAL_IMPORT_CONFLICT (naming the heights) instead of changing a recorded seal. */
export function planImport(slots: JournalSlots, doc: JournalExport, options: ImportOptions = {}): ImportPlan {
  const records: JournalRecord[] = [];
  const conflicts: { readonly height: number; readonly text: string }[] = [];
  let added = 0;
  let sealsAdded = 0;
  for (const e of doc.entries) {
    const mine = slots.get(e.height, e.clerk);
    const at = `height ${e.height} clerk ${e.clerk.slice(0, 16)}…`;
    if (options.onlyAdd === true && mine !== undefined && mine.blockHash !== e.blockHash) {
      conflicts.push({ height: e.height, text: `${at}: journal holds block ${mine.blockHash.slice(0, 16)}… (${mine.seal ? `sealed, round ${mine.seal.round}` : 'decision without a seal'}), import has ${e.blockHash.slice(0, 16)}… (${e.seal ? `sealed, round ${e.seal.round}` : 'decision without a seal'})` });
      continue;
    }
    // Only seals take a slot: two seals for different blocks (or two different seals) conflict;
    // an attempt without a seal, on either side, gives way to a seal.
    if (mine?.seal && e.seal && (mine.blockHash !== e.blockHash || mine.seal.round !== e.seal.round || mine.seal.signature !== e.seal.signature)) {
      conflicts.push({ height: e.height, text: `${at}: journal sealed block ${mine.blockHash.slice(0, 16)}… (round ${mine.seal.round}), import sealed ${e.blockHash.slice(0, 16)}… (round ${e.seal.round})` });
      continue;
    }
    if (mine?.seal) continue;
    if (e.seal !== null) {
      if (mine?.blockHash !== e.blockHash) {
        records.push({ k: 'i', h: e.height, c: e.clerk, b: e.blockHash });
        added++;
      }
      records.push({ k: 's', h: e.height, c: e.clerk, b: e.blockHash, r: e.seal.round, s: e.seal.signature });
      sealsAdded++;
    } else if (mine === undefined) {
      records.push({ k: 'i', h: e.height, c: e.clerk, b: e.blockHash });
      added++;
    }
  }
  if (conflicts.length > 0) {
    const heights = [...new Set(conflicts.map((c) => c.height))];
    const named = heights.slice(0, 10).join(', ') + (heights.length > 10 ? `, … (${heights.length} heights)` : '');
    throw new SealingError(
      'ERR_JOURNAL_IMPORT_CONFLICT',
      `import refused, nothing changed: ${conflicts.length} conflicting entr${conflicts.length === 1 ? 'y' : 'ies'} at height${heights.length === 1 ? '' : 's'} ${named} (first: ${conflicts[0]!.text})`,
      { conflicts: conflicts.slice(0, 20).map((c) => c.text), heights: heights.slice(0, 100) },
    );
  }
  // The watermark only goes up.
  if (doc.finalizedHeight > slots.finalized) records.push({ k: 'f', h: doc.finalizedHeight });
  return { records, added, sealsAdded };
}
