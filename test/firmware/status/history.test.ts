// The node's hourly history: bounded to 7 days and 50 blocks, the same after a restart (saved and
// read back), and a damaged file reported, set aside and never trusted.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HISTORY_FILE, History, HOUR_MS, MAX_HISTORY_FILE_BYTES, MAX_HOURS, MAX_RECENT_BLOCKS, outcomeWords, readHistoryFile, renderChart, writeHistoryFile, type BlockRecord,
} from '../../../firmware/status/index.ts';

const T0 = Date.UTC(2026, 11, 1, 0, 0, 0);
let dir: string;
let now: number;
const clock = (): number => now;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-history-'));
  now = T0;
});
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

const block = (height: number, over: Partial<BlockRecord> = {}): BlockRecord => ({
  height, hash: height.toString(16).padStart(64, '0'), at: now, verdict: 'not-sealed', code: 'deadline', reason: 'time ran out', rounds: 3,
  bestZeros: 4, zerosNeeded: 6, sealedBy: null, ...over,
});

describe('History', () => {
  it('counts per hour: tested, refused, sealed, rounds and TPM signing time, and the system facts', () => {
    const h = new History(clock);
    h.block(block(1));
    h.block(block(2, { verdict: 'refused', code: 'bad-parent' }));
    h.rounds(3, 30);
    h.sealed();
    h.sample({ tempC: 51.5, memPct: 40, diskPct: 12, uptimeS: 60 });
    h.sample({ tempC: 49, memPct: 44, diskPct: 13, uptimeS: 120 });
    now += HOUR_MS;
    h.block(block(3));
    const d = h.data();
    expect(d.hours).toHaveLength(2);
    expect(d.hours[0]).toEqual({ hour: T0, tested: 2, refused: 1, sealed: 1, rounds: 3, signMs: 30, tempC: 51.5, memPct: 44, diskPct: 13, uptimeS: 120 });
    expect(d.hours[1]).toMatchObject({ hour: T0 + HOUR_MS, tested: 1, sealed: 0 });
    expect(d.totals).toEqual({ tested: 3, sealed: 1, rounds: 3 });
    expect(h.countSince(T0 + HOUR_MS)).toEqual({ tested: 1, sealed: 0 });
    expect(h.figures()).toEqual({ blocksTested: 3, blocksSealed: 1, spinRounds: 3, tpmSignMs: null });
    h.rounds(4, 50);
    expect(h.figures().tpmSignMs).toBe(12.5);
  });

  it('keeps 7 days of hours and the last 50 blocks, whatever runs through it', () => {
    const h = new History(clock);
    for (let i = 0; i < 400; i++) {
      h.block(block(i));
      now += HOUR_MS;
    }
    const d = h.data();
    expect(d.hours.length).toBeLessThanOrEqual(MAX_HOURS);
    expect(d.hours[0]!.hour).toBeGreaterThanOrEqual(now - MAX_HOURS * HOUR_MS);
    expect(d.blocks).toHaveLength(MAX_RECENT_BLOCKS);
    expect(d.blocks.at(-1)!.height).toBe(399);
    expect(d.totals.tested).toBe(400);
    // a week-long gap leaves nothing older than a week
    now += 30 * 24 * HOUR_MS;
    expect(new History(clock, h.data()).data().hours).toEqual([]);
  });

  it('a clock set back counts into an hour already kept, never out of order', () => {
    const h = new History(clock);
    now = T0 + 5 * HOUR_MS;
    h.block(block(1));
    now = T0 + 2 * HOUR_MS;
    h.block(block(2));
    const hours = h.data().hours;
    expect(hours.map((x) => x.hour)).toEqual([T0 + 5 * HOUR_MS]);
    expect(hours[0]!.tested).toBe(2);
  });

  it('names who sealed a block this node lost: the best rival seal, then the final block', () => {
    const h = new History(clock);
    const b = block(7);
    h.block(b);
    h.sealSeen(b.hash, 'node-b', 3);
    h.sealSeen(b.hash, 'node-c', 1);
    h.sealSeen(b.hash, 'node-d', 2);
    expect(h.data().blocks[0]!.sealedBy).toEqual({ nodeId: 'node-c', round: 1 });
    h.final(b.hash, ['node-c', 'node-b']);
    expect(h.data().blocks[0]!.sealedBy).toEqual({ nodeId: 'node-c', round: 1 });
    h.final(b.hash, ['node-e']);
    expect(h.data().blocks[0]!.sealedBy).toEqual({ nodeId: 'node-e', round: null });
  });

  it('says each spin outcome in plain words, with the zero bits needed', () => {
    expect(outcomeWords({ outcome: 'deadline', rounds: 3 }, 6)).toBe('time ran out after 3 rounds: no ticket reached 6 zero bits');
    expect(outcomeWords({ outcome: 'better-seal', rounds: 1 }, 6)).toBe("another node's ticket came first (after 1 round)");
    expect(outcomeWords({ outcome: 'aborted', rounds: 2, reason: 'final' }, 6)).toMatch(/finalized the block/);
    expect(outcomeWords({ outcome: 'sealed', rounds: 2, round: 1 }, 6)).toBe('sealed in round 1');
  });
});

