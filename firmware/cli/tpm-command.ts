// `btn-node tpm info|init|selftest`: check the TPM binding by hand. There is no command that
// signs a message of the caller's choosing: a lottery signature comes only from the seal signer,
// after the seal journal recorded the decision (firmware/sealing/seal-signer.ts).
import { handleHex, openTpm, parseHandle, resolveTcti, sealingKeySelfTest } from '../../tpm/index.ts';
import { parse, printJson, UsageError } from '../core/cli-args.ts';

const USAGE = `usage:
  btn-node tpm info     [--tcti T] [--handle H]
  btn-node tpm init     [--tcti T] [--handle H]   (also defines the seal counter, NV 0x01000B70)
  btn-node tpm selftest [--tcti T] [--handle H]
--tcti defaults to $BTN_TCTI, then device:/dev/tpmrm0; --handle to 0x81000B70.
selftest signs a fresh self-test message (never one a lottery could use) with the sealing key
and verifies the signature in software.`;

export async function tpmCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const values = parse(rest, { tcti: { type: 'string' }, handle: { type: 'string' } }, USAGE);
  const handle = values.handle === undefined ? undefined : parseHandle(values.handle);
  if (sub !== 'info' && sub !== 'init' && sub !== 'selftest') throw new UsageError(USAGE);
  const tpm = await openTpm({ tcti: resolveTcti(values.tcti) });
  try {
    const opts = handle === undefined ? {} : { handle };
    if (sub === 'init') {
      await tpm.ensureSealingKey(opts);
      // The seal journal's anchor (docs/keys.md): a monotonic counter no disk rollback undoes.
      await tpm.ensureNvCounter();
    }
    if (sub === 'selftest') {
      printJson(await sealingKeySelfTest(tpm, opts));
      return 0;
    }
    const counter = await tpm.nvCounter();
    printJson({ ...(await tpm.info(opts)), sealCounter: counter === null ? null : { index: handleHex(counter.index), value: counter.value } });
    return 0;
  } finally {
    await tpm.close();
  }
}
