// One holder at a time for `<path>`: an open-file-description lock (os-lock.ts) on the file,
// which the kernel takes in one step and drops when the holder closes it or dies. So there is
// no stale lock to judge or take over, and a crash leaves nothing to clean up. The file is never
// removed: a new file beside a held one would be a second lock. Its content names the holder
// (pid, host, boot id, since, command), written once the lock is held, so that a refused taker
// can say who holds it; the content is a label, never the lock.
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { hostname } from 'node:os';
import { Backoff } from './backoff.ts';
import { systemClock, type Clock } from './clock.ts';
import { CodedError } from './errors.ts';
import { anyObject, integer, parseJson, string, type Reader } from './json.ts';
import { isLockedFd, tryLockFd } from './os-lock.ts';
import { bootId, processAlive } from './process.ts';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** Empty when unknown (another OS, or a lock file written without it). */
  readonly bootId: string;
  /** When the lock was taken, ms since the epoch (0: unknown). */
  readonly createdAt: number;
  /** The holder's command line, shortened (empty: unknown). */
  readonly command: string;
}

export interface ProcessLock {
  readonly path: string;
  /** Clears the holder's name and drops the lock; the file stays. */
  release(): Promise<void>;
}

export interface ProcessLockOptions {
  /** How long to wait for a live holder, in ms; 0 (default) refuses at once. */
  readonly waitMs?: number;
  /** now() for the deadline, sleep() between polls. */
  readonly clock?: Pick<Clock, 'now' | 'sleep'>;
  /** File mode of a new lock file (default 0o644: anyone may read who holds it). */
  readonly mode?: number;
}

/** Who holds a lock right now, asked without taking it. */
export type LockState =
  | { readonly held: false }
  | { readonly held: true; readonly holder: LockHolder | null; readonly text: string };

export type ProcessLockErrorCode =
  | 'ERR_LOCK_HELD' // another open of the file holds the lock (past waitMs)
  | 'ERR_LOCK_IO'; // the lock file could not be opened, written or locked; `cause` says why

export class ProcessLockError extends CodedError<ProcessLockErrorCode> {
  override readonly name = 'ProcessLockError';
  constructor(
    code: ProcessLockErrorCode,
    message: string,
    readonly lock: string,
    /** The holder as its lock file names it; null when the content names no live holder. */
    readonly holder: LockHolder | null = null,
    /** The lock file's content, at most 200 characters (what a person should see). */
    readonly text = '',
    options?: { cause?: unknown },
  ) {
    super(code, message, { lock, holder }, options);
  }
}

const MAX_LOCK_BYTES = 4096;
const MAX_COMMAND_CHARS = 200;
const POLL = { baseMs: 5, capMs: 200 } as const;
/** How long a refused taker waits for the holder to write its name (it does so right after locking). */
const NAME_WAIT_MS = 1_000;

// Read field by field, tolerant on purpose: the name is for people (who holds the lock; the OS
// lock decides), so a field another version wrote differently falls back to its default instead
// of losing the whole name.
const HOLDER = {
  pid: integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  host: string({ max: 255 }),
  bootId: string({ max: 64 }),
  createdAt: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  command: string({ max: MAX_LOCK_BYTES }),
} as const;

function fieldOr<T>(reader: Reader<T>, o: Readonly<Record<string, unknown>>, key: string, fallback: T): T {
  try {
    return reader.read(o[key], key);
  } catch {
    return fallback;
  }
}

/** The holder in a lock file's text, or null for anything else (empty, foreign or damaged). */
export function readLockHolder(text: string): LockHolder | null {
  let o: Readonly<Record<string, unknown>>;
  try {
    o = anyObject({ maxKeys: 64 }).read(parseJson(text, MAX_LOCK_BYTES, 'lock file'), '');
  } catch {
    return null;
  }
  const pid = fieldOr(HOLDER.pid, o, 'pid', 0);
  const host = fieldOr<string | null>(HOLDER.host, o, 'host', null);
  if (pid === 0 || host === null) return null;
  return {
    pid, host, bootId: fieldOr(HOLDER.bootId, o, 'bootId', ''), createdAt: fieldOr(HOLDER.createdAt, o, 'createdAt', 0),
    command: fieldOr(HOLDER.command, o, 'command', '').slice(0, MAX_COMMAND_CHARS),
  };
}

/** "pid 1234 (btn-node run --config /etc/btn-node.json, since 2024-05-01T10:00:00.000Z)", plus the host when it is another one. */
export function describeHolder(h: LockHolder): string {
  const details = [h.command, h.createdAt > 0 ? `since ${new Date(h.createdAt).toISOString()}` : ''].filter((s) => s !== '');
  return `pid ${h.pid}${h.host === hostname() ? '' : ` on ${h.host}`}${details.length === 0 ? '' : ` (${details.join(', ')})`}`;
}

