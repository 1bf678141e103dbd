// The sealing key's self-test: the TPM signs a fresh self-test message with the sealing key and
// the signature is verified in software against the key's public half. `btn-node tpm selftest`
// prints it; the agent runs it at start so the update health check knows the key signs in this
// boot, not only that a key is there.
import { randomBytes, verify } from 'node:crypto';
import { toHex } from '../firmware/core/bytes.ts';
import type { Tpm } from './tpm.ts';

/**
 * What the self-test signs: a domain line and 16 fresh random bytes, 38 bytes in all. A lottery
 * message is exactly 36 bytes (hash || uint32 round), so no self-test signature can ever be a
 * ticket, and the message is never published.
 */
export const SELFTEST_DOMAIN = 'btn-node tpm selftest\n';

export interface SelfTestResult {
  readonly message: string;
  readonly signature: string;
  /** The signature verified under the sealing key's public key as the TPM reports it. */
  readonly verified: boolean;
  readonly signMs: number;
}

export async function sealingKeySelfTest(tpm: Pick<Tpm, 'info' | 'sign'>, opts: { readonly handle?: number } = {}): Promise<SelfTestResult> {
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
