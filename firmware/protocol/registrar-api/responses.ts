// The registrar's answers as readers: the client reads every answer through one of these, and the
// registrar's route table (provisioning/server/routes.ts) names them per status, so a test can
// hold provisioning/openapi.yaml to the same fields. Answers are read tolerantly (exact: false):
// a newer registrar of the same API version may add a field, and devices in the field must keep
// activating; every field named here is still required and checked. Signed documents (the
// revocation list, the network manifest) are exact: their own modules read them.
import { anyObject, array, hex, hexText, integer, literal, nullable, object, oneOf, optional, string } from '../../core/json.ts';

const count = integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const text = string({ max: 1024 });
const name = string({ min: 1, max: 64 });
const time = string({ min: 1, max: 64 });
/** A node id: SHA-256 of the sealing key's SPKI DER, lowercase hex. */
const nodeId = hexText({ bytes: 32, lowercase: true });
/** TPM2B wire bytes (TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET), lowercase hex. */
const wire = (max: number) => hex({ min: 1, max, lowercase: true });
/** A registration certificate as it travels; verifyRegistrationCertificate reads and verifies it. */
const certificate = anyObject({ maxKeys: 32 });
/** The most lines a batch report can name (the registrar's line cap, with room to grow). */
const MAX_REPORT_LINES = 1_000_000;

/** Every refusal (4xx, 5xx): `{ error: { code, message, field? } }`. */
export const errorResponse = object({
  error: object({ code: string({ min: 1, max: 64 }), message: string({ max: 64 * 1024 }), field: optional(string({ max: 200 })) }, { exact: false }),
}, { exact: false });

/** GET /v1/health */
export const healthResponse = object({ status: literal('ok'), store: name }, { exact: false });

/** POST /v1/batches */
export const batchReportResponse = object({
  batchId: name,
  manufacturer: name,
  sha256: hexText({ bytes: 32 }),
  lines: count,
  filed: count,
  duplicates: count,
  rejected: count,
  results: array(object({
    line: count,
    serial: optional(text),
    status: oneOf(['filed', 'duplicate', 'rejected']),
    code: optional(string({ max: 64 })),
    reason: optional(text),
  }, { exact: false }), { max: MAX_REPORT_LINES }),
}, { exact: false });

/** POST /v1/activation/challenge */
export const challengeResponse = object({
  challengeId: hexText({ bytes: 16, lowercase: true }),
  credentialBlob: wire(1026),
  encryptedSecret: wire(1026),
  expiresAt: time,
}, { exact: false });

/** POST /v1/activation/proof */
export const proofResponse = object({
  nodeId,
  status: literal('active'),
  certificate,
  // Only when the root manages the broker; exact, as the document says.
  broker: optional(object({ username: nodeId, credentialBlob: wire(2048), encryptedSecret: wire(2048) })),
}, { exact: false });

/** GET /v1/nodes/{nodeId} */
export const nodeResponse = object({
  nodeId,
  state: oneOf(['filed', 'active', 'revoked']),
  ekName: text,
  serial: text,
  board: text,
  manufacturer: text,
  batchId: text,
  filedAt: nullable(time),
  activatedAt: nullable(time),
  revokedAt: nullable(time),
  revokeReason: nullable(text),
  certificate: nullable(certificate),
}, { exact: false });

/** POST /v1/nodes/{nodeId}/revoke */
export const revokeResponse = object({
  nodeId,
  state: literal('revoked'),
  outcome: oneOf(['revoked', 'already-revoked']),
  revocationVersion: count,
}, { exact: false });

/** PUT /v1/network/manifest */
export const manifestPublishResponse = object({
  network: name,
  version: integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  outcome: oneOf(['published', 'unchanged']),
}, { exact: false });

/** GET /v1/revocations and GET /v1/network/manifest: a signed document, read here only as an object (its verifier reads its fields). */
export const signedDocument = anyObject({ maxKeys: 64 });
