// `btn-node demo`: a throwaway swtpm, `tpm init`, `tpm info`, and one seal the way a node makes
// it: the decision recorded in a seal journal first, then the lottery signature through the seal
// signer (the only path to one).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoreTicket } from '../protocol/chain/lottery.ts';
import { openSealJournal } from '../sealing/journal.ts';
import { SealingError } from '../sealing/errors.ts';
import { SealSigner } from '../sealing/seal-signer.ts';
import { openTpm } from '../../tpm/index.ts';
import { toHex } from '../core/bytes.ts';
import { startSwtpm } from '../../tpm/swtpm.ts';
import { printJson } from '../core/cli-args.ts';

export async function demoCommand(): Promise<number> {
  process.stderr.write('starting a swtpm TPM emulator with an EK certificate...\n');
  const swtpm = await startSwtpm();
  const dir = await mkdtemp(join(tmpdir(), 'btn-demo-'));
  try {
    const tpm = await openTpm({ tcti: swtpm.tcti });
    try {
      const key = await tpm.ensureSealingKey();
      process.stderr.write(`btn-node tpm info --tcti ${swtpm.tcti}\n`);
      printJson(await tpm.info());
      const journal = await openSealJournal(join(dir, 'seal-journal'));
      try {
        const intent = { height: 1, clerk: 'demo-clerk', blockHash: new Uint8Array(randomBytes(32)) };
        process.stderr.write('a seal of round 0 for a random block: recorded in the journal, then signed\n');
        const check = await journal.checkAndRecord(intent);
        if (!check.ok) throw new SealingError('ERR_SEAL_UNRECORDED', `the journal refused the demo decision: ${check.message}`);
        const signature = await new SealSigner(journal, tpm, key.handle).sign(check.decision, 0);
        const { ticket, zeros } = scoreTicket(signature, 0);
        printJson({ blockHash: toHex(intent.blockHash), round: 0, signature: toHex(signature), ticket: toHex(ticket), zeros });
      } finally {
        await journal.close();
      }
    } finally {
      await tpm.close();
    }
  } finally {
    await swtpm.destroy();
    await rm(dir, { recursive: true, force: true });
  }
  return 0;
}
