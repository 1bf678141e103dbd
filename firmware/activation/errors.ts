// Typed errors of device activation. `btn-node activate` and the activation gate act on the
// code: not filed / revoked are answers of the root node, unreachable and bad responses are
// worth retrying, TPM and state problems need a person.
import { CodedError } from '../core/errors.ts';

export type ActivationErrorCode =
  | 'ERR_ACTIVATION_ARGUMENT' // bad option (root URL, state dir, handle)
  | 'ERR_ACTIVATION_NOT_FILED' // the root node does not know this TPM (404)
  | 'ERR_ACTIVATION_REVOKED' // the root node revoked this node (403 or the signed list)
  | 'ERR_ACTIVATION_REFUSED' // another refusal by the root node (sealing key mismatch, bad proof, ...)
  | 'ERR_ACTIVATION_UNREACHABLE' // no answer from the root node (connect error, timeout, 5xx)
  | 'ERR_ACTIVATION_BAD_RESPONSE' // the root node answered something malformed, oversized or unverifiable
  | 'ERR_ACTIVATION_TPM' // the TPM failed (no sealing key, activation failed, unreachable)
  | 'ERR_ACTIVATION_STATE'; // activation.json unreadable, corrupt or not writable

export class ActivationError extends CodedError<ActivationErrorCode> {
  override readonly name = 'ActivationError';
  constructor(
    code: ActivationErrorCode,
    message: string,
    readonly details: { readonly status?: number; readonly rootCode?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
  }

  /** Worth trying again later without anyone changing anything. */
  get retryable(): boolean {
    return this.code === 'ERR_ACTIVATION_UNREACHABLE' || this.code === 'ERR_ACTIVATION_BAD_RESPONSE';
  }
}
