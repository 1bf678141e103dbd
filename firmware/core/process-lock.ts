// Lock files that name their holder: `<path>` holds { pid, host, bootId, createdAt }. Node has no
// flock() without a native addon, so a lock is taken with link(2) of a complete temporary file
// (atomic, O_EXCL semantics, never half-written). A lock whose holder is gone is stale and
// taken over: on this host, a pid that no longer runs, a lock from an earlier boot (the pid may
// be reused), or a lock of this very process that it released but could not remove (read-only
// or failing disk). Locks of other hosts (a shared disk) are never judged.
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Backoff } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';
import { CodedError } from './errors.ts';
import { bootId, processAlive } from './process.ts';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** Empty when unknown (another OS, or a lock file written without it). */
  readonly bootId: string;
  readonly createdAt: number;
}

export interface ProcessLock {
  readonly path: string;
  /** Removes the lock file if it is still ours (never one another process took over). */
  release(): Promise<void>;
}

export interface ProcessLockOptions {
  /** How long to wait for a live holder, in ms; 0 (default) refuses at once. */
  readonly waitMs?: number;
  /** now() for the deadline, sleep() between polls. */
  readonly clock?: Pick<Clock, 'now' | 'sleep'>;
  /** File mode of the lock file (default 0o644: anyone may read who holds it). */
  readonly mode?: number;
  /** Told before a stale lock is removed (for a warning in the caller's log). */
  readonly onStale?: (holder: LockHolder) => void;
}

export type ProcessLockErrorCode =
  | 'ERR_LOCK_HELD' // a live holder kept the lock (past waitMs)
  | 'ERR_LOCK_IO'; // the lock file could not be written or linked; `cause` says why

export class ProcessLockError extends CodedError<ProcessLockErrorCode> {
  override readonly name = 'ProcessLockError';
  constructor(
    code: ProcessLockErrorCode,
    message: string,
    readonly lock: string,
    /** The holder as read from the lock file; null when its content is not a holder. */
    readonly holder: LockHolder | null = null,
    /** The lock file's content, at most 200 characters (what a person should see). */
    readonly text = '',
    options?: { cause?: unknown },
  ) {
    super(code, message, { lock, holder }, options);
  }
}

/**
 * Lock files this process holds or is still releasing, with how many acquires do: a lock that
 * names our pid while no acquire of ours holds it is a leftover. Counted, and decremented only
 * after the file is gone, so that concurrent acquires in one process never see each other's
 * lock as a leftover between one's release and the next one's link.
 */
const held = new Map<string, number>();

/** The holder in a lock file's text, or null for anything else (foreign or damaged). */
export function readLockHolder(text: string): LockHolder | null {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (Number.isSafeInteger(o['pid']) && typeof o['host'] === 'string') {
      return { pid: o['pid'] as number, host: o['host'], bootId: typeof o['bootId'] === 'string' ? o['bootId'] : '', createdAt: Number(o['createdAt']) || 0 };
    }
  } catch { /* not JSON */ }
  return null;
}

/** Whether `holder` is certainly gone, judged from this process on this host. */
export function isStale(holder: LockHolder, path: string, me: LockHolder = self()): boolean {
  if (holder.host !== me.host) return false;
  if (holder.bootId !== '' && me.bootId !== '' && holder.bootId !== me.bootId) return true;
  if (holder.pid === me.pid) return !held.has(path);
  return !processAlive(holder.pid);
}

function self(): LockHolder {
  return { pid: process.pid, host: hostname(), bootId: bootId(), createdAt: Date.now() };
}

const POLL = { baseMs: 5, capMs: 200 } as const;

export async function acquireProcessLock(path: string, options: ProcessLockOptions = {}): Promise<ProcessLock> {
  const clock = options.clock ?? systemClock;
  const waitMs = options.waitMs ?? 0;
  const me = { ...self(), createdAt: clock.now() };
  const text = JSON.stringify(me);
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(temp, text, { flag: 'wx', mode: options.mode ?? 0o644 });
  } catch (err) {
    await unlink(temp).catch(() => undefined); // an empty file on a full disk
    throw new ProcessLockError('ERR_LOCK_IO', `cannot create lock file ${path}: ${(err as Error).message}`, path, null, '', { cause: err });
  }
  const deadline = clock.now() + waitMs;
  // Short, jittered polls: holders that wait keep a lock for milliseconds (a batch append).
  const poll = new Backoff(POLL);
  // A stale lock is removed once per acquire: one that comes back, or cannot be removed, is refused.
  let tookOver = false;
  let last = { holder: null as LockHolder | null, text: '' };
  try {
    for (let tries = 0; ; tries++) {
      try {
        await link(temp, path); // EEXIST while someone holds it
        held.set(path, (held.get(path) ?? 0) + 1);
        return { path, release: () => release(path, text) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new ProcessLockError('ERR_LOCK_IO', `cannot create lock file ${path}: ${(err as Error).message}`, path, null, '', { cause: err });
        }
      }
      const current = await readFile(path, 'utf8').catch(() => null);
      if (current !== null) {
        const holder = readLockHolder(current);
        last = { holder, text: current.slice(0, 200) };
        if (holder !== null && !tookOver && isStale(holder, path, me)) {
          tookOver = true;
          // Re-read right before removing, so that a lock just taken over by another process stays.
          if ((await readFile(path, 'utf8').catch(() => null)) === current) {
            options.onStale?.(holder);
            await unlink(path).catch(() => undefined);
          }
          continue;
        }
      }
      // Released meanwhile (current === null): try again at once; without waiting, once.
      if (waitMs <= 0 ? current !== null || tries >= 1 : clock.now() >= deadline) {
        throw new ProcessLockError('ERR_LOCK_HELD', last.holder === null
          ? `${path} is held${last.text === '' ? '' : ` (content: ${last.text})`}`
          : `${path} is held by pid ${last.holder.pid} on ${last.holder.host}`, path, last.holder, last.text);
      }
      if (waitMs > 0) await clock.sleep(poll.next());
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function release(path: string, mine: string): Promise<void> {
  try {
    const content = await readFile(path, 'utf8').catch(() => null);
    if (content === mine) await unlink(path).catch(() => undefined);
  } finally {
    const count = (held.get(path) ?? 1) - 1;
    if (count > 0) held.set(path, count);
    else held.delete(path);
  }
}
