// The registrar's HTTP API as types: what each route takes and answers (provisioning/openapi.yaml
// documents the same routes; provisioning/server/routes.ts is the route table). Byte fields
// travel as lower-case hex, times as ISO-8601 text.

import type { BrokerCredentialOffer } from '../broker-credential.ts';

/** Every refusal: `{ error: { code, message, field? } }` with a 4xx or 5xx status. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly field?: string };
}

/** GET /v1/health */
export interface HealthResponse {
  readonly status: 'ok';
  readonly store: string;
}

export type BatchLineStatus = 'filed' | 'duplicate' | 'rejected';

export interface BatchLineResult {
  readonly line: number;
  readonly serial?: string;
  readonly status: BatchLineStatus;
  readonly code?: string;
  readonly reason?: string;
}

/** POST /v1/batches (body: the manifest bytes as signed; headers name the manufacturer and signature). */
export interface BatchUploadResponse {
  readonly batchId: string;
  readonly manufacturer: string;
  readonly sha256: string;
  readonly lines: number;
  readonly filed: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly results: readonly BatchLineResult[];
}

/** POST /v1/activation/challenge: TPM2B_PUBLIC of the EK and of the sealing key, hex. */
export interface ChallengeRequest {
  readonly ekPublic: string;
  readonly sealingPublic: string;
}

export interface ChallengeResponse {
  readonly challengeId: string;
  /** TPM2B_ID_OBJECT, hex. */
  readonly credentialBlob: string;
  /** TPM2B_ENCRYPTED_SECRET, hex. */
  readonly encryptedSecret: string;
  readonly expiresAt: string;
}

/** POST /v1/activation/proof: the secret recovered with TPM2_ActivateCredential, hex. */
export interface ProofRequest {
  readonly challengeId: string;
  readonly secret: string;
}

/** A registration certificate as it travels (firmware/protocol/registration.ts verifies it). */
export type CertificateBody = Readonly<Record<string, unknown>>;

export interface ProofResponse {
  readonly nodeId: string;
  readonly status: 'active';
  readonly certificate: CertificateBody;
  /** The node's broker identity, recoverable only by its TPM; absent when the root does not manage the broker. */
  readonly broker?: BrokerCredentialOffer;
}

export type NodeState = 'filed' | 'active' | 'revoked';

/** GET /v1/nodes/{nodeId} */
export interface NodeResponse {
  readonly nodeId: string;
  readonly state: NodeState;
  readonly ekName: string;
  readonly serial: string;
  readonly board: string;
  readonly manufacturer: string;
  readonly batchId: string;
  readonly filedAt: string | null;
  readonly activatedAt: string | null;
  readonly revokedAt: string | null;
  readonly revokeReason: string | null;
  readonly certificate: CertificateBody | null;
}

/** POST /v1/nodes/{nodeId}/revoke (operator bearer token). */
export interface RevokeRequest {
  readonly reason?: string;
}

export interface RevokeResponse {
  readonly nodeId: string;
  readonly state: 'revoked';
  /** 'revoked' by this call, or 'already-revoked' before it. */
  readonly outcome: 'revoked' | 'already-revoked';
  readonly revocationVersion: number;
}

/**
 * GET /v1/network/manifest: the root-signed network manifest as served, unverified (the node
 * verifies it under the root key with verifyManifest; the client decides no trust).
 */
export type ManifestResponse = Readonly<Record<string, unknown>>;

/** PUT /v1/network/manifest (operator bearer token; the body is a signed manifest). */
export interface ManifestPublishResponse {
  readonly network: string;
  readonly version: number;
  /** 'published' by this call, or 'unchanged': this very manifest was the current one. */
  readonly outcome: 'published' | 'unchanged';
}

/** The route paths, relative to the registrar's base URL. */
export const REGISTRAR_PATHS = {
  health: 'v1/health',
  batches: 'v1/batches',
  challenge: 'v1/activation/challenge',
  proof: 'v1/activation/proof',
  node: (nodeId: string): string => `v1/nodes/${nodeId}`,
  revoke: (nodeId: string): string => `v1/nodes/${nodeId}/revoke`,
  revocations: 'v1/revocations',
  manifest: 'v1/network/manifest',
  rotations: 'v1/network/manifest/rotations',
} as const;
