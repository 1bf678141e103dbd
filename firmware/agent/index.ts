// Public API of the secondary-node agent.
export { createAgent, chainParams, SecondaryAgent, type AgentOptions, type SealEvent, type RejectedEvent } from './agent.ts';
export { AgentError, type AgentErrorCode } from './errors.ts';
export { readStatusFile, writeStatusFile, STATUS_FILE, type AgentStatus } from './status.ts';
