// Errors of the registrar client. The code says what to do: unreachable and bad responses are
// worth retrying, a refusal carries the registrar's own code (rootCode) to act on.
import { CodedError } from '../../core/errors.ts';

export type RegistrarApiErrorCode =
  | 'ERR_REGISTRAR_ARGUMENT' // bad option or argument (URL, node id, timeout)
  | 'ERR_REGISTRAR_REFUSED' // the registrar answered 4xx; rootCode says why
  | 'ERR_REGISTRAR_UNREACHABLE' // no answer (connect error, timeout, connection lost, 5xx)
  | 'ERR_REGISTRAR_BAD_RESPONSE'; // an answer that is malformed, oversized or of the wrong shape

export interface RegistrarApiErrorDetails {
  /** HTTP status, when there was an answer. */
  readonly status?: number;
  /** The registrar's error code (`{ error: { code } }`), when it gave one. */
  readonly rootCode?: string;
}

export class RegistrarApiError extends CodedError<RegistrarApiErrorCode> {
  override readonly name = 'RegistrarApiError';
  constructor(code: RegistrarApiErrorCode, message: string, readonly details: RegistrarApiErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, { ...details }, options);
  }

  /** Worth trying again later without anyone changing anything. */
  get retryable(): boolean {
    return this.code === 'ERR_REGISTRAR_UNREACHABLE' || this.code === 'ERR_REGISTRAR_BAD_RESPONSE';
  }
}