/** This process's command line as a person would type it: `btn-node run --config F`, not node's path. */
function commandLine(): string {
  const [, script, ...args] = process.argv;
  const name = script === undefined ? basename(process.execPath) : basename(script).replace(/\.(m?js|ts)$/, '');
  return [name, ...args].join(' ').slice(0, MAX_COMMAND_CHARS);
}

export async function acquireProcessLock(path: string, options: ProcessLockOptions = {}): Promise<ProcessLock> {
  const clock = options.clock ?? systemClock;
  const waitMs = options.waitMs ?? 0;
  const deadline = clock.now() + waitMs;
  const poll = new Backoff(POLL);
  let retried = false;
  for (;;) {
    const fd = openFile(path, constants.O_RDWR | constants.O_CREAT, options.mode ?? 0o644);
    let kept = false;
    try {
      if (lockFd(fd, path)) {
        // Someone removed the file between our open and our lock: lock the one at `path` now.
        if (!isFileAt(fd, path)) continue;
        writeHolder(fd, path, clock.now());
        kept = true;
        return handle(fd, path);
      }
    } finally {
      if (!kept) closeSync(fd);
    }
    if (clock.now() >= deadline) {
      const state = await lockState(path, clock);
      // Released between our try and the question: once more at once.
      if (!state.held && !retried) {
        retried = true;
        continue;
      }
      const named = state.held ? state.holder : null;
      throw new ProcessLockError('ERR_LOCK_HELD', named !== null
        ? `${path} is held by ${describeHolder(named)}`
        : `${path} is held by a process that does not name itself${state.held && state.text !== '' ? ` (content: ${state.text})` : ''}`,
      path, named, state.held ? state.text : '');
    }
    await clock.sleep(poll.next());
  }
}

/** Whether the lock at `path` is held, and by whom, without taking it (a read-only inspector's question). */
export async function queryProcessLock(path: string, options: Pick<ProcessLockOptions, 'clock'> = {}): Promise<LockState> {
  return lockState(path, options.clock ?? systemClock);
}

async function lockState(path: string, clock: Pick<Clock, 'now' | 'sleep'>): Promise<LockState> {
  const end = clock.now() + NAME_WAIT_MS;
  const poll = new Backoff({ baseMs: 1, capMs: 50 });
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { held: false };
      throw ioError(path, err);
    }
    let text: string;
    try {
      // A read-only descriptor may ask: F_OFD_GETLK needs no write access.
      if (!lockedFd(fd, path)) return { held: false };
      text = readText(fd);
    } finally {
      closeSync(fd);
    }
    // The holder writes its name just after taking the lock: until then the file is empty, or
    // still names the one before (which released it, or died).
    const holder = readLockHolder(text);
    if ((holder !== null && isLive(holder)) || clock.now() >= end) return { held: true, holder: holder !== null && isLive(holder) ? holder : null, text: text.slice(0, 200) };
    await clock.sleep(poll.next());
  }
}

/** A holder whose name can be current: on another host (not ours to judge), or a running process of this boot. */
function isLive(h: LockHolder): boolean {
  if (h.host !== hostname()) return true;
  if (h.bootId !== '' && bootId() !== '' && h.bootId !== bootId()) return false;
  return processAlive(h.pid);
}

function handle(fd: number, path: string): ProcessLock {
  let open = true;
  return {
    path,
    release: async () => {
      if (!open) return;
      open = false;
      try {
        ftruncateSync(fd, 0); // a free lock names nobody; a dead holder's name stays, and is ignored
      } catch { /* a read-only disk: closing still drops the lock */ }
      closeSync(fd);
    },
  };
}

function writeHolder(fd: number, path: string, now: number): void {
  const me: LockHolder = { pid: process.pid, host: hostname(), bootId: bootId(), createdAt: now, command: commandLine() };
  const bytes = Buffer.from(JSON.stringify(me));
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, bytes, 0, bytes.length, 0);
  } catch (err) {
    throw ioError(path, err);
  }
}

function readText(fd: number): string {
  const buf = Buffer.alloc(MAX_LOCK_BYTES);
  const n = readSync(fd, buf, 0, buf.length, 0);
  return buf.subarray(0, n).toString('utf8');
}

function isFileAt(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

function openFile(path: string, flags: number, mode: number): number {
  try {
    return openSync(path, flags, mode);
  } catch (err) {
    throw ioError(path, err);
  }
}

function lockFd(fd: number, path: string): boolean {
  try {
    return tryLockFd(fd);
  } catch (err) {
    throw ioError(path, err);
  }
}

function lockedFd(fd: number, path: string): boolean {
  try {
    return isLockedFd(fd);
  } catch (err) {
    throw ioError(path, err);
  }
}

function ioError(path: string, err: unknown): ProcessLockError {
  return new ProcessLockError('ERR_LOCK_IO', `cannot lock ${path}: ${(err as Error).message}`, path, null, '', { cause: err });
}
