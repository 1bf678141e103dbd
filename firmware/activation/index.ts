// Device activation with the root node (docs/activation.md): client, durable state, activate(), gate.
export { activate, checkCertificate, type ActivateOptions, type ActivationTpm } from './activate.ts';
export { ActivationGate, DEFAULT_REVOCATION_POLL_MS, type ActivationGateOptions } from './gate.ts';
export { RootClient, parseRootUrl, activationErrorOf, type Challenge, type NodeView, type Proof, type RootClientOptions } from './client.ts';
export { DEFAULT_TIMEOUT_MS } from '../protocol/registrar-api/index.ts';
export { readActivationState, writeActivationState, ACTIVATION_FILE, ACTIVATION_FORMAT, type ActivationState } from './state.ts';
export { ActivationError, type ActivationErrorCode } from './errors.ts';
