// Exclusive lock of a seal journal: `<journal>.lock` holds the owner's pid, host and boot id.
// Two agents sharing one journal could each pass the check for the same (height, clerk) and
// seal two blocks, so a second opener is refused. A lock left by a dead process (same host
// and boot, pid gone) or by an earlier boot is stale and taken over, with a warning.
// Node has no flock() without a native addon; the lock is created with O_EXCL (link of a
// complete temp file), so a half-written lock file is never seen.
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { SealingError } from './errors.ts';
import { describeFsError, errnoOf } from './fs-errors.ts';
import { bootId, processAlive } from '../core/process.ts';

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly bootId: string;
  readonly createdAt: number;
}

export interface JournalLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Lock files this process holds now. */
const heldLocks = new Set<string>();

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (Number.isSafeInteger(o['pid']) && typeof o['host'] === 'string' && typeof o['bootId'] === 'string') {
      return { pid: o['pid'] as number, host: o['host'], bootId: o['bootId'], createdAt: Number(o['createdAt']) || 0 };
    }
  } catch { /* unreadable: handled by the caller */ }
  return null;
}

export async function acquireJournalLock(journalPath: string, logger: Logger): Promise<JournalLock> {
  const path = `${journalPath}.lock`;
  const me: LockOwner = { pid: process.pid, host: hostname(), bootId: bootId(), createdAt: Date.now() };
  const text = JSON.stringify(me);
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(temp, text, { flag: 'wx' });
  } catch (err) {
    await unlink(temp).catch(() => undefined); // an empty file on a full disk
    throw new SealingError('ERR_JOURNAL_IO', `cannot create journal lock: ${describeFsError(err, path)}`, { file: path, errno: errnoOf(err) }, { cause: err });
  }
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(temp, path); // fails with EEXIST when someone holds it
        heldLocks.add(path);
        return { path, release: () => release(path, text) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new SealingError('ERR_JOURNAL_IO', `cannot create journal lock: ${describeFsError(err, path)}`, { file: path, errno: errnoOf(err) }, { cause: err });
        }
      }
      const held = await readFile(path, 'utf8').catch(() => null);
      if (held === null) continue; // released meanwhile
      const owner = parseOwner(held);
      // Our own pid without our hold: a lock this process released while its file could not be
      // removed (read-only or failing disk), left behind when the journal was reopened.
      const leftover = owner !== null && owner.pid === process.pid && !heldLocks.has(path);
      const stale = owner !== null && owner.host === me.host && (owner.bootId !== me.bootId || !processAlive(owner.pid) || leftover);
      if (!stale || attempt > 0) {
        throw new SealingError('ERR_JOURNAL_LOCKED', owner === null
          ? `seal journal ${journalPath} is locked by ${path}, whose content is unreadable; remove it only if no agent runs`
          : `seal journal ${journalPath} is locked by pid ${owner.pid} on ${owner.host} (${path}); two agents must never share a journal`, { file: journalPath, lock: path, owner });
      }
      // Re-read right before removing, so that a lock just taken over by another process stays.
      if ((await readFile(path, 'utf8').catch(() => null)) !== held) continue;
      logger.warn({ lock: path, stalePid: owner.pid }, 'taking over a stale seal journal lock');
      await unlink(path).catch(() => undefined);
    }
    throw new SealingError('ERR_JOURNAL_LOCKED', `seal journal ${journalPath}: could not take lock ${path}`, { file: journalPath, lock: path });
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function release(path: string, mine: string): Promise<void> {
  heldLocks.delete(path);
  const content = await readFile(path, 'utf8').catch(() => null);
  if (content === mine) await unlink(path).catch(() => undefined);
}
