// Typed errors of the status server and the status file.
import { CodedError } from '../core/errors.ts';

export type StatusErrorCode = 'ERR_STATUS_OPTIONS' | 'ERR_STATUS_LISTEN' | 'ERR_STATUS_FILE' | 'ERR_STATUS_HISTORY';

export class StatusError extends CodedError<StatusErrorCode> {
  override readonly name = 'StatusError';
  declare readonly detail: Readonly<Record<string, unknown>>;
  constructor(code: StatusErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, detail, options);
  }
}
