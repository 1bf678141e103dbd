// Typed errors of the telemetry component.
export type TelemetryErrorCode = 'ERR_TELEMETRY_OPTIONS' | 'ERR_TELEMETRY_SAMPLE' | 'ERR_TELEMETRY_PUBLISH';

export class TelemetryError extends Error {
  override readonly name = 'TelemetryError';
  constructor(readonly code: TelemetryErrorCode, message: string, readonly detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
  }

  toObject(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.detail };
  }
}
