// Typed errors of the secondary-node agent.
export type AgentErrorCode = 'ERR_AGENT_OPTIONS' | 'ERR_AGENT_STATE' | 'ERR_AGENT_STATUS_FILE' | 'ERR_AGENT_RUNTIME';

export class AgentError extends Error {
  override readonly name = 'AgentError';
  readonly code: AgentErrorCode;
  readonly detail: Readonly<Record<string, unknown>>;

  constructor(code: AgentErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.detail = detail;
  }

  toObject(): { name: string; code: AgentErrorCode; message: string; detail: Readonly<Record<string, unknown>> } {
    return { name: this.name, code: this.code, message: this.message, detail: this.detail };
  }
}
