// Typed errors of the chain rules. Decoders throw ChainError only; validation returns a
// RejectReason (validate.ts) instead of throwing.
import { CodedError } from '../../core/errors.ts';

export type ChainErrorCode =
  | 'ERR_CHAIN_MALFORMED'
  | 'ERR_CHAIN_OVERSIZE'
  /** A candidate frame of a wire version this node does not read. */
  | 'ERR_CHAIN_WIRE_VERSION'
  | 'ERR_CHAIN_INVALID_ARGUMENT'
  | 'ERR_CHAIN_POOL_SATURATED'
  | 'ERR_CHAIN_POOL_CLOSED'
  | 'ERR_CHAIN_WORKER_FAILED';

export class ChainError extends CodedError<ChainErrorCode> {
  override readonly name = 'ChainError';
  /** The field (or `path.to.field`) at fault, when one is. */
  readonly field: string | undefined;

  constructor(code: ChainErrorCode, message: string, field?: string, options?: { cause?: unknown }) {
    super(code, message, field === undefined ? undefined : { field }, options);
    this.field = field;
  }
}

export function malformed(message: string, field?: string): ChainError {
  return new ChainError('ERR_CHAIN_MALFORMED', message, field);
}

export function oversize(message: string, field?: string): ChainError {
  return new ChainError('ERR_CHAIN_OVERSIZE', message, field);
}
