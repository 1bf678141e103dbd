// `btn-node tpm info|init|selftest`: check the TPM binding by hand. There is no command that
// signs a message of the caller's choosing: a lottery signature comes only from the seal signer,
// after the seal journal recorded the decision (firmware/sealing/seal-signer.ts).
import { randomBytes, verify } from 'node:crypto';
import { handleHex, openTpm, parseHandle, resolveTcti, type Tpm } from '../../tpm/index.ts';
import { toHex } from '../core/bytes.ts';
import { parse, printJson, UsageError } from '../core/cli-args.ts';

const USAGE = `usage:
  btn-node tpm info     [--tcti T] [--handle H]
  btn-node tpm init     [--tcti T] [--handle H]   (also defines the seal counter, NV 0x01000B70)
  btn-node tpm selftest [--tcti T] [--handle H]
--tcti defaults to $BTN_TCTI, then device:/dev/tpmrm0; --handle to 0x81000B70.
selftest signs a fresh self-test message (never one a lottery could use) with the sealing key
and verifies the signature in software.`;

/**
 * What selftest signs: a domain line and 16 fresh random bytes, 38 bytes in all. A lottery
 * message is exactly 36 bytes (hash || uint32 round), so no self-test signature can ever be a
 * ticket.
 */
export const SELFTEST_DOMAIN = 'btn-node tpm selftest\n';

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
      printJson(await selftest(tpm, opts));
      return 0;
    }
    const counter = await tpm.nvCounter();
    printJson({ ...(await tpm.info(opts)), sealCounter: counter === null ? null : { index: handleHex(counter.index), value: counter.value } });
    return 0;
  } finally {
    await tpm.close();
  }
}

async function selftest(tpm: Tpm, opts: { handle?: number }) {
  const info = await tpm.info(opts);
  const message = new Uint8Array(Buffer.concat([Buffer.from(SELFTEST_DOMAIN, 'utf8'), randomBytes(16)]));
  const started = performance.now();
  // info() above names a missing key with the hint to run init; sign() would say the same.
  const signature = await tpm.sign(message, opts);
  const ms = performance.now() - started;
  const pem = info.sealingKey?.publicKeyPem;
  const verified = pem !== undefined && verify('sha256', message, pem, signature);
  return { message: toHex(message), signature: toHex(signature), verified, signMs: Number(ms.toFixed(2)) };
}
