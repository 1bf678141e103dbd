// Public API of the secondary-node agent.
export { createAgent, chainParams, SecondaryAgent, type AgentOptions, type SealEvent, type RejectedEvent, type SpinEvent, type RivalSealEvent } from './agent.ts';
export { AgentError, type AgentErrorCode } from './errors.ts';
