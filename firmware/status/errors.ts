// Typed errors of the status server and the status file.
export type StatusErrorCode = 'ERR_STATUS_OPTIONS' | 'ERR_STATUS_LISTEN' | 'ERR_STATUS_FILE';

export class StatusError extends Error {
  override readonly name = 'StatusError';
  constructor(readonly code: StatusErrorCode, message: string, readonly detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
  }

  toObject(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.detail };
  }
}
