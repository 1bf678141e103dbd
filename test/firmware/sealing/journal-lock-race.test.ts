// Two processes open one seal journal at the same instant, hundreds of times, each time over a
// lock file that names a dead process (what every crash leaves): exactly one holds the journal
// in every trial, and the other's refusal names the holder. A holder killed with SIGKILL leaves
// the journal free at once for the next process.
import { fork, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootId } from '../../../firmware/core/process.ts';
import { tempDir } from './helpers.ts';

const CHILD = fileURLToPath(new URL('./journal-lock-contender.ts', import.meta.url));
const TRIALS = Number(process.env['BTN_LOCK_RACE_TRIALS'] ?? 300);
/** How far ahead the shared start instant is set: room for the order to reach every contender. */
const LEAD_MS = 8;

interface Result { readonly trial: number; readonly pid: number; readonly startedAt: number; readonly held: boolean; readonly code?: string; readonly message?: string }

/** One contender process and the messages it sent that nobody took yet. */
class Contender {
  readonly child: ChildProcess;
  readonly exited: Promise<NodeJS.Signals | number | null>;
  #inbox: { kind: string }[] = [];
  #waiting: { kind: string; resolve: (m: never) => void }[] = [];
  #stderr = '';

  constructor() {
    this.child = fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()).slice(-4000));
    this.child.on('message', (m: { kind: string }) => {
      const i = this.#waiting.findIndex((w) => w.kind === m.kind);
      if (i < 0) this.#inbox.push(m);
      else this.#waiting.splice(i, 1)[0]!.resolve(m as never);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(signal ?? code)));
  }

  next<T>(kind: string): Promise<T> {
    const i = this.#inbox.findIndex((m) => m.kind === kind);
    if (i >= 0) return Promise.resolve(this.#inbox.splice(i, 1)[0] as T);
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ kind, resolve: resolve as (m: never) => void });
      void this.exited.then((how) => reject(new Error(`contender exited (${how}) waiting for ${kind}: ${this.#stderr}`)));
    });
  }

  async open(trial: number, path: string, at: number): Promise<Result> {
    this.child.send({ kind: 'open', trial, path, at });
    return this.next<Result>('result');
  }

  async close(): Promise<void> {
    this.child.send({ kind: 'close' });
    await this.next('closed');
  }
}

const now = (): number => performance.timeOrigin + performance.now();
/** The lock file a crashed node left: its pid no longer runs. */
const deadHolder = (): string => JSON.stringify({ pid: 4_194_000, host: hostname(), bootId: bootId(), createdAt: 0 });

let dir: string;
let cleanup: () => Promise<void>;
const pool: Contender[] = [];
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  pool.push(new Contender(), new Contender());
  await Promise.all(pool.map((c) => c.next('ready')));
}, 60_000);
afterAll(async () => {
  for (const c of pool) c.child.kill('SIGKILL');
  await Promise.all(pool.map((c) => c.exited));
  await cleanup();
});

describe('the seal journal lock between processes', () => {
  it(`${TRIALS} trials of two processes opening one journal at once: exactly one holds it, the other is told who`, { timeout: 120_000 }, async () => {
    const path = join(dir, 'seal-journal');
    const holders = new Map<number, number>();
    const misnamed: string[] = [];
    const skews: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      await writeFile(`${path}.lock`, deadHolder());
      const at = now() + LEAD_MS;
      const results = await Promise.all(pool.map((c) => c.open(trial, path, at)));
      skews.push(Math.abs(results[0]!.startedAt - results[1]!.startedAt));
      const won = results.filter((r) => r.held);
      holders.set(won.length, (holders.get(won.length) ?? 0) + 1);
      for (const lost of results.filter((r) => !r.held)) {
        const winner = won[0]?.pid ?? -1;
        if (lost.code !== 'ERR_JOURNAL_LOCKED' || !lost.message?.includes(`held by pid ${winner} (`) || !lost.message.includes('journal-lock-contender')) {
          misnamed.push(`trial ${trial}: ${lost.code} ${lost.message}`);
        }
      }
      await Promise.all(pool.filter((_, i) => results[i]!.held).map((c) => c.close()));
    }
    // How close the two starts were (a figure for the record, not a check: wall-clock time).
    skews.sort((a, b) => a - b);
    const within = (ms: number): number => skews.filter((s) => s <= ms).length;
    console.log(`journal lock race: ${TRIALS} trials, holders per trial ${JSON.stringify(Object.fromEntries([...holders].sort(([a], [b]) => a - b)))}, `
      + `refusals not naming the holder ${misnamed.length}; starts apart: median ${skews[skews.length >> 1]!.toFixed(3)} ms, within 0.1 ms ${within(0.1)}, within 1 ms ${within(1)}`);
    expect(Object.fromEntries(holders)).toEqual({ 1: TRIALS });
    expect(misnamed.slice(0, 5)).toEqual([]);
  });

  it('a holder killed with SIGKILL leaves the journal free at once: the next process holds it without any takeover', { timeout: 60_000 }, async () => {
    const path = join(dir, 'killed');
    for (let kill = 0; kill < 3; kill++) {
      const [victim, next] = pool as [Contender, Contender];
      expect((await victim.open(kill, path, 0)).held).toBe(true);
      expect((await next.open(kill, path, 0)).held).toBe(false); // held while it lives
      victim.child.kill('SIGKILL');
      await victim.exited;
      // The file still names the dead holder: nothing cleaned up, nothing to take over.
      expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: victim.child.pid });
      expect((await next.open(kill, path, 0))).toMatchObject({ held: true });
      await next.close();
      // The survivor goes first next time; a fresh process takes the victim's place.
      const fresh = new Contender();
      await fresh.next('ready');
      pool.splice(0, 2, next, fresh);
    }
  });
});
