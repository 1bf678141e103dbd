// The seal signer is the only path to a lottery signature: it signs only what the journal holds.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lotteryMessage } from '../../../firmware/protocol/chain/lottery.ts';
import { createSealEngine } from '../../../firmware/sealing/engine.ts';
import { alwaysActive } from '../../../firmware/sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
let dir: string;
let journal: SealJournal;
let signed: Uint8Array[] = [];
let signer: SealSigner;
const key = { sign: async (m: Uint8Array): Promise<Uint8Array> => { signed.push(m); return new Uint8Array(sign('sha256', m, privateKey)); } };
const CLERK = 'c'.repeat(64);
const block = (b: number): Uint8Array => new Uint8Array(32).fill(b);

// A journal of its own per test: one test's finalized height must not decide another's outcome.
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-seal-signer-'));
});
beforeEach(async () => {
  journal = await openSealJournal(join(dir, `journal-${n++}`));
  signer = new SealSigner(journal, key);
});
afterEach(async () => {
  await journal.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'signed';
}

describe('SealSigner', () => {
  it('refuses a block the journal holds no decision for, before the key is used', async () => {
    signed = [];
    expect(await refusal(signer.sign({ height: 5, clerk: CLERK, blockHash: block(1) }, 0))).toBe('ERR_SEAL_UNRECORDED');
    expect(signed).toHaveLength(0);
  });

  it('signs the lottery message of a recorded decision, verifiable under the public key', async () => {
    signed = [];
    const intent = { height: 6, clerk: CLERK, blockHash: block(2) };
    expect((await journal.checkAndRecord(intent)).ok).toBe(true);
    const signature = await signer.sign(intent, 3);
    expect(verify('sha256', lotteryMessage(block(2), 3), publicKey, signature)).toBe(true);
    expect(signed).toEqual([lotteryMessage(block(2), 3)]);
  });

  it('refuses another block for a recorded slot, and anything at or below the finalized height', async () => {
    signed = [];
    const intent = { height: 7, clerk: CLERK, blockHash: block(3) };
    await journal.checkAndRecord(intent);
    expect(await refusal(signer.sign({ ...intent, blockHash: block(4) }, 0))).toBe('ERR_SEAL_UNRECORDED');
    await journal.setFinalized(7);
    expect(await refusal(signer.sign(intent, 0))).toBe('ERR_SEAL_UNRECORDED');
    expect(signed).toHaveLength(0);
  });

  it('the engine takes nothing but a SealSigner (a bare signing function does not type-check)', () => {
    const gate = alwaysActive('n');
    // @ts-expect-error a closure that signs anything is not a SealSigner
    expect(() => createSealEngine({ journal, gate, signer: async (m: Uint8Array) => m })).not.toThrow();
    // @ts-expect-error nor is an object that looks like one
    expect(() => createSealEngine({ journal, gate, signer: { sign: async () => new Uint8Array(256) } })).not.toThrow();
  });
});
