// The one base of the project's typed errors: a stable string code to act on (never parse the
// message), the data needed to act in `detail`, and `toObject()` for structured logs and HTTP
// error bodies. Each area keeps its own subclass and code union in its errors.ts.

export class CodedError<Code extends string = string> extends Error {
  override readonly name: string = 'CodedError';
  readonly code: Code;
  /** What an operator or a caller needs to act on the error (file, field, status, holder...). */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: Code, message: string, detail?: Readonly<Record<string, unknown>>, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.detail = detail;
  }

  /** name, code, message and the detail's fields, flat: one log line per error, no nesting. */
  toObject(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.detail };
  }
}
