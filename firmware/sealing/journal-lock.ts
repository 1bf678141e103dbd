// Exclusive lock of a seal journal (`<journal>.lock`, firmware/core/process-lock.ts). Two agents
// sharing one journal could each pass the check for the same (height, clerk) and seal two
// blocks, so a second opener is refused at once; a stale lock (dead holder, earlier boot, our
// own leftover) is taken over with a warning.
import type { Logger } from 'pino';
import { acquireProcessLock, ProcessLockError, type ProcessLock } from '../core/process-lock.ts';
import { SealingError } from './errors.ts';
import { describeFsError, errnoOf } from './fs-errors.ts';

export type JournalLock = ProcessLock;

export async function acquireJournalLock(journalPath: string, logger: Logger): Promise<JournalLock> {
  const path = `${journalPath}.lock`;
  try {
    return await acquireProcessLock(path, { onStale: (owner) => logger.warn({ lock: path, stalePid: owner.pid }, 'taking over a stale seal journal lock') });
  } catch (err) {
    if (!(err instanceof ProcessLockError)) throw err;
    if (err.code === 'ERR_LOCK_IO') {
      throw new SealingError('ERR_JOURNAL_IO', `cannot create journal lock: ${describeFsError(err.cause, path)}`, { file: path, errno: errnoOf(err.cause) }, { cause: err.cause });
    }
    const owner = err.holder;
    throw new SealingError('ERR_JOURNAL_LOCKED', owner === null
      ? `seal journal ${journalPath} is locked by ${path}, whose content is unreadable; remove it only if no agent runs`
      : `seal journal ${journalPath} is locked by pid ${owner.pid} on ${owner.host} (${path}); two agents must never share a journal`, { file: journalPath, lock: path, owner });
  }
}
