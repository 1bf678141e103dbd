// Exclusive lock of a batch file shared by several factory stations: `<batch>.lock` holds the
// owner's pid and host. Node has no flock() without a native addon, so the lock is made with
// link(2) of a complete temp file (atomic, O_EXCL semantics, never half-written). A station
// waits for the lock (stations append one line each, so waits are short); a lock whose owner
// is a dead process on this host is stale and removed.
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { FactoryError } from './errors.ts';
import { processAlive } from '../../firmware/core/process.ts';

export interface BatchLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** Give up after this long (ms). */
  readonly timeoutMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function acquireBatchLock(batchPath: string, options: LockOptions = {}): Promise<BatchLock> {
  const path = `${batchPath}.lock`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const owner = { pid: process.pid, host: hostname(), at: new Date(now()).toISOString() };
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(temp, JSON.stringify(owner), { mode: 0o644 });
  } catch (err) {
    throw new FactoryError('ERR_FACTORY_BATCH_IO', `cannot create lock file next to ${batchPath}: ${(err as Error).message}`, { cause: err });
  }
  const deadline = now() + timeoutMs;
  let lastOwner = '';
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, path);
        return {
          release: async () => {
            await unlink(path).catch(() => undefined);
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new FactoryError('ERR_FACTORY_BATCH_IO', `cannot lock ${batchPath}: ${(err as Error).message}`, { cause: err });
        }
      }
      const text = await readFile(path, 'utf8').catch(() => null);
      if (text === null) continue; // released between link() and readFile(): try again at once
      lastOwner = text.slice(0, 200);
      const held = parseOwner(text);
      if (held !== null && held.host === owner.host && held.pid !== process.pid && !processAlive(held.pid)) {
        // The owner died holding the lock. Remove it only if it is still the same lock file.
        const again = await readFile(path, 'utf8').catch(() => null);
        if (again === text) await unlink(path).catch(() => undefined);
        continue;
      }
      if (now() >= deadline) {
        throw new FactoryError('ERR_FACTORY_LOCK_TIMEOUT', `batch ${batchPath} is locked by ${lastOwner} for more than ${timeoutMs} ms; if no station is running, delete ${path}`);
      }
      // Short, jittered polls: one append holds the lock for a few milliseconds.
      await sleep(Math.min(200, 5 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random()));
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

function parseOwner(text: string): { pid: number; host: string } | null {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (Number.isSafeInteger(o['pid']) && typeof o['host'] === 'string') return { pid: o['pid'] as number, host: o['host'] };
  } catch { /* a foreign or damaged lock file: wait for it like any other */ }
  return null;
}
