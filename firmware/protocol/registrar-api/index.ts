// The registrar's HTTP API: request/response types and the one client.
export { RegistrarApiError, type RegistrarApiErrorCode, type RegistrarApiErrorDetails } from './errors.ts';
export {
  RegistrarClient, parseRegistrarUrl, DEFAULT_TIMEOUT_MS, NODE_ID, type BatchUpload, type Challenge, type Proof, type RegistrarClientOptions,
} from './client.ts';
export type {
  BatchLineResult, BatchLineStatus, BatchUploadResponse, CertificateBody, ChallengeRequest, ChallengeResponse, ErrorBody, HealthResponse,
  ManifestPublishResponse, ManifestResponse, NodeResponse, NodeState, ProofRequest, ProofResponse, RevokeRequest, RevokeResponse,
} from './types.ts';
export { REGISTRAR_PATHS } from './types.ts';
