// A stand-in for the TPM's lottery key, for suites of the sealing and agent logic that run without
// a TPM: the SealSigner takes its key from it exactly as it takes it from Tpm.lotteryKey.
import { sign as rsaSign, type KeyObject } from 'node:crypto';
import type { LotteryKeySource } from '../../../firmware/sealing/seal-signer.ts';

/** A key source whose lottery key signs with `sign` (a software key, a slow or a failing signer). */
export function lotteryKeyOf(sign: (message: Uint8Array) => Promise<Uint8Array>): LotteryKeySource {
  return { lotteryKey: (options) => ({ handle: options?.handle ?? 0x81000b70, sign, release: () => undefined }) };
}

/** RSASSA-PKCS1-v1_5-SHA256 with a node:crypto private key, as the TPM's sealing key signs. */
export function softwareLotteryKey(privateKey: KeyObject): LotteryKeySource {
  return lotteryKeyOf(async (m) => new Uint8Array(rsaSign('sha256', m, privateKey)));
}
