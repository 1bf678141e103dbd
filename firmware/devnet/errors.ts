// Typed errors of the devnet (reference primary node, committee, runner).
import { CodedError } from '../core/errors.ts';

export type DevnetErrorCode =
  | 'ERR_DEVNET_OPTIONS' // bad arguments to the primary, committee or runner
  | 'ERR_DEVNET_NOT_FINAL' // a height did not become final within the allowed redraws
  | 'ERR_DEVNET_ABORTED' // stopped (SIGINT, stop(), AbortSignal) before the requested blocks were final
  | 'ERR_DEVNET_STARTUP' // a TPM, broker or agent could not be started
  | 'ERR_DEVNET_AGENT_MISSING'; // no agent implementation to run

export class DevnetError extends CodedError<DevnetErrorCode> {
  override readonly name = 'DevnetError';
  constructor(code: DevnetErrorCode, message: string, detail?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, detail, options);
  }
}
