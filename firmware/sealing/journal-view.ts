// A seal journal read without opening it for writing (`btn-node journal inspect|export`): no
// lock taken, no torn tail cut, no space reserved, so it works beside a running node and
// changes nothing. What opening would do to the file is reported instead.
import { ProcessLockError, queryProcessLock } from '../core/process-lock.ts';
import { SealingError } from './errors.ts';
import { describeFsError, errnoOf } from './fs-errors.ts';
import { readFileAtMost } from './journal-fs.ts';
import { MAX_JOURNAL_BYTES } from './journal.ts';
import { replayJournal, type JournalSlots } from './journal-slots.ts';

/**
 * Who holds the journal's lock, asked without taking it: a process that names itself (a node
 * runs on this journal), one that does not (yet), or a lock that cannot be asked about.
 */
export type JournalLockState =
  | { readonly state: 'held'; readonly pid: number; readonly host: string; readonly command: string; readonly since: number }
  | { readonly state: 'held-unnamed' }
  | { readonly state: 'unreadable'; readonly reason: string };

export interface JournalView {
  readonly path: string;
  /** Bytes in the file, preallocated zeros included. */
  readonly fileBytes: number;
  /** End of the last whole record. */
  readonly validEnd: number;
  /** A torn last record, which opening cuts (truncating the file to validEnd); null when the tail is clean. */
  readonly torn: { readonly offset: number; readonly reason: string } | null;
  readonly slots: JournalSlots;
  /** null: nobody holds the lock, so no node has the journal open. */
  readonly lock: JournalLockState | null;
}

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
  try {
    const lock = await queryProcessLock(lockPath);
    if (!lock.held) return null;
    if (lock.holder === null) return { state: 'held-unnamed' };
    const { pid, host, command, createdAt } = lock.holder;
    return { state: 'held', pid, host, command, since: createdAt };
  } catch (err) {
    if (err instanceof ProcessLockError) return { state: 'unreadable', reason: err.message };
    throw err;
  }
}
