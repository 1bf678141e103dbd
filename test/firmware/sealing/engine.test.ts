import { generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { lotteryKeyOf } from './lottery-key.ts';
import { createSealEngine, type SpinJob, type SpinParams } from '../../../firmware/sealing/engine.ts';
import { alwaysActive, neverActive, type GateState, type SealGate } from '../../../firmware/sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { CLERK, hashOf, sigOf, tempDir } from './helpers.ts';

// Virtual time: sleep() moves the clock instead of waiting.
const fakeClock = (): ManualClock => new ManualClock(1_700_000_000_000, { autoAdvance: true });

let key: KeyObject;
let pub: KeyObject;
let dir: string;
let cleanup: () => Promise<void>;
let journal: SealJournal;
let n = 0;
beforeAll(async () => {
  ({ privateKey: key, publicKey: pub } = generateKeyPairSync('rsa', { modulusLength: 2048 }));
  ({ dir, cleanup } = await tempDir());
});
afterAll(async () => cleanup());
beforeEach(async () => {
  await journal?.close();
  journal = await openSealJournal(join(dir, `j${n++}`));
});

const PARAMS: SpinParams = { sealZeros: 0, spinIntervalMs: 100, maxRounds: 64, sealDeadlineMs: 10_000 };

function setup(opts: { params?: Partial<SpinParams>; gate?: SealGate; signDelayMs?: number } = {}) {
  const clock = fakeClock();
  const calls: { round: number; at: number }[] = [];
  const signer = async (message: Uint8Array): Promise<Uint8Array> => {
    calls.push({ round: new DataView(message.buffer, message.byteOffset).getUint32(32), at: clock.now() });
    clock.tick(opts.signDelayMs ?? 0);
    return new Uint8Array(nodeSign('sha256', message, key));
  };
  const engine = createSealEngine({ journal, gate: opts.gate ?? alwaysActive('n1'), signer: new SealSigner(journal, lotteryKeyOf(signer)), clock });
  const job = (extra: Partial<SpinJob> = {}): SpinJob => ({
    height: 1, clerk: CLERK, blockHash: hashOf('block'), receivedAt: clock.now(), params: { ...PARAMS, ...opts.params }, ...extra,
  });
  return { clock, calls, engine, job };
}

/** First round whose ticket under `key` has at least `zeros` bits (computed independently). */
function firstQualifying(hash: Uint8Array, zeros: number): number {
  for (let r = 0; ; r++) if (scoreTicket(new Uint8Array(nodeSign('sha256', lotteryMessage(hash, r), key)), r).zeros >= zeros) return r;
}

describe('seal engine (docs/lottery.md)', () => {
  it('seals at the first qualifying round, paced by time, and records the seal', async () => {
    const { engine, job, calls, clock } = setup({ params: { sealZeros: 3 } });
    const start = clock.now();
    const expected = firstQualifying(hashOf('block'), 3);
    const out = await engine.spin(job());
    expect(out.outcome).toBe('sealed');
    if (out.outcome !== 'sealed') return;
    expect(out.round).toBe(expected);
    expect(out.zeros).toBeGreaterThanOrEqual(3);
    expect(nodeVerify('sha256', lotteryMessage(hashOf('block'), out.round), pub, out.signature)).toBe(true);
    expect(calls.map((c) => c.round)).toEqual(Array.from({ length: expected + 1 }, (_, i) => i));
    calls.forEach((c) => expect(c.at).toBeGreaterThanOrEqual(start + c.round * 100));
    expect(journal.export().entries[0]?.seal?.round).toBe(expected);
  });

  it('gives a fast signer no extra rounds: rounds before the deadline = deadline / interval', async () => {
    const { engine, job, calls, clock } = setup({ params: { sealZeros: 256, sealDeadlineMs: 1000 } });
    const start = clock.now();
    const out = await engine.spin(job());
    expect(out).toEqual({ outcome: 'deadline', rounds: 10 });
    expect(calls.map((c) => c.at - start)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
  });

  it('runs rounds back to back, never skipping one, when the signer is slower than the interval', async () => {
    const { engine, job, calls, clock } = setup({ params: { sealZeros: 256, sealDeadlineMs: 1000 }, signDelayMs: 250 });
    const start = clock.now();
    const out = await engine.spin(job());
    expect(out).toEqual({ outcome: 'deadline', rounds: 4 });
    expect(calls.map((c) => [c.round, c.at - start])).toEqual([[0, 0], [1, 250], [2, 500], [3, 750]]);
  });

  it('stops after maxRounds', async () => {
    const { engine, job } = setup({ params: { sealZeros: 256, maxRounds: 3 } });
    expect(await engine.spin(job())).toEqual({ outcome: 'max-rounds', rounds: 3 });
  });

  it('stops when a seal of a lower round has been seen for the block', async () => {
    const { engine, job, calls } = setup({ params: { sealZeros: 256 } });
    const best = { round: 1, zeros: 9, ticket: new Uint8Array(32) };
    const out = await engine.spin(job({ bestSeen: () => (calls.length >= 1 ? best : undefined) }));
    expect(out).toMatchObject({ outcome: 'better-seal', best, rounds: 2 }); // round 1 may still tie-break
    expect(calls.map((c) => c.round)).toEqual([0, 1]);
  });

  it('does not record or return its own qualifying seal when a better one was seen', async () => {
    const { engine, job } = setup({ params: { sealZeros: 0 } });
    const best = { round: 0, zeros: 256, ticket: new Uint8Array(32) };
    const out = await engine.spin(job({ bestSeen: () => best }));
    expect(out).toMatchObject({ outcome: 'better-seal', rounds: 1 });
    expect(journal.export().entries[0]?.seal).toBeNull();
  });

  it('stops without another signature when the block is superseded or final', async () => {
    const ac = new AbortController();
    const clock = fakeClock();
    let signed = 0;
    const signer = async (m: Uint8Array): Promise<Uint8Array> => {
      if (++signed === 2) ac.abort('final'); // arrives while the TPM signs round 1
      return new Uint8Array(nodeSign('sha256', m, key));
    };
    const engine = createSealEngine({ journal, gate: alwaysActive('n1'), signer: new SealSigner(journal, lotteryKeyOf(signer)), clock });
    const out = await engine.spin({ height: 1, clerk: CLERK, blockHash: hashOf('b'), receivedAt: clock.now(), params: { ...PARAMS, sealZeros: 256 }, signal: ac.signal });
    expect(out).toEqual({ outcome: 'aborted', reason: 'final', rounds: 2 });
    expect(signed).toBe(2);
    // Aborted before the first signature: none at all.
    const { engine: e2, job, calls } = setup();
    expect(await e2.spin(job({ height: 2, signal: AbortSignal.abort('superseded') }))).toMatchObject({ outcome: 'aborted', rounds: 0 });
    expect(calls).toHaveLength(0);
  });

  it('never signs, nor touches the journal, when the node is not active', async () => {
    const { engine, job, calls } = setup({ gate: neverActive('n1') });
    expect(await engine.spin(job())).toMatchObject({ outcome: 'inactive', state: 'not-activated', rounds: 0 });
    expect(calls).toHaveLength(0);
    expect(journal.export().entries).toHaveLength(0);
  });

  it('checks the gate before every signature: a revocation mid-spin stops it', async () => {
    let state: GateState = { state: 'active', nodeId: 'n1', registration: null };
    const { engine, job, calls } = setup({ params: { sealZeros: 256 }, gate: { current: () => state } });
    const out = await engine.spin(job({ bestSeen: () => { if (calls.length === 3) state = { state: 'revoked', nodeId: 'n1', reason: 'revoked by root' }; return undefined; } }));
    expect(out).toMatchObject({ outcome: 'inactive', state: 'revoked', rounds: 3 });
    expect(calls).toHaveLength(3);
  });

  it('never signs a block the journal refuses', async () => {
    await journal.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('first') });
    await journal.recordSeal({ height: 1, clerk: CLERK, blockHash: hashOf('first'), round: 0, signature: sigOf('first') });
    const { engine, job, calls } = setup();
    expect(await engine.spin(job())).toMatchObject({ outcome: 'refused', reason: 'conflicting-block' });
    await journal.setFinalized(5);
    expect(await engine.spin(job({ height: 3 }))).toMatchObject({ outcome: 'refused', reason: 'finalized' });
    expect(calls).toHaveLength(0);
  });

  it('a spin that ended without a seal gives way to a re-drawn block at its (height, clerk)', async () => {
    const { engine, job, calls } = setup({ params: { sealZeros: 256, sealDeadlineMs: 300 } });
    expect(await engine.spin(job({ blockHash: hashOf('first draw') }))).toMatchObject({ outcome: 'deadline' });
    const signedBefore = calls.length;
    const out = await engine.spin(job({ blockHash: hashOf('second draw'), params: { ...PARAMS, sealZeros: 0 } }));
    expect(out).toMatchObject({ outcome: 'sealed', round: 0, reused: false });
    expect(calls.length).toBe(signedBefore + 1);
    // Sealed now: the first draw (or any other block) is refused at that slot from here on.
    expect(await engine.spin(job({ blockHash: hashOf('first draw') }))).toMatchObject({ outcome: 'refused', reason: 'conflicting-block' });
    expect(journal.export().entries).toEqual([expect.objectContaining({ height: 1, blockHash: Buffer.from(hashOf('second draw')).toString('hex'), seal: expect.objectContaining({ round: 0 }) })]);
  });

  it('a block re-drawn while the first still spins takes the slot: the first spin stops unsealed, its signatures unrecorded', async () => {
    const clock = fakeClock();
    const rounds: number[] = [];
    // The re-drawn block is recorded while the TPM signs round 2 of the first.
    const signer = async (message: Uint8Array): Promise<Uint8Array> => {
      rounds.push(new DataView(message.buffer, message.byteOffset).getUint32(32));
      if (rounds.length === 3) expect((await journal.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('second draw') })).ok).toBe(true);
      return new Uint8Array(nodeSign('sha256', message, key));
    };
    const engine = createSealEngine({ journal, gate: alwaysActive('n1'), signer: new SealSigner(journal, lotteryKeyOf(signer)), clock });
    const out = await engine.spin({ height: 1, clerk: CLERK, blockHash: hashOf('first draw'), receivedAt: clock.now(), params: { ...PARAMS, sealZeros: 256 } });
    // The signer refuses the superseded decision before the key is used again.
    expect(out).toMatchObject({ outcome: 'failed', code: 'ERR_SEAL_UNRECORDED', rounds: 3 });
    expect(rounds).toEqual([0, 1, 2]);
    expect(journal.export().entries).toEqual([expect.objectContaining({ blockHash: Buffer.from(hashOf('second draw')).toString('hex'), seal: null })]);
  });

  it('a seal whose slot a re-drawn block took between signature and record is dropped (aborted), never returned', async () => {
    const clock = fakeClock();
    const signer = async (message: Uint8Array): Promise<Uint8Array> => {
      const signature = new Uint8Array(nodeSign('sha256', message, key));
      // The re-drawn block is recorded after this qualifying signature was made, before its record.
      void journal.checkAndRecord({ height: 1, clerk: CLERK, blockHash: hashOf('second draw') });
      return signature;
    };
    const engine = createSealEngine({ journal, gate: alwaysActive('n1'), signer: new SealSigner(journal, lotteryKeyOf(signer)), clock });
    const out = await engine.spin({ height: 1, clerk: CLERK, blockHash: hashOf('first draw'), receivedAt: clock.now(), params: PARAMS });
    expect(out).toMatchObject({ outcome: 'aborted', reason: expect.stringMatching(/superseded/) });
    expect(journal.export().entries).toEqual([expect.objectContaining({ blockHash: Buffer.from(hashOf('second draw')).toString('hex'), seal: null })]);
  });

  it('returns the recorded seal for the same block without signing again', async () => {
    const a = setup({ params: { sealZeros: 2 } });
    const first = await a.engine.spin(a.job());
    const b = setup({ params: { sealZeros: 2 } });
    const again = await b.engine.spin(b.job());
    expect(b.calls).toHaveLength(0);
    expect(again).toMatchObject({ outcome: 'sealed', reused: true });
    if (first.outcome === 'sealed' && again.outcome === 'sealed') {
      expect(again.signature).toEqual(first.signature);
      expect(again.round).toBe(first.round);
    }
  });

  it('reports a failing signer as a typed outcome', async () => {
    const clock = fakeClock();
    const engine = createSealEngine({ journal, gate: alwaysActive('n1'), signer: new SealSigner(journal, lotteryKeyOf(() => Promise.reject(Object.assign(new Error('TPM gone'), { code: 'ERR_TPM_IO' })))), clock });
    expect(await engine.spin({ height: 1, clerk: CLERK, blockHash: hashOf('b'), receivedAt: clock.now(), params: PARAMS })).toMatchObject({ outcome: 'failed', code: 'ERR_TPM_IO' });
  });
});