describe('charts', () => {
  const line = (values: (number | null)[]): string => /<path class="s1 line" d="([^"]*)"/.exec(renderChart({
    id: 'c', title: 't', unit: '%', kind: 'line', series: [{ values, label: '%', tone: 's1' }], from: 'a', to: 'b',
  }))?.[1] ?? '(no line)';

  it('draws a point with no neighbour (the first hour of a history) as a tick, not an invisible lone move', () => {
    expect(line([null, null, 40])).toMatch(/^M[\d.]+ [\d.]+h[\d.]+$/);
    expect(line([40, null, 50])).toMatch(/^M[\d.]+ [\d.]+h[\d.]+M[\d.]+ [\d.]+h[\d.]+$/);
    expect(line([40, 50, null])).toMatch(/^M[\d.]+ [\d.]+L[\d.]+ [\d.]+$/);
    expect(line([null, null])).toBe('(no line)');
  });
});

describe('history.json', () => {
  it('survives a restart: saved whole, read back the same', async () => {
    const h = new History(clock);
    for (let i = 0; i < 60; i++) { h.block(block(i)); h.rounds(2, 14); now += 7 * 60_000; }
    h.sample({ tempC: 48.2, memPct: 37.5, diskPct: 21.3, uptimeS: 25_200 });
    const bytes = await writeHistoryFile(dir, h.data(), now);
    expect((await stat(join(dir, HISTORY_FILE))).size).toBe(bytes);
    const read = await readHistoryFile(dir);
    expect(read.problem).toBeNull();
    const again = new History(clock, read.data);
    expect(again.data()).toEqual(h.data());
    expect(again.figures()).toEqual(h.figures());
  });

  it('stays small at its bounds: 7 days of full hours and 50 blocks fit well under the cap', async () => {
    const h = new History(clock);
    const long = 'x'.repeat(400);
    for (let i = 0; i < MAX_HOURS; i++) {
      if (i > 0) now += HOUR_MS;
      h.block(block(1_000_000 + i, { reason: long, sealedBy: { nodeId: 'n'.repeat(128), round: 12 } }));
      h.rounds(1_000_000, 9_999_999);
      h.sample({ tempC: 99.9, memPct: 99.9, diskPct: 99.9, uptimeS: 9_999_999 });
    }
    const bytes = await writeHistoryFile(dir, h.data(), now);
    expect(bytes).toBeLessThan(MAX_HISTORY_FILE_BYTES / 2);
    expect((await readHistoryFile(dir)).data?.hours).toHaveLength(MAX_HOURS);
  });

  it('no file: an empty history, no problem', async () => {
    expect(await readHistoryFile(dir)).toEqual({ data: null, problem: null });
  });

  for (const [what, text] of [
    ['not JSON (a write cut short)', '{"version":1,"savedAt":1,"hours":[{"hour":'],
    ['another version', JSON.stringify({ version: 2, savedAt: 1, hours: [], totals: { tested: 0, sealed: 0, rounds: 0 }, blocks: [] })],
    ['a negative count', JSON.stringify({ version: 1, savedAt: 1, hours: [{ hour: T0, tested: -1, refused: 0, sealed: 0, rounds: 0, signMs: 0, tempC: null, memPct: null, diskPct: null, uptimeS: null }], totals: { tested: 0, sealed: 0, rounds: 0 }, blocks: [] })],
    ['hours out of order', JSON.stringify({ version: 1, savedAt: 1, hours: [T0 + HOUR_MS, T0].map((hour) => ({ hour, tested: 0, refused: 0, sealed: 0, rounds: 0, signMs: 0, tempC: null, memPct: null, diskPct: null, uptimeS: null })), totals: { tested: 0, sealed: 0, rounds: 0 }, blocks: [] })],
    ['markup in a block', JSON.stringify({ version: 1, savedAt: 1, hours: [], totals: { tested: 0, sealed: 0, rounds: 0 }, blocks: [{ ...block(1), hash: '<script>' }] })],
    ['too large', JSON.stringify({ version: 1, pad: 'x'.repeat(MAX_HISTORY_FILE_BYTES) })],
  ] as const) {
    it(`a damaged file (${what}) is reported, set aside and replaced, never trusted`, async () => {
      await writeFile(join(dir, HISTORY_FILE), text);
      const read = await readHistoryFile(dir);
      expect(read.data).toBeNull();
      expect(read.problem).toMatch(/history\.json is damaged .*kept as history\.json\.damaged/);
      expect((await readdir(dir)).sort()).toEqual(['history.json.damaged']);
      expect(await readFile(join(dir, 'history.json.damaged'), 'utf8')).toBe(text);
      // the next save is a fresh history that reads back
      const h = new History(clock, read.data, read.problem);
      expect(h.notice).toBe(read.problem);
      h.block(block(1));
      await writeHistoryFile(dir, h.data(), now);
      expect((await readHistoryFile(dir)).data?.totals.tested).toBe(1);
    });
  }
});
