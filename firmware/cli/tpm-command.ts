// `btn-node tpm info|init|ticket`: check the TPM binding by hand.
import { fromHex, openTpm, parseHandle, resolveTcti, TpmArgumentError, toHex, type Tpm } from '../../tpm/index.ts';
import { parse, printJson, UsageError } from '../core/cli-args.ts';

const USAGE = `usage:
  btn-node tpm info   [--tcti T] [--handle H]
  btn-node tpm init   [--tcti T] [--handle H]
  btn-node tpm ticket --message HEX [--tcti T] [--handle H]
--tcti defaults to $BTN_TCTI, then device:/dev/tpmrm0; --handle to 0x81000B70.`;

const MAX_MESSAGE_HEX = 2 * 64 * 1024;

export async function tpmCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const values = parse(rest, { tcti: { type: 'string' }, handle: { type: 'string' }, message: { type: 'string' } }, USAGE);
  const handle = values.handle === undefined ? undefined : parseHandle(values.handle);
  if (sub !== 'info' && sub !== 'init' && sub !== 'ticket') throw new UsageError(USAGE);
  let message: Uint8Array | undefined;
  if (sub === 'ticket') {
    if (values.message === undefined) throw new UsageError(`tpm ticket needs --message HEX\n${USAGE}`);
    if (values.message.length > MAX_MESSAGE_HEX) throw new TpmArgumentError(`--message is longer than ${MAX_MESSAGE_HEX / 2} bytes`);
    message = fromHex(values.message, '--message');
  }
  const tpm = await openTpm({ tcti: resolveTcti(values.tcti) });
  try {
    const opts = handle === undefined ? {} : { handle };
    if (sub === 'init') await tpm.ensureSealingKey(opts);
    if (sub === 'ticket') {
      printJson(await ticketJson(tpm, message!, opts));
      return 0;
    }
    printJson(await tpm.info(opts));
    return 0;
  } finally {
    await tpm.close();
  }
}

async function ticketJson(tpm: Tpm, message: Uint8Array, opts: { handle?: number }) {
  const { signature, ticket, zeros } = await tpm.ticket(message, opts);
  return { message: toHex(message), signature: toHex(signature), ticket: toHex(ticket), zeros };
}
