// The seal signer is the only path to a lottery signature: it signs only decisions the journal
// recorded and still holds. Unit suite with a software key; seal-signer-tpm.test.ts runs it on swtpm.
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { createSealEngine } from '../../../firmware/sealing/engine.ts';
import { alwaysActive } from '../../../firmware/sealing/gate.ts';
import { isRecordedDecision, openSealJournal, type RecordedDecision, type SealIntent, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { softwareLotteryKey } from './lottery-key.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
let dir: string;
let journal: SealJournal;
let other: SealJournal;
let signed: Uint8Array[] = [];
let signer: SealSigner;
const CLERK = 'c'.repeat(64);
const block = (b: number): Uint8Array => new Uint8Array(32).fill(b);

// A journal of its own per test: one test's finalized height must not decide another's outcome.
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-seal-signer-'));
});
const key = softwareLotteryKey(privateKey);
beforeEach(async () => {
  journal = await openSealJournal(join(dir, `journal-${n}`));
  other = await openSealJournal(join(dir, `other-journal-${n++}`));
  signed = [];
  signer = new SealSigner(journal, {
    lotteryKey: (o) => {
      const k = key.lotteryKey(o);
      return { handle: k.handle, sign: (m) => { signed.push(m); return k.sign(m); }, release: () => k.release() };
    },
  });
});
afterEach(async () => {
  await journal.close();
  await other.close();
  signer.close();
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

async function decide(j: SealJournal, intent: SealIntent): Promise<RecordedDecision> {
  const check = await j.checkAndRecord(intent);
  if (!check.ok) throw new Error(`journal refused: ${check.message}`);
  return check.decision;
}

/** What a caller that got around the type would pass: the brand cast onto a plain object. */
const forged = (intent: SealIntent): RecordedDecision => intent as unknown as RecordedDecision;

describe('SealSigner', () => {
  it('refuses a (height, clerk, block) the journal holds no decision for, before the key is used', async () => {
    signed = [];
    expect(await refusal(signer.sign(forged({ height: 5, clerk: CLERK, blockHash: block(1) }), 0))).toBe('ERR_SEAL_UNRECORDED');
    expect(signed).toHaveLength(0);
  });

  it('signs the lottery message of a recorded decision; the signature verifies and the ticket is SHA-256 of it', async () => {
    signed = [];
    const decision = await decide(journal, { height: 6, clerk: CLERK, blockHash: block(2) });
    expect(isRecordedDecision(decision)).toBe(true);
    const signature = await signer.sign(decision, 3);
    expect(verify('sha256', lotteryMessage(block(2), 3), publicKey, signature)).toBe(true);
    expect(signed).toEqual([lotteryMessage(block(2), 3)]);
    expect(Buffer.from(scoreTicket(signature, 3).ticket).toString('hex')).toBe(createHash('sha256').update(signature).digest('hex'));
  });

  it('refuses a cast copy of a recorded decision: only the journal makes one', async () => {
    signed = [];
    const decision = await decide(journal, { height: 8, clerk: CLERK, blockHash: block(5) });
    const copy = forged({ height: decision.height, clerk: decision.clerk, blockHash: decision.blockHash });
    expect(isRecordedDecision(copy)).toBe(false);
    expect(journal.holds(copy)).toBe(true);
    expect(await refusal(signer.sign(copy, 0))).toBe('ERR_SEAL_UNRECORDED');
    expect(await refusal(signer.sign({ ...decision }, 0))).toBe('ERR_SEAL_UNRECORDED');
    expect(signed).toHaveLength(0);
  });

  it('refuses a decision recorded in another journal', async () => {
    signed = [];
    const elsewhere = await decide(other, { height: 9, clerk: CLERK, blockHash: block(6) });
    expect(await refusal(signer.sign(elsewhere, 0))).toBe('ERR_SEAL_UNRECORDED');
    expect(signed).toHaveLength(0);
  });

  it('refuses a decision whose block was changed after the journal made it, and one finalized since', async () => {
    signed = [];
    const decision = await decide(journal, { height: 7, clerk: CLERK, blockHash: block(3) });
    (decision.blockHash as Uint8Array).set(block(4));
    expect(await refusal(signer.sign(decision, 0))).toBe('ERR_SEAL_UNRECORDED');
    const kept = await decide(journal, { height: 10, clerk: CLERK, blockHash: block(7) });
    await journal.setFinalized(10);
    expect(await refusal(signer.sign(kept, 0))).toBe('ERR_SEAL_UNRECORDED');
    expect(signed).toHaveLength(0);
  });

  it('the types allow only the safe path', async () => {
    const intent: SealIntent = { height: 11, clerk: CLERK, blockHash: block(8) };
    // @ts-expect-error a decision cannot be written down outside the journal
    const literal: RecordedDecision = { height: 11, clerk: CLERK, blockHash: block(8) };
    expect(isRecordedDecision(literal)).toBe(false);
    // @ts-expect-error the signer takes a recorded decision, not a bare intent
    expect(await refusal(signer.sign(intent, 0))).toBe('ERR_SEAL_UNRECORDED');
    const gate = alwaysActive('n');
    // @ts-expect-error a closure that signs anything is not a SealSigner
    expect(() => createSealEngine({ journal, gate, signer: async (m: Uint8Array) => m })).not.toThrow();
    // @ts-expect-error nor is an object that looks like one
    expect(() => createSealEngine({ journal, gate, signer: { sign: async () => new Uint8Array(256) } })).not.toThrow();
    // @ts-expect-error the signer's key is private
    expect(signer.key).toBeUndefined();
  });
});
