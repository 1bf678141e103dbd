export { createRegistrar, startRegistrar, DEFAULT_MAX_BATCH_BYTES, type RegistrarOptions, type RunningRegistrar } from './app.ts';
export { completeProof, createChallenge, type ActivationDeps, type ChallengeResponse, type MakeCredential, type ProofResponse } from './activation.ts';
export { Metrics } from './metrics.ts';
export { statusOf } from './http.ts';
