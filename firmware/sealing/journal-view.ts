// A seal journal read without opening it for writing (`btn-node journal inspect|export`): no
// lock taken, no torn tail cut, no space reserved, so it works beside a running node and
// changes nothing. What opening would do to the file is reported instead.
import { isStale, readLockHolder } from '../core/process-lock.ts';
import { SealingError } from './errors.ts';
import { describeFsError, errnoOf } from './fs-errors.ts';
import { readFileAtMost } from './journal-fs.ts';
import { MAX_JOURNAL_BYTES } from './journal.ts';
import { replayJournal, type JournalSlots } from './journal-slots.ts';

/** Who holds `<journal>.lock`: a live process (a node runs on this journal), a dead one (taken over at the next open), or unreadable content. */
export type JournalLockState =
  | { readonly state: 'held' | 'stale'; readonly pid: number; readonly host: string }
  | { readonly state: 'unreadable' };

export interface JournalView {
  readonly path: string;
  /** Bytes in the file, preallocated zeros included. */
  readonly fileBytes: number;
  /** End of the last whole record. */
  readonly validEnd: number;
  /** A torn last record, which opening cuts (truncating the file to validEnd); null when the tail is clean. */
  readonly torn: { readonly offset: number; readonly reason: string } | null;
  readonly slots: JournalSlots;
  /** null: no lock file, so no node has the journal open. */
  readonly lock: JournalLockState | null;
}

const MAX_LOCK_BYTES = 4096;

/** Reads and checks the journal at `path` read-only; ERR_JOURNAL_NOT_FOUND when there is none, ERR_JOURNAL_CORRUPT as opening would. */
export async function readJournalView(path: string): Promise<JournalView> {
  // The lock first: a node that runs may be appending, and its record in flight shows as a torn tail.
  const lock = await readLockState(`${path}.lock`);
  let read;
  try {
    read = await readFileAtMost(path, MAX_JOURNAL_BYTES);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new SealingError('ERR_JOURNAL_NOT_FOUND', `no seal journal at ${path}`, { file: path });
    throw new SealingError('ERR_JOURNAL_IO', `cannot read seal journal: ${describeFsError(err, path)}`, { file: path, errno: errnoOf(err) }, { cause: err });
  }
  if (!read.ok) {
    throw new SealingError('ERR_JOURNAL_CORRUPT', read.reason === 'too-large'
      ? `seal journal ${path} is ${read.size} bytes, more than ${MAX_JOURNAL_BYTES}`
      : `seal journal ${path} is not a regular file`, { file: path, offset: 0 });
  }
  const { scan, slots } = replayJournal(read.bytes, path);
  return { path, fileBytes: read.bytes.length, validEnd: scan.validEnd, torn: scan.torn, slots, lock };
}

async function readLockState(lockPath: string): Promise<JournalLockState | null> {
  let text: string;
  try {
    const read = await readFileAtMost(lockPath, MAX_LOCK_BYTES);
    if (!read.ok) return { state: 'unreadable' };
    text = new TextDecoder().decode(read.bytes);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    return { state: 'unreadable' };
  }
  const holder = readLockHolder(text);
  if (holder === null) return { state: 'unreadable' };
  return { state: isStale(holder, lockPath) ? 'stale' : 'held', pid: holder.pid, host: holder.host };
}
