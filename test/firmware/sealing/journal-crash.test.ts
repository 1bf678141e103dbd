// Crash safety of the seal journal: a child process making decisions is SIGKILLed at
// random moments; every decision it acknowledged must survive, and no second block can ever be
// recorded for a (height, clerk) once a seal is recorded there. A decision without a seal may
// give way to a re-drawn block (the journal's rule): that slot's last acknowledged block holds.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSealJournal } from '../../../firmware/sealing/journal.ts';
import { tempDir } from './helpers.ts';
import { seededRandom } from '../../seed.ts';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const hash = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(async () => cleanup());

function runAndKill(path: string, seed: number, killAfterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n') && !timer) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let timer: NodeJS.Timeout | undefined;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`child exited ${code} ${signal}: ${err.slice(0, 2000)}`));
      // A line cut by the kill was never completed: ignore a partial last line.
      const lines = out.split('\n');
      lines.pop();
      resolve(lines.filter((l) => l !== 'ready'));
    });
  });
}

describe('seal journal under SIGKILL', () => {
  it('keeps every acknowledged decision across random kills', { timeout: 120_000 }, async () => {
    const path = join(dir, 'seal-journal');
    const decided = new Map<string, string>(); // `${height}/${clerk}` -> variant last acknowledged
    const sealed = new Set<string>(); // slots the child said it sealed
    let total = 0;
    let sealedOnDisk = 0;
    const random = seededRandom('journal crash kills');
    for (let run = 0; run < 6; run++) {
      const lines = await runAndKill(path, 1000 + run * 7919, 150 + Math.floor(random.next() * 500));
      for (const line of lines) {
        const [kind, h, clerk, variant] = line.split(' ');
        const k = `${h}/${clerk}`;
        if (kind === 'ok') {
          total++;
          // Never another block acknowledged for a slot once it was sealed, across all runs.
          if (sealed.has(k)) expect(decided.get(k)).toBe(variant);
          decided.set(k, variant!);
        } else if (kind === 'seal') sealed.add(k);
      }
      const j = await openSealJournal(path);
      try {
        const fin = j.finalizedHeight;
        for (const [k, variant] of decided) {
          const [h, clerk] = k.split('/') as [string, string];
          const height = Number(h);
          const mine = await j.checkAndRecord({ height, clerk, blockHash: hash(`${height}/${clerk}/${variant}`) });
          if (height <= fin) {
            expect(mine).toMatchObject({ ok: false, reason: 'finalized' });
            continue;
          }
          expect(mine.ok).toBe(true);
          if (sealed.has(k) && mine.ok) expect(mine.seal).toBeDefined();
          // Sealed on disk (whether or not the child lived to say so): every other block is refused.
          // Without a seal another block would take the slot by the re-draw rule, so it is not asked.
          if (!mine.ok || mine.seal === undefined) continue;
          sealedOnDisk++;
          for (const other of ['v0', 'v1', 'v2'].filter((v) => v !== variant)) {
            expect(await j.checkAndRecord({ height, clerk, blockHash: hash(`${height}/${clerk}/${other}`) })).toMatchObject({ ok: false, reason: 'conflicting-block' });
          }
        }
      } finally {
        await j.close();
      }
    }
    expect(total).toBeGreaterThan(20);
    expect(sealedOnDisk).toBeGreaterThan(10);
  });
});
