// SD-card wear of the node's history: a simulated day on a clock of its own (a candidate every
// 30 s, a seal in 20, the system sampled every minute as node-history.ts does), saved as the node
// saves it (history-file.ts: whole, temp file + fsync + rename, at most every HISTORY_SAVE_MS and
// only when something changed), against the baseline of writing the same state as a plain JSON
// file at every sample (writeFile, once a minute). Both write real files into a temp directory.
// Figures per hour over the day: writes, bytes, and 4 KiB pages (what the card rewrites at least).
// On the device an unsynced write a minute apart still reaches the card: the kernel writes dirty
// pages back after 30 s at most.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HISTORY_SAMPLE_MS, HISTORY_SAVE_MS } from '../../firmware/node/node-history.ts';
import { HISTORY_VERSION } from '../../firmware/status/history-file.ts';
import { History, HISTORY_FILE, HOUR_MS, writeHistoryFile } from '../../firmware/status/index.ts';
import { fullWeek } from './page.bench.ts';
import { withBaseline, type BenchSuite } from './report.ts';

const CANDIDATE_MS = 30_000;
const PAGE = 4096;

interface Tally { writes: number; bytes: number; pages: number }
const tally = (): Tally => ({ writes: 0, bytes: 0, pages: 0 });
const add = (t: Tally, bytes: number): void => { t.writes++; t.bytes += bytes; t.pages += Math.ceil(bytes / PAGE); };

export const run: BenchSuite = async (report, { quick }) => {
  const hours = quick ? 6 : 24;
  const dir = await mkdtemp(join(tmpdir(), 'btn-history-bench-'));
  const ours = tally();
  const plain = tally();
  try {
    const start = Math.floor(Date.now() / (24 * HOUR_MS)) * 24 * HOUR_MS;
    const end = start + hours * HOUR_MS;
    let now = start;
    const history = new History(() => now);
    let nextSave = start + HISTORY_SAVE_MS;
    let height = 1;
    const t0 = performance.now();
    // One step per candidate slot; a sample on each full minute, a save when its time has come.
    for (; now < end; now += CANDIDATE_MS) {
      const rounds = 1 + (height % 5);
      history.rounds(rounds, rounds * 180);
      history.block({
        height, hash: height.toString(16).padStart(64, '0'), at: now, verdict: height % 20 === 0 ? 'sealed' : 'not-sealed', code: 'better-seal',
        reason: 'another node sealed first', rounds, bestZeros: 4, zerosNeeded: 6, sealedBy: { nodeId: 'f6e5d4c3b2a1', round: 1 },
      });
      if (height % 20 === 0) history.sealed();
      height++;
      if ((now - start) % HISTORY_SAMPLE_MS === 0) {
        history.sample({ tempC: 51.5, memPct: 33.2, diskPct: 12.5, uptimeS: Math.floor((now - start) / 1000) });
        // the baseline: the same state, a plain JSON file at every sample
        const text = JSON.stringify({ version: HISTORY_VERSION, savedAt: now, ...history.data() }) + '\n';
        await writeFile(join(dir, `plain-${HISTORY_FILE}`), text);
        add(plain, Buffer.byteLength(text));
      }
      if (now >= nextSave) {
        nextSave += HISTORY_SAVE_MS;
        if (history.changes > 0) {
          const data = history.data();
          history.markSaved();
          add(ours, await writeHistoryFile(dir, data, now));
        }
      }
    }
    const wallMs = performance.now() - t0;
    const perHour = (n: number): number => Number((n / hours).toFixed(1));
    const base = 'plain JSON file at every sample (1/min)';
    report(withBaseline(`history writes per hour (simulated ${hours} h, save every ${HISTORY_SAVE_MS / 60_000} min)`, perHour(ours.writes), 'writes/h', base, perHour(plain.writes)));
    report(withBaseline('history bytes written per hour', perHour(ours.bytes), 'bytes/h', base, perHour(plain.bytes)));
    report(withBaseline('history 4 KiB pages written per hour', perHour(ours.pages), 'pages/h', base, perHour(plain.pages)));
    report({ name: `history.json after ${hours} h`, value: Buffer.byteLength(JSON.stringify({ version: HISTORY_VERSION, savedAt: now, ...history.data() }) + '\n'), unit: 'bytes' });
    report({ name: 'history.json at its bound (7 days of hours, 50 blocks)', value: await writeHistoryFile(dir, fullWeek(end).data(), end), unit: 'bytes' });
    report({ name: `simulated ${hours} h, wall time (both writers, real files)`, value: Number(wallMs.toFixed(0)), unit: 'ms' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
