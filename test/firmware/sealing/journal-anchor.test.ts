// The journal anchored in the TPM seal counter, with an in-memory counter: storage damaged as an
// SD card damages it (cut at a record boundary, cut mid-record, a flipped byte in the last
// record, an older copy of the whole state directory), then the same heights fed again with
// different blocks. Never two different blocks sealed at one height; the journal says what it
// lost and from which final block on it seals again.
import { cp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import type { JournalRollback } from '../../../firmware/sealing/journal-anchor.ts';
import { describeRollback } from '../../../firmware/sealing/journal-anchor.ts';
import type { SealingError } from '../../../firmware/sealing/errors.ts';
import { encodeRecord, scanJournal } from '../../../firmware/sealing/journal-record.ts';
import { CLERK, FakeCounter, hashOf, sigOf, tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => Promise<void>;
let counter: FakeCounter;
let opened: SealJournal[] = [];
const stateDir = (): string => join(dir, 'state');
const path = (): string => join(stateDir(), 'seal-journal');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function openJ(): Promise<SealJournal> {
  const j = await openSealJournal(path(), { counter });
  opened.push(j);
  return j;
}

async function closeAll(): Promise<void> {
  for (const j of opened.splice(0)) await j.close();
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  counter = new FakeCounter();
});
afterEach(async () => {
  await closeAll();
  await cleanup();
});

/** Every seal the node published (recordSeal returned), by height: what the network saw. */
const published = new Map<number, Set<string>>();
beforeEach(() => published.clear());

/** One candidate as the agent takes it up: decide, sign (any round), record, publish. */
async function seal(j: SealJournal, height: number, label: string): Promise<string> {
  const blockHash = hashOf(label);
  const r = await j.checkAndRecord({ height, clerk: CLERK, blockHash });
  if (!r.ok) return r.reason;
  if (r.seal === undefined) await j.recordSeal({ height, clerk: CLERK, blockHash, round: 0, signature: sigOf(label) });
  const set = published.get(height) ?? new Set<string>();
  set.add(hex(blockHash));
  published.set(height, set);
  return 'sealed';
}

/** A chain in which block h-1 is final when the candidate at h arrives; the node seals 1..n. */
async function sealChain(j: SealJournal, from: number, to: number, variant = 'A'): Promise<void> {
  for (let h = from; h <= to; h++) {
    if (h > 1) await j.setFinalized(h - 1);
    expect(await seal(j, h, `${h}${variant}`)).toBe('sealed');
  }
}

function expectNoDoubleSeal(): void {
  for (const [h, blocks] of published) expect(blocks.size, `blocks sealed at height ${h}`).toBe(1);
}

/** After the damage: the journal reports the loss; the same heights with other blocks are never sealed; it resumes after a final above them. */
async function feedAgain(j: SealJournal, lastSealed: number): Promise<JournalRollback> {
  const lost = j.rollback;
  expect(lost).not.toBeNull();
  for (let h = 1; h <= lastSealed + 1; h++) expect(await seal(j, h, `${h}B`)).not.toBe('sealed');
  // The chain as the node hears of it after the restart: block `lastSealed` is final now.
  await j.setFinalized(lastSealed);
  expect(j.rollback?.untilHeight).toBe(lastSealed + 1);
  expect(describeRollback(j.rollback!)).toMatch(new RegExp(`sealing resumes after the final block at height ${lastSealed + 1}`));
  expect(await seal(j, lastSealed + 1, `${lastSealed + 1}B`)).toBe('lost-records');
  await j.setFinalized(lastSealed + 1);
  expect(j.rollback).toBeNull();
  expect(await seal(j, lastSealed + 2, `${lastSealed + 2}B`)).toBe('sealed');
  expectNoDoubleSeal();
  return lost!;
}

/** The file's data without the preallocated zeros, and the offsets where its records start. */
async function records(): Promise<{ data: Buffer; offsets: number[] }> {
  const file = await readFile(path());
  const scan = scanJournal(new Uint8Array(file), path());
  return { data: file.subarray(0, scan.validEnd), offsets: scan.records.map((r) => r.offset) };
}

describe('seal journal anchored in the seal counter: damage as an SD card does it', () => {
  it('counts once per seal record, not per attempt or re-publication, and carries the value in the record', async () => {
    const j = await openJ();
    await j.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('attempt') }); // an attempt: no increment
    expect(counter.increments).toBe(0);
    await sealChain(j, 1, 3);
    expect(counter.increments).toBe(3);
    expect(await seal(j, 3, '3A')).toBe('sealed'); // the recorded seal again: no increment
    expect(counter.increments).toBe(3);
    const { data, offsets } = await records();
    const last = JSON.parse(data.subarray(offsets.at(-1)! + 12).toString('utf8')) as { k: string; n: number };
    expect(last).toMatchObject({ k: 's', n: counter.value });
    await closeAll();
    expect((await openJ()).rollback).toBeNull();
  });

  it('truncated at a record boundary (the last seal record gone)', async () => {
    await sealChain(await openJ(), 1, 5);
    await closeAll();
    const { offsets } = await records();
    await truncate(path(), offsets.at(-1)!);
    const lost = await feedAgain(await openJ(), 5);
    expect(lost).toMatchObject({ lostSeals: 1, counter: counter.value! - 1, fromHeight: 5 });
  });

  it('cut in the middle of the file (mid-record)', async () => {
    await sealChain(await openJ(), 1, 5);
    await closeAll();
    const { data } = await records();
    await truncate(path(), Math.floor(data.length * 0.6));
    const lost = await feedAgain(await openJ(), 5);
    expect(lost.lostSeals).toBeGreaterThanOrEqual(2);
    expect(lost.fromHeight).toBeLessThanOrEqual(4);
  });

  it('a flipped byte in the last record (an fsynced seal the card lost)', async () => {
    await sealChain(await openJ(), 1, 5);
    await closeAll();
    const { offsets } = await records();
    const file = await readFile(path());
    file[offsets.at(-1)! + 20]! ^= 0x04;
    await writeFile(path(), file);
    const lost = await feedAgain(await openJ(), 5);
    expect(lost).toMatchObject({ lostSeals: 1, fromHeight: 5 });
  });

  it('an older copy of the whole state directory put back', async () => {
    let j = await openJ();
    await sealChain(j, 1, 2);
    await closeAll();
    await cp(stateDir(), join(dir, 'backup'), { recursive: true });
    j = await openJ();
    await sealChain(j, 3, 6);
    await closeAll();
    await rm(stateDir(), { recursive: true });
    await cp(join(dir, 'backup'), stateDir(), { recursive: true });
    const lost = await feedAgain(await openJ(), 6);
    expect(lost).toMatchObject({ lostSeals: 4, fromHeight: 2 });
  });

  it('the journal deleted, or a copy from before the first seal: everything from height 0 is blocked until a final block', async () => {
    await sealChain(await openJ(), 1, 3);
    await closeAll();
    await rm(stateDir(), { recursive: true });
    const lost = await feedAgain(await openJ(), 3);
    expect(lost).toMatchObject({ lostSeals: null, journalCounter: null, fromHeight: 0 });
  });

  it('a restart before the loss is over reports it again; after it is over, a restart is clean', async () => {
    await sealChain(await openJ(), 1, 4);
    await closeAll();
    const { offsets } = await records();
    await truncate(path(), offsets.at(-1)!);
    let j = await openJ();
    await j.setFinalized(4);
    await closeAll();
    j = await openJ();
    expect(j.rollback).toMatchObject({ lostSeals: 1, untilHeight: null });
    expect(await seal(j, 5, '5B')).toBe('lost-records');
    await j.setFinalized(9); // a node catching up: the ceiling follows the newest final it hears of
    expect(j.rollback?.untilHeight).toBe(10);
    await j.setFinalized(10);
    expect(j.rollback).toBeNull();
    await closeAll();
    j = await openJ();
    expect(j.rollback).toBeNull();
    expect(await seal(j, 11, '11A')).toBe('sealed');
  });

  it('a finality jump while lost raises the ceiling: an old final replayed first does not open the newest heights', async () => {
    await sealChain(await openJ(), 1, 3);
    await closeAll();
    const { offsets } = await records();
    await truncate(path(), offsets.at(-1)!);
    const j = await openJ();
    await j.setFinalized(3); // an old (genuine) final block replayed first
    await j.setFinalized(20); // the newest
    expect(j.rollback?.untilHeight).toBe(21);
    expect(await seal(j, 21, '21B')).toBe('lost-records');
    await j.setFinalized(21);
    expect(await seal(j, 22, '22B')).toBe('sealed');
  });

  it('a torn last record is dropped silently only when the counter shows it was never acknowledged', async () => {
    const j = await openJ();
    await sealChain(j, 1, 2);
    await j.checkAndRecord({ height: 3, clerk: CLERK, blockHash: hashOf('3A') }); // a decision, no counter
    await closeAll();
    const { data, offsets } = await records();
    // A power cut in the middle of the last (decision) append: the counter is where the intact records leave it.
    await writeFile(path(), data.subarray(0, offsets.at(-1)! + 7));
    const k = await openJ();
    expect(k.rollback).toBeNull();
    expect(k.export().entries.map((e) => e.height)).toEqual([1, 2]);
  });

  it('a power cut between the counter increment and the seal record reads as lost records (the conservative side)', async () => {
    const j = await openJ();
    await sealChain(j, 1, 2);
    await j.setFinalized(2);
    await j.checkAndRecord({ height: 3, clerk: CLERK, blockHash: hashOf('3A') });
    counter.failNext = true; // counted by the TPM, the answer lost
    await expect(j.recordSeal({ height: 3, clerk: CLERK, blockHash: hashOf('3A'), round: 0, signature: sigOf('3A') })).rejects.toMatchObject({ code: 'ERR_JOURNAL_COUNTER' });
    await closeAll();
    const k = await openJ();
    expect(k.rollback).toMatchObject({ lostSeals: 1, fromHeight: 3 });
    expect(await seal(k, 3, '3B')).toBe('lost-records');
  });

  it('refuses to start on a journal ahead of the counter (another TPM, or a cleared one)', async () => {
    await sealChain(await openJ(), 1, 2);
    await closeAll();
    for (const value of [null, counter.value! - 1]) {
      counter.value = value;
      const err = await openSealJournal(path(), { counter }).then(() => null, (e: unknown) => e as SealingError);
      expect(err?.code).toBe('ERR_JOURNAL_ANCHOR');
      expect(err?.message).toMatch(/belongs to another TPM, or this TPM was cleared/);
    }
  });

  it('compaction keeps the counter value, so a compacted journal is still in step', async () => {
    const j = await openJ();
    await sealChain(j, 1, 3);
    for (let h = 4; h < 30; h++) await j.setFinalized(h);
    await j.compact({ retainBelowWatermark: 0 });
    expect(j.export().entries).toHaveLength(0);
    await closeAll();
    const k = await openJ();
    expect(k.rollback).toBeNull();
    // A record without the counter value (an older journal, or an import) reads as an 'a'-less one.
    await k.close();
    opened = [];
    const { data } = await records();
    await writeFile(path(), Buffer.concat([data, Buffer.from(encodeRecord({ k: 'f', h: 31 }))]));
    expect((await openJ()).rollback).toBeNull();
  });
});
