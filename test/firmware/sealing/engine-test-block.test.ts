// Header-first sealing in the engine: a block spun on from its header is tested in full (testBlock)
// only once a ticket qualifies, and before the seal is recorded; a block that fails the test, or a
// spin stopped during it, leaves no seal behind.
import { generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';
import { createSealEngine, type BlockTest, type SpinJob, type SpinParams } from '../../../firmware/sealing/engine.ts';
import { alwaysActive } from '../../../firmware/sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { CLERK, hashOf, tempDir } from './helpers.ts';
import { lotteryKeyOf } from './lottery-key.ts';

let key: KeyObject;
let dir: string;
let cleanup: () => Promise<void>;
let journal: SealJournal;
let n = 0;
beforeAll(async () => {
  ({ privateKey: key } = generateKeyPairSync('rsa', { modulusLength: 2048 }));
  ({ dir, cleanup } = await tempDir());
});
afterAll(async () => cleanup());
beforeEach(async () => {
  await journal?.close();
  journal = await openSealJournal(join(dir, `j${n++}`));
});

const PARAMS: SpinParams = { sealZeros: 0, spinIntervalMs: 100, maxRounds: 8, sealDeadlineMs: 10_000 };

function setup() {
  const clock = new ManualClock(1_700_000_000_000, { autoAdvance: true });
  const signed: number[] = [];
  const signer = async (message: Uint8Array): Promise<Uint8Array> => {
    signed.push(clock.now());
    return new Uint8Array(nodeSign('sha256', message, key));
  };
  const engine = createSealEngine({ journal, gate: alwaysActive('n1'), signer: new SealSigner(journal, lotteryKeyOf(signer)), clock });
  const job = (extra: Partial<SpinJob> = {}): SpinJob => ({ height: 1, clerk: CLERK, blockHash: hashOf('header-first'), receivedAt: clock.now(), params: PARAMS, ...extra });
  return { engine, job, signed };
}

describe('seal engine: testBlock (header-first)', () => {
  it('asks once, after the qualifying ticket and before the seal is recorded; ok seals', async () => {
    const { engine, job, signed } = setup();
    const asked: number[] = [];
    const out = await engine.spin(job({ testBlock: async () => { asked.push(signed.length); return { ok: true }; } }));
    expect(out).toMatchObject({ outcome: 'sealed', round: 0, reused: false });
    expect(asked).toEqual([1]); // after the one signature
    expect(journal.holds({ height: 1, clerk: CLERK, blockHash: hashOf('header-first') })).toBe(true);
  });

  it('a block that fails its test is refused with the test\'s reason and no seal is recorded', async () => {
    const { engine, job } = setup();
    const refused: BlockTest = { ok: false, code: 'body-mismatch', message: 'body hashes to something else' };
    const out = await engine.spin(job({ testBlock: async () => refused }));
    expect(out).toEqual({ outcome: 'refused', reason: 'untested', code: 'body-mismatch', message: 'body hashes to something else' });
    // No seal was kept: the same block spun again is signed afresh, not a seal reused.
    const again = await engine.spin(job({ testBlock: async () => ({ ok: true }) }));
    expect(again).toMatchObject({ outcome: 'sealed', reused: false });
  });

  it('is never asked when no ticket qualifies', async () => {
    const { engine, job } = setup();
    let asked = 0;
    const out = await engine.spin(job({ params: { ...PARAMS, sealZeros: 256, maxRounds: 3 }, testBlock: async () => { asked++; return { ok: true }; } }));
    expect(out.outcome).toBe('max-rounds');
    expect(asked).toBe(0);
  });

  it('a spin stopped while the body is being fetched seals nothing', async () => {
    const { engine, job } = setup();
    const controller = new AbortController();
    const out = await engine.spin(job({ signal: controller.signal, testBlock: async () => { controller.abort('final'); return { ok: true }; } }));
    expect(out).toMatchObject({ outcome: 'aborted', reason: 'final' });
    const again = await engine.spin(job({ testBlock: async () => ({ ok: true }) }));
    expect(again).toMatchObject({ outcome: 'sealed', reused: false });
  });
});
