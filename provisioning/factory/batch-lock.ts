// Exclusive lock of a batch file shared by several factory stations (`<batch>.lock`,
// firmware/core/process-lock.ts: an OS lock the kernel drops when its holder dies). A station
// waits for the lock (stations append one line each, so waits are short).
import { systemClock } from '../../firmware/core/clock.ts';
import { acquireProcessLock, describeHolder, ProcessLockError } from '../../firmware/core/process-lock.ts';
import { FactoryError } from './errors.ts';

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

export async function acquireBatchLock(batchPath: string, options: LockOptions = {}): Promise<BatchLock> {
  const path = `${batchPath}.lock`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  try {
    return await acquireProcessLock(path, { waitMs: timeoutMs, clock: { now: options.now ?? systemClock.now, sleep: options.sleep ?? systemClock.sleep } });
  } catch (err) {
    if (!(err instanceof ProcessLockError)) throw err;
    if (err.code === 'ERR_LOCK_IO') {
      throw new FactoryError('ERR_FACTORY_BATCH_IO', `cannot lock ${batchPath}: ${(err.cause as Error).message}`, { cause: err.cause });
    }
    const who = err.holder === null ? 'a process that does not name itself' : describeHolder(err.holder);
    throw new FactoryError('ERR_FACTORY_LOCK_TIMEOUT', `batch ${batchPath} is held by ${who} for more than ${timeoutMs} ms; the lock goes when that process ends`);
  }
}
