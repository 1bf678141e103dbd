// `npm start` until the devnet exists: a throwaway swtpm, `tpm init`, `tpm info`, one ticket.
import { randomBytes } from 'node:crypto';
import { lotteryMessage } from '../protocol/chain/lottery.ts';
import { openTpm, toHex } from '../../tpm/index.ts';
import { startSwtpm } from '../../tpm/swtpm.ts';
import { printJson } from '../core/cli-args.ts';

export async function demoCommand(): Promise<number> {
  process.stderr.write('starting a swtpm TPM emulator with an EK certificate...\n');
  const swtpm = await startSwtpm();
  try {
    const tpm = await openTpm({ tcti: swtpm.tcti });
    try {
      await tpm.ensureSealingKey();
      process.stderr.write(`btn-node tpm info --tcti ${swtpm.tcti}\n`);
      printJson(await tpm.info());
      const message = lotteryMessage(new Uint8Array(randomBytes(32)), 0);
      process.stderr.write(`btn-node tpm ticket --message ${toHex(message)}\n`);
      const { signature, ticket, zeros } = await tpm.ticket(message);
      printJson({ message: toHex(message), signature: toHex(signature), ticket: toHex(ticket), zeros });
    } finally {
      await tpm.close();
    }
  } finally {
    await swtpm.destroy();
  }
  return 0;
}
