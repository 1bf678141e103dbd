// The one lock file with a holder pid: one holder at a time, stale holders taken over, live ones
// refused or waited for, a release never removes a lock another process took over.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireProcessLock, isStale, ProcessLockError, readLockHolder, type LockHolder } from '../../../firmware/core/process-lock.ts';
import { bootId } from '../../../firmware/core/process.ts';

let dir: string;
let n = 0;
const lockPath = (): string => join(dir, `l${n++}.lock`);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-lock-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const deadPid = (): number => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
const holderFile = (o: Partial<LockHolder> & Record<string, unknown>): string => JSON.stringify({ pid: process.ppid, host: hostname(), bootId: bootId(), createdAt: 1, ...o });
const errorOf = (p: Promise<unknown>): Promise<ProcessLockError> => p.then(() => { throw new Error('resolved'); }, (e: unknown) => e as ProcessLockError);

describe('acquireProcessLock', () => {
  it('names its holder, refuses a second taker at once, and is free again after release', async () => {
    const path = lockPath();
    const lock = await acquireProcessLock(path);
    expect(readLockHolder(await readFile(path, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname(), bootId: bootId() });
    const err = await errorOf(acquireProcessLock(path));
    expect(err).toBeInstanceOf(ProcessLockError);
    expect([err.code, err.holder?.pid, err.lock]).toEqual(['ERR_LOCK_HELD', process.pid, path]);
    await lock.release();
    await (await acquireProcessLock(path)).release();
    expect((await readdir(dir)).filter((f) => f.startsWith('l0'))).toEqual([]); // no temporary file left
  });

  it('takes over a dead holder, an earlier boot and its own leftover, telling onStale; never a live holder or another host', async () => {
    for (const stale of [{ pid: deadPid() }, { bootId: 'an-earlier-boot' }, { pid: process.pid }]) {
      const path = lockPath();
      await writeFile(path, holderFile(stale));
      const seen: LockHolder[] = [];
      const lock = await acquireProcessLock(path, { onStale: (h) => seen.push(h) });
      expect(seen).toHaveLength(1);
      expect(readLockHolder(await readFile(path, 'utf8'))?.pid).toBe(process.pid);
      await lock.release();
    }
    for (const live of [{}, { host: 'another-host', pid: deadPid() }, { bootId: undefined }]) {
      const path = lockPath();
      await writeFile(path, holderFile(live));
      expect((await errorOf(acquireProcessLock(path))).code).toBe('ERR_LOCK_HELD');
    }
  });

  it('refuses a lock file it cannot read as a holder, showing its content', async () => {
    const path = lockPath();
    await writeFile(path, 'garbage');
    const err = await errorOf(acquireProcessLock(path));
    expect([err.code, err.holder, err.text]).toEqual(['ERR_LOCK_HELD', null, 'garbage']);
  });

  it('waits for a live holder until waitMs in the given clock, then gets a released lock', async () => {
    const path = lockPath();
    const first = await acquireProcessLock(path);
    let t = 0;
    const slept: number[] = [];
    const clock = { now: () => t, sleep: async (ms: number) => { slept.push(ms); t += Math.max(ms, 1); } };
    const err = await errorOf(acquireProcessLock(path, { waitMs: 1_000, clock }));
    expect(err.code).toBe('ERR_LOCK_HELD');
    expect(t).toBeGreaterThanOrEqual(1_000);
    expect(Math.max(...slept)).toBeLessThanOrEqual(200); // short polls, capped
    const second = acquireProcessLock(path, { waitMs: 5_000 });
    setTimeout(() => void first.release(), 30);
    await (await second).release();
  });

  it('concurrent acquires in one process take turns: never two holders, none taken as a leftover', async () => {
    const path = lockPath();
    let inside = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 30 }, async () => {
      const lock = await acquireProcessLock(path, { waitMs: 10_000 });
      most = Math.max(most, ++inside);
      await new Promise((r) => setImmediate(r));
      inside--;
      await lock.release();
    }));
    expect(most).toBe(1);
  });

  it('a release does not remove a lock someone else took over meanwhile', async () => {
    const path = lockPath();
    const lock = await acquireProcessLock(path);
    const other = holderFile({});
    await writeFile(path, other);
    await lock.release();
    expect(await readFile(path, 'utf8')).toBe(other);
  });

  it('reports an unwritable place as ERR_LOCK_IO with the cause', async () => {
    const err = await errorOf(acquireProcessLock(join(dir, 'missing', 'x.lock')));
    expect(err.code).toBe('ERR_LOCK_IO');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('isStale judges only holders on this host', () => {
    const me: LockHolder = { pid: process.pid, host: 'h', bootId: 'b', createdAt: 0 };
    expect(isStale({ ...me, host: 'other', pid: deadPid() }, 'p', me)).toBe(false);
    expect(isStale({ ...me, pid: deadPid() }, 'p', me)).toBe(true);
    expect(isStale({ ...me, bootId: 'c', pid: process.ppid }, 'p', me)).toBe(true);
    expect(isStale({ ...me, bootId: '', pid: process.ppid }, 'p', me)).toBe(false);
  });
});
