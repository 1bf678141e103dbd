// The one worker pool: jobs in order, a crashed worker fails its job and is replaced, cancelled
// jobs never reach a worker, close() rejects what is left.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../../firmware/core/worker-pool.ts';

let dir: string;
let url: URL;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-pool-'));
  const file = join(dir, 'worker.mjs');
  await writeFile(file, `import { parentPort, workerData } from 'node:worker_threads';
parentPort.on('message', (m) => {
  if (m.crash) process.exit(3);
  setTimeout(() => parentPort.postMessage({ id: m.id, doubled: m.value * 2, extra: workerData?.extra ?? null }), m.delayMs ?? 0);
});\n`);
  url = pathToFileURL(file);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const failure = (message: string, cause?: unknown): Error => Object.assign(new Error(message, { cause }), { code: 'ERR_TEST_POOL' });

describe('WorkerPool', () => {
  it('runs jobs on at most size workers and hands each reply to its job', async () => {
    const pool = new WorkerPool({ url, size: 2, workerData: { extra: 'x' }, failure });
    try {
      const replies = await Promise.all([1, 2, 3, 4, 5].map((value) => pool.run({ value, delayMs: 5 })));
      expect(replies.map((r) => r!['doubled'])).toEqual([2, 4, 6, 8, 10]);
      expect(replies[0]!['extra']).toBe('x');
    } finally {
      await pool.close();
    }
  });

  it('a crashed worker fails its job with the caller\'s error, and the next job gets a new worker', async () => {
    const pool = new WorkerPool({ url, size: 1, failure });
    try {
      await expect(pool.run({ crash: true })).rejects.toMatchObject({ code: 'ERR_TEST_POOL', message: 'worker failed' });
      expect((await pool.run({ value: 21 }))!['doubled']).toBe(42);
    } finally {
      await pool.close();
    }
  });

  it('a job cancelled before a worker takes it resolves null without running', async () => {
    const pool = new WorkerPool({ url, size: 1, failure });
    try {
      let cancel = false;
      const first = pool.run({ value: 1, delayMs: 50 });
      const second = pool.run({ value: 2 }, [], () => cancel);
      cancel = true;
      expect((await first)!['doubled']).toBe(2);
      expect(await second).toBeNull();
    } finally {
      await pool.close();
    }
  });

  it('close() rejects queued and running jobs, and later ones', async () => {
    const pool = new WorkerPool({ url, size: 1, failure });
    // Outcomes are taken before close() rejects them, so no rejection goes unhandled.
    const running = pool.run({ value: 1, delayMs: 200 }).then(() => null, (err: unknown) => err);
    const queued = pool.run({ value: 2 }).then(() => null, (err: unknown) => err);
    // Lets the first job reach the worker, so that close() meets one running and one queued job
    // (the pool does not say when a job starts; either way both must be rejected).
    await new Promise((r) => setTimeout(r, 20));
    await pool.close();
    expect(await running).toMatchObject({ message: 'worker pool closed' });
    expect(await queued).toMatchObject({ message: 'worker pool closed' });
    await expect(pool.run({ value: 3 })).rejects.toMatchObject({ message: 'worker pool is closed' });
    expect(() => new WorkerPool({ url, size: 0, failure })).toThrow(RangeError);
  });
});
