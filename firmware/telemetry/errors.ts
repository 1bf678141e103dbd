// Typed errors of the telemetry component.
import { CodedError } from '../core/errors.ts';

export type TelemetryErrorCode = 'ERR_TELEMETRY_OPTIONS' | 'ERR_TELEMETRY_SAMPLE' | 'ERR_TELEMETRY_PUBLISH';

export class TelemetryError extends CodedError<TelemetryErrorCode> {
  override readonly name = 'TelemetryError';
  declare readonly detail: Readonly<Record<string, unknown>>;
  constructor(code: TelemetryErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, detail, options);
  }
}
