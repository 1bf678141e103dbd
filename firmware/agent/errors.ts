// Typed errors of the secondary-node agent.
import { CodedError } from '../core/errors.ts';

export type AgentErrorCode = 'ERR_AGENT_OPTIONS' | 'ERR_AGENT_STATE' | 'ERR_AGENT_STATUS_FILE' | 'ERR_AGENT_RUNTIME';

export class AgentError extends CodedError<AgentErrorCode> {
  override readonly name = 'AgentError';
  declare readonly detail: Readonly<Record<string, unknown>>;

  constructor(code: AgentErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, detail, options);
  }
}
