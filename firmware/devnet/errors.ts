// Typed errors of the devnet (reference primary node, committee, runner).
export type DevnetErrorCode =
  | 'ERR_DEVNET_OPTIONS' // bad arguments to the primary, committee or runner
  | 'ERR_DEVNET_NOT_FINAL' // a height did not become final within the allowed redraws
  | 'ERR_DEVNET_ABORTED' // stopped (SIGINT, stop(), AbortSignal) before the requested blocks were final
  | 'ERR_DEVNET_STARTUP' // a TPM, broker or agent could not be started
  | 'ERR_DEVNET_AGENT_MISSING'; // no agent implementation to run

export class DevnetError extends Error {
  override readonly name = 'DevnetError';
  constructor(
    readonly code: DevnetErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toObject(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.detail };
  }
}
