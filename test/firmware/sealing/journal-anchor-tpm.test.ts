// The seal journal anchored in a real TPM counter (swtpm), sealing through the real engine and
// seal signer: an older copy of the state directory put back, then a flipped byte in the last
// record; the same heights fed again with other blocks. No height is sealed with two blocks, the
// journal says what it lost, and tpm2_nvread agrees with the counter values in the records.
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';
import { createSealEngine, type SealEngine } from '../../../firmware/sealing/engine.ts';
import { alwaysActive } from '../../../firmware/sealing/gate.ts';
import { tpmSealCounter } from '../../../firmware/sealing/journal-anchor.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { scanJournal } from '../../../firmware/sealing/journal-record.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { openTpm, type Tpm } from '../../../tpm/tpm.ts';
import { startFixture, tpm2, type SwtpmFixture } from '../../tpm/helpers.ts';
import { CLERK, hashOf } from './helpers.ts';

const PARAMS = { sealZeros: 0, spinIntervalMs: 10, maxRounds: 4, sealDeadlineMs: 1000 };
let fx: SwtpmFixture;
let tpm: Tpm;
const stateDir = (): string => join(fx.dir, 'state');
const path = (): string => join(stateDir(), 'seal-journal');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

beforeAll(async () => {
  fx = await startFixture();
  tpm = await openTpm({ tcti: fx.swtpm.tcti });
  await tpm.ensureSealingKey();
  await tpm.ensureNvCounter();
});
afterAll(async () => {
  await tpm?.close();
  await fx?.destroy();
});

interface Node {
  journal: SealJournal;
  engine: SealEngine;
  close(): Promise<void>;
}

async function start(): Promise<Node> {
  const journal = await openSealJournal(path(), { counter: tpmSealCounter(tpm) });
  const signer = new SealSigner(journal, tpm);
  const engine = createSealEngine({ journal, gate: alwaysActive('n1'), signer, clock: new ManualClock(1_700_000_000_000, { autoAdvance: true }) });
  return { journal, engine, close: async () => { signer.close(); await journal.close(); } };
}

/** Every seal the engine handed out for publishing, by height. */
const published = new Map<number, Set<string>>();

async function spin(node: Node, height: number, label: string): Promise<string> {
  const blockHash = hashOf(label);
  const out = await node.engine.spin({ height, clerk: CLERK, blockHash, receivedAt: 1_700_000_000_000, params: PARAMS });
  if (out.outcome !== 'sealed') return out.outcome === 'refused' ? out.reason : out.outcome;
  const set = published.get(height) ?? new Set<string>();
  set.add(hex(blockHash));
  published.set(height, set);
  return 'sealed';
}

async function tpmCount(): Promise<number> {
  await tpm2('tpm2_nvread', ['-T', fx.swtpm.tcti, '-s', '8', '-o', 'count.bin', '0x1000b70'], { cwd: fx.dir });
  return Number(Buffer.from(await readFile(join(fx.dir, 'count.bin'))).readBigUInt64BE(0));
}

/** The counter value in the journal's last seal record. */
async function lastRecordedCount(): Promise<number> {
  const scan = scanJournal(new Uint8Array(await readFile(path())), path());
  const seals = scan.records.map((r) => r.record).filter((r) => r.k === 's');
  return (seals.at(-1) as { n: number }).n;
}

describe('seal journal on a real TPM counter (swtpm)', () => {
  it('an older state directory and a flipped byte: no height sealed twice, the loss reported, sealing resumes after a final above it', { timeout: 60_000 }, async () => {
    let node = await start();
    const sealChain = async (from: number, to: number): Promise<void> => {
      for (let h = from; h <= to; h++) {
        if (h > 1) await node.journal.setFinalized(h - 1);
        expect(await spin(node, h, `${h}A`)).toBe('sealed');
      }
    };
    await sealChain(1, 2);
    expect(await lastRecordedCount()).toBe(await tpmCount());
    await node.close();
    await cp(stateDir(), join(fx.dir, 'backup'), { recursive: true });
    node = await start();
    await sealChain(3, 5);
    const before = await tpmCount();
    expect(await lastRecordedCount()).toBe(before);
    await node.close();

    // The household puts back last week's copy of the card.
    await rm(stateDir(), { recursive: true });
    await cp(join(fx.dir, 'backup'), stateDir(), { recursive: true });
    node = await start();
    expect(node.journal.rollback).toMatchObject({ counter: before, journalCounter: before - 3, lostSeals: 3, fromHeight: 2, untilHeight: null });
    for (let h = 1; h <= 6; h++) expect(await spin(node, h, `${h}B`)).not.toBe('sealed');
    await node.journal.setFinalized(5);
    expect(node.journal.rollback?.untilHeight).toBe(6);
    expect(await spin(node, 6, '6B')).toBe('lost-records');
    await node.journal.setFinalized(6);
    expect(node.journal.rollback).toBeNull();
    expect(await spin(node, 7, '7B')).toBe('sealed');
    expect(await tpmCount()).toBe(before + 1); // one NV write per published seal, none for the refusals
    await node.journal.setFinalized(7);
    expect(await spin(node, 8, '8B')).toBe('sealed');
    await node.close();

    // A flipped byte in the last (fsynced) seal record.
    const file = await readFile(path());
    const scan = scanJournal(new Uint8Array(file), path());
    file[scan.records.at(-1)!.offset + 20]! ^= 0x10;
    await writeFile(path(), file);
    node = await start();
    expect(node.journal.rollback).toMatchObject({ lostSeals: 1, fromHeight: 8 });
    expect(await spin(node, 8, '8C')).toBe('lost-records');
    await node.journal.setFinalized(8);
    await node.journal.setFinalized(9);
    expect(await spin(node, 10, '10C')).toBe('sealed');
    await node.close();

    for (const [h, blocks] of published) expect(blocks.size, `blocks sealed at height ${h}`).toBe(1);
    expect([...published.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 7, 8, 10]);
  });
});
