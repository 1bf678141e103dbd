// Typed errors of the TPM binding. Every error carries a stable string code; TPM and TSS
// failures keep the return code, its decoded text and what it says about retrying.
import { CodedError } from '../firmware/core/errors.ts';
import { describeRc, type RcInfo } from './rc.ts';

export type TpmErrorCode =
  | 'ERR_TPM_ARGUMENT' // refused before it reached the TPM
  | 'ERR_TPM_RC' // the TPM or the TSS returned a failure code
  | 'ERR_TPM_UNREACHABLE' // the TCTI could not reach a TPM
  | 'ERR_TPM_WIRE' // malformed TPM structure (from the TPM or from outside)
  | 'ERR_TPM_KEY_MISMATCH' // a persistent handle holds an object that is not what we expect
  | 'ERR_TPM_NV_MISMATCH' // an NV index holds something other than the counter we expect
  | 'ERR_TPM_CLOSED' // the context was closed
  | 'ERR_TPM_LOTTERY_KEY_TAKEN' // the lottery key of this handle was already handed out (to the seal signer)
  | 'ERR_TPM_LIBRARY'; // tpm2-tss libraries could not be loaded

export class TpmError extends CodedError<TpmErrorCode> {
  override readonly name: string = 'TpmError';
  constructor(code: TpmErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, undefined, options);
  }
}

export class TpmArgumentError extends TpmError {
  override readonly name = 'TpmArgumentError';
  constructor(message: string) {
    super('ERR_TPM_ARGUMENT', message);
  }
}

export class TpmWireError extends TpmError {
  override readonly name = 'TpmWireError';
  constructor(message: string) {
    super('ERR_TPM_WIRE', message);
  }
}

/** A failure code from the TPM (layer 0) or from a tpm2-tss layer (ESYS, SYS, MU, TCTI). */
export class TpmRcError extends TpmError {
  override readonly name = 'TpmRcError';
  readonly info: RcInfo;

  constructor(readonly rc: number, readonly command: string, decoded: string, readonly tcti?: string) {
    const info = describeRc(rc);
    super(
      info.unreachable ? 'ERR_TPM_UNREACHABLE' : 'ERR_TPM_RC',
      `${command} failed: ${decoded} (rc 0x${rc.toString(16).padStart(8, '0')}` +
        `${info.where ? `, ${info.where}` : ''})${info.unreachable && tcti ? ` talking to TPM at "${tcti}"` : ''}`,
    );
    this.info = info;
  }

  /** The TPM is busy or testing; the same command may succeed later (TPM2 Part 2 §6.6.3 warnings). */
  get retryable(): boolean {
    return this.info.retryable;
  }

  override toObject(): Record<string, unknown> {
    return { ...super.toObject(), rc: this.rc, command: this.command, ...this.info };
  }
}
