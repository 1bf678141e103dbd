// Typed errors of the sealing area (seal journal, engine). Codes are stable strings; each error
// carries the data an operator needs to act on it (file, byte offset, lock holder).
import { CodedError } from '../core/errors.ts';

export type SealingErrorCode =
  | 'ERR_JOURNAL_CORRUPT'
  | 'ERR_JOURNAL_LOCKED'
  | 'ERR_JOURNAL_CLOSED'
  | 'ERR_JOURNAL_FAILED'
  | 'ERR_JOURNAL_UNAVAILABLE'
  | 'ERR_JOURNAL_IO'
  | 'ERR_JOURNAL_NOT_FOUND' // an operator command named a journal that does not exist
  | 'ERR_JOURNAL_INVALID_ARGUMENT'
  | 'ERR_JOURNAL_NO_INTENT'
  | 'ERR_JOURNAL_SEAL_EXISTS'
  | 'ERR_JOURNAL_SUPERSEDED' // a re-drawn block took the slot before this seal was recorded
  | 'ERR_JOURNAL_ANCHOR' // the journal is ahead of the TPM's seal counter (another TPM's journal, or a cleared TPM)
  | 'ERR_JOURNAL_COUNTER' // the TPM's seal counter could not be advanced
  | 'ERR_JOURNAL_IMPORT_INVALID'
  | 'ERR_JOURNAL_IMPORT_CONFLICT'
  | 'ERR_JOURNAL_EXPORT_TOO_LARGE' // an export the import would refuse
  | 'ERR_SEALING_PARAMS'
  | 'ERR_SEALING_SIGNER'
  | 'ERR_SEAL_UNRECORDED'; // the seal signer was asked for a block the journal holds no decision for

export class SealingError extends CodedError<SealingErrorCode> {
  override readonly name = 'SealingError';
  declare readonly detail: Readonly<Record<string, unknown>>;

  constructor(code: SealingErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, detail, options);
  }
}

export function invalidArgument(message: string, field: string): SealingError {
  return new SealingError('ERR_JOURNAL_INVALID_ARGUMENT', message, { field });
}
