// The one process lock: an OS lock on a file that names its holder. One holder at a time (two
// opens conflict even in one process), a lock file's content alone never holds anything, a
// refused taker and a read-only question are told who holds it. Between processes, and a
// holder killed with SIGKILL: test/firmware/sealing/journal-lock-race.test.ts.
import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryLockFd } from '../../../firmware/core/os-lock.ts';
import { acquireProcessLock, describeHolder, ProcessLockError, queryProcessLock, readLockHolder, type LockHolder } from '../../../firmware/core/process-lock.ts';
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
/** A clock whose sleeps pass at once: waits for a holder's name end without real time. */
const fastClock = (): { now: () => number; sleep: (ms: number) => Promise<void> } => {
  let t = 0;
  return { now: () => t, sleep: async (ms) => { t += Math.max(ms, 1); } };
};

describe('readLockHolder', () => {
  it('names the holder from what it can read, defaults a damaged detail, and is null without pid and host', () => {
    expect(readLockHolder(JSON.stringify({ pid: 7, host: 'h', bootId: 'b', createdAt: 5, command: 'x'.repeat(300) })))
      .toEqual({ pid: 7, host: 'h', bootId: 'b', createdAt: 5, command: 'x'.repeat(200) });
    expect(readLockHolder(JSON.stringify({ pid: 7, host: 'h', bootId: 3, createdAt: 'soon', future: true })))
      .toEqual({ pid: 7, host: 'h', bootId: '', createdAt: 0, command: '' });
    for (const text of ['', '{', '[]', 'null', JSON.stringify({ pid: 0, host: 'h' }), JSON.stringify({ pid: 7 }), `{"pid":7,"host":"${'h'.repeat(5000)}"}`]) {
      expect(readLockHolder(text), text.slice(0, 30)).toBeNull();
    }
  });
});

describe('acquireProcessLock', () => {
  it('names its holder, refuses a second taker at once naming it (even in this process), and is free again after release', async () => {
    const path = lockPath();
    const lock = await acquireProcessLock(path);
    const me = readLockHolder(await readFile(path, 'utf8'));
    expect(me).toMatchObject({ pid: process.pid, host: hostname(), bootId: bootId() });
    expect(me!.command).not.toBe('');
    expect(me!.createdAt).toBeGreaterThan(0);
    const err = await errorOf(acquireProcessLock(path));
    expect(err).toBeInstanceOf(ProcessLockError);
    expect([err.code, err.holder?.pid, err.lock]).toEqual(['ERR_LOCK_HELD', process.pid, path]);
    expect(err.message).toBe(`${path} is held by ${describeHolder(me!)}`);
    expect(err.message).toMatch(new RegExp(`^${path} is held by pid ${process.pid} \\(.+, since \\d{4}-\\d\\d-\\d\\dT`));
    await lock.release();
    expect(await readFile(path, 'utf8')).toBe(''); // a free lock names nobody; the file stays
    await (await acquireProcessLock(path)).release();
  });

  it('a lock file alone holds nothing: one naming a dead process, an earlier boot, this process, another host or garbage is taken at once', async () => {
    for (const text of [holderFile({ pid: deadPid() }), holderFile({ bootId: 'an-earlier-boot' }), holderFile({ pid: process.pid }), holderFile({ host: 'another-host' }), holderFile({}), 'garbage']) {
      const path = lockPath();
      await writeFile(path, text);
      const lock = await acquireProcessLock(path);
      expect(readLockHolder(await readFile(path, 'utf8'))?.pid).toBe(process.pid);
      await lock.release();
    }
  });

  it('a holder that has not named itself yet is refused as unnamed, once its name is given time to appear', async () => {
    const path = lockPath();
    await writeFile(path, holderFile({ pid: deadPid() })); // the name of the one before, who is gone
    const fd = openSync(path, constants.O_RDWR);
    try {
      expect(tryLockFd(fd)).toBe(true);
      const err = await errorOf(acquireProcessLock(path, { clock: fastClock() }));
      expect([err.code, err.holder]).toEqual(['ERR_LOCK_HELD', null]);
      expect(err.message).toContain('is held by a process that does not name itself (content: {"pid":');
    } finally {
      closeSync(fd);
    }
    await (await acquireProcessLock(path)).release(); // closing the descriptor dropped it
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

  it('concurrent acquires in one process take turns: never two holders', async () => {
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

  it('a second release of an old handle never drops a later holder\'s lock', async () => {
    const path = lockPath();
    const old = await acquireProcessLock(path);
    await old.release();
    const current = await acquireProcessLock(path);
    await old.release(); // its descriptor number may belong to another file by now: untouched
    expect((await errorOf(acquireProcessLock(path))).code).toBe('ERR_LOCK_HELD');
    await current.release();
  });

  it('reports a place it cannot open or lock as ERR_LOCK_IO with the cause', async () => {
    const missing = await errorOf(acquireProcessLock(join(dir, 'missing', 'x.lock')));
    expect(missing.code).toBe('ERR_LOCK_IO');
    expect((missing.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    const aDir = join(dir, 'a-directory.lock');
    await mkdir(aDir);
    expect((await errorOf(acquireProcessLock(aDir))).code).toBe('ERR_LOCK_IO');
  });
});

describe('queryProcessLock', () => {
  it('tells whether the lock is held and by whom, taking nothing', async () => {
    const path = lockPath();
    expect(await queryProcessLock(path)).toEqual({ held: false }); // no file
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' }); // and creates none
    await writeFile(path, holderFile({ pid: deadPid() }));
    expect(await queryProcessLock(path)).toEqual({ held: false }); // a dead holder's name
    const lock = await acquireProcessLock(path);
    const state = await queryProcessLock(path);
    expect(state).toMatchObject({ held: true, holder: { pid: process.pid, host: hostname() } });
    await lock.release();
    // Asking took nothing: the lock is free at once, and asking again while held leaves it held.
    const again = await acquireProcessLock(path);
    expect(await queryProcessLock(path)).toMatchObject({ held: true });
    expect((await errorOf(acquireProcessLock(path))).code).toBe('ERR_LOCK_HELD');
    await again.release();
    expect(await queryProcessLock(path)).toEqual({ held: false });
  });

  it('answers through a read-only file it may not write', async () => {
    const path = lockPath();
    const lock = await acquireProcessLock(path, { mode: 0o444 });
    expect(await queryProcessLock(path)).toMatchObject({ held: true, holder: { pid: process.pid } });
    await lock.release();
  });
});
