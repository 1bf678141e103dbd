// Exclusive lock of a seal journal (`<journal>.lock`, firmware/core/process-lock.ts: an OS lock
// the kernel drops when its holder dies). Two agents sharing one journal could each pass the
// check for the same (height, clerk) and seal two blocks, so a second opener is refused at once,
// told who holds the journal.
import { acquireProcessLock, describeHolder, ProcessLockError, queryProcessLock, type LockHolder, type ProcessLock } from '../core/process-lock.ts';
import { SealingError } from './errors.ts';
import { describeFsError, errnoOf } from './fs-errors.ts';

export type JournalLock = ProcessLock;

export const journalLockPath = (journalPath: string): string => `${journalPath}.lock`;

export async function acquireJournalLock(journalPath: string): Promise<JournalLock> {
  const path = journalLockPath(journalPath);
  try {
    return await acquireProcessLock(path);
  } catch (err) {
    if (!(err instanceof ProcessLockError)) throw err;
    if (err.code === 'ERR_LOCK_IO') {
      throw new SealingError('ERR_JOURNAL_IO', `cannot lock seal journal: ${describeFsError(err.cause, path)}`, { file: path, errno: errnoOf(err.cause) }, { cause: err.cause });
    }
    throw lockedError(journalPath, err.holder, err.text);
  }
}

/**
 * Refuses at once, without taking anything, when another process holds the journal: for a
 * command that must not even start beside a running node (`btn-node run`). A lock that cannot
 * be asked about (unreadable file) is left to the open, which says what is wrong.
 */
export async function refuseIfJournalHeld(journalPath: string): Promise<void> {
  const state = await queryProcessLock(journalLockPath(journalPath)).catch((err: unknown) => {
    if (err instanceof ProcessLockError) return null;
    throw err;
  });
  if (state?.held === true) throw lockedError(journalPath, state.holder, state.text);
}

function lockedError(journalPath: string, owner: LockHolder | null, text: string): SealingError {
  const path = journalLockPath(journalPath);
  return new SealingError('ERR_JOURNAL_LOCKED', owner === null
    ? `seal journal ${journalPath} is held by a process that does not name itself in ${path}${text === '' ? '' : ` (content: ${text})`}; two agents must never share a journal`
    : `seal journal ${journalPath} is held by ${describeHolder(owner)}; two agents must never share a journal`, { file: journalPath, lock: path, owner });
}
