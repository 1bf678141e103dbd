// The one client of the registrar's HTTP API, used by device activation, the devnet, the factory's
// batch upload and btn-provision. Every answer is checked here, at the boundary, against its
// type in types.ts; refusals `{ error: { code, message } }` become RegistrarApiErrors that keep
// the registrar's code.
import type { Readable } from 'node:stream';
import { toHex } from '../../core/bytes.ts';
import { readWith, type Reader } from '../../core/json.ts';
import { MAX_MANIFEST_BYTES, type SignedManifest } from '../network-manifest.ts';
import { MAX_ROOT_CHAIN_BYTES } from '../root-chain.ts';
import { RegistrarApiError } from './errors.ts';
import { requestJson, type JsonRequest, type JsonResponse } from './http.ts';
import {
  batchReportResponse, challengeResponse, errorResponse, healthResponse, manifestPublishResponse, nodeResponse, proofResponse, revokeResponse, signedDocument,
} from './responses.ts';
import {
  REGISTRAR_PATHS, type BatchUploadResponse, type CertificateBody, type HealthResponse, type ManifestPublishResponse, type ManifestResponse,
  type NodeResponse, type RevokeResponse,
} from './types.ts';

export interface RegistrarClientOptions {
  /** Per request, connect to last byte (ms). */
  readonly timeoutMs?: number;
  /** Per batch upload, which streams up to the registrar's batch cap (ms). */
  readonly uploadTimeoutMs?: number;
  /** Cap on ordinary responses (bytes). */
  readonly maxResponseBytes?: number;
  /** Cap on the revocation list (bytes); it grows with every revoked node. */
  readonly maxRevocationBytes?: number;
  /** Cap on a batch report (bytes): one result per line, up to the registrar's line cap. */
  readonly maxBatchReportBytes?: number;
}

/** A challenge as the device uses it: the TPM2B wire bytes for TPM2_ActivateCredential. */
export interface Challenge {
  readonly challengeId: string;
  /** TPM2B_ID_OBJECT wire bytes. */
  readonly credentialBlob: Uint8Array;
  /** TPM2B_ENCRYPTED_SECRET wire bytes. */
  readonly encryptedSecret: Uint8Array;
}

export interface Proof {
  readonly nodeId: string;
  readonly status: 'active';
  readonly certificate: CertificateBody;
  /** The broker credential to recover with the TPM (wire bytes); absent when the root does not manage the broker. */
  readonly broker?: { readonly username: string; readonly credentialBlob: Uint8Array; readonly encryptedSecret: Uint8Array };
}

/** What a batch upload sends: the manifest exactly as signed, and who signed it. */
export interface BatchUpload {
  readonly manifest: Uint8Array | { readonly stream: Readable; readonly size: number };
  readonly manufacturer: string;
  /** The manufacturer's Ed25519 signature over the batch, hex. */
  readonly signature: string;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_UPLOAD_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_MAX_RESPONSE = 64 * 1024;
const DEFAULT_MAX_REVOCATIONS = 32 * 1024 * 1024;
const DEFAULT_MAX_BATCH_REPORT = 64 * 1024 * 1024;
export const NODE_ID = /^[0-9a-f]{64}$/;

/** The registrar's base URL: http(s), no credentials, query or fragment; the path ends in '/'. */
export function parseRegistrarUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', `root URL "${String(text).slice(0, 100)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', `root URL must be http:// or https://, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', 'root URL must not carry credentials, a query or a fragment');
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

const bad = (where: string, message: string, status?: number): RegistrarApiError =>
  new RegistrarApiError('ERR_REGISTRAR_BAD_RESPONSE', `${where}: ${message}`, status === undefined ? {} : { status });

/** An error answer of the registrar as a RegistrarApiError (4xx refused, 5xx unreachable). */
function refusal(where: string, res: JsonResponse, origin: string): RegistrarApiError {
  // Not every error answer comes from the registrar (a proxy's 502 page): then the status says it.
  let e: { readonly code: string; readonly message: string } | undefined;
  try {
    e = errorResponse.read(res.body, 'answer').error;
  } catch {
    e = undefined;
  }
  const rootCode = e?.code;
  const text = e === undefined ? `HTTP ${res.status}` : e.message.slice(0, 300);
  const details = rootCode === undefined ? { status: res.status } : { status: res.status, rootCode };
  const code = res.status >= 500 ? 'ERR_REGISTRAR_UNREACHABLE' : res.status >= 400 ? 'ERR_REGISTRAR_REFUSED' : 'ERR_REGISTRAR_BAD_RESPONSE';
  const prefix = code === 'ERR_REGISTRAR_UNREACHABLE' ? `root node at ${origin} failed (HTTP ${res.status})` : `root node refused ${where}`;
  return new RegistrarApiError(code, `${prefix}: ${text}${rootCode ? ` [${rootCode}]` : ''}`, details);
}

type Doc = Readonly<Record<string, unknown>>;

/** The answer read through its reader; a refusal is ERR_REGISTRAR_BAD_RESPONSE naming the field. */
function answer<T>(where: string, res: JsonResponse, reader: Reader<T>): T {
  return readWith(reader, res.body, 'answer', (err) => bad(where, err.message, res.status));
}

export class RegistrarClient {
  readonly url: URL;
  readonly #timeoutMs: number;
  readonly #uploadTimeoutMs: number;
  readonly #maxBytes: number;
  readonly #maxRevocationBytes: number;
  readonly #maxBatchReportBytes: number;

  constructor(rootUrl: string | URL, options: RegistrarClientOptions = {}) {
    this.url = typeof rootUrl === 'string' ? parseRegistrarUrl(rootUrl) : rootUrl;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#uploadTimeoutMs = options.uploadTimeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS;
    this.#maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
    this.#maxRevocationBytes = options.maxRevocationBytes ?? DEFAULT_MAX_REVOCATIONS;
    this.#maxBatchReportBytes = options.maxBatchReportBytes ?? DEFAULT_MAX_BATCH_REPORT;
    for (const [name, v] of [['timeoutMs', this.#timeoutMs], ['uploadTimeoutMs', this.#uploadTimeoutMs]] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', `${name} must be > 0`);
    }
  }

  async #call(where: string, request: Omit<JsonRequest, 'url' | 'timeoutMs' | 'maxBytes'> & { path: string; timeoutMs?: number; maxBytes?: number }): Promise<JsonResponse> {
    const res = await requestJson({
      ...request, url: new URL(request.path, this.url), timeoutMs: request.timeoutMs ?? this.#timeoutMs, maxBytes: request.maxBytes ?? this.#maxBytes,
    });
    if (res.status !== 200) throw refusal(where, res, this.url.origin);
    return res;
  }

  /** GET /v1/health */
  async health(): Promise<HealthResponse> {
    const where = 'GET /v1/health';
    const res = await this.#call(where, { method: 'GET', path: REGISTRAR_PATHS.health });
    return answer(where, res, healthResponse);
  }

  /** POST /v1/batches: the registrar files each line it accepts; the report names each refused line. */
  async uploadBatch(batch: BatchUpload): Promise<BatchUploadResponse> {
    const where = 'POST /v1/batches';
    const raw = batch.manifest instanceof Uint8Array ? batch.manifest : batch.manifest.stream;
    const size = batch.manifest instanceof Uint8Array ? batch.manifest.length : batch.manifest.size;
    const res = await this.#call(where, {
      method: 'POST', path: REGISTRAR_PATHS.batches, body: { raw }, timeoutMs: this.#uploadTimeoutMs, maxBytes: this.#maxBatchReportBytes,
      headers: {
        'content-type': 'application/x-ndjson', 'content-length': String(size),
        'x-btn-manufacturer': batch.manufacturer, 'x-btn-signature': batch.signature,
      },
    });
    return answer(where, res, batchReportResponse);
  }

  /** POST /v1/activation/challenge with the TPM2B_PUBLIC bytes of the EK and the sealing key. */
  async challenge(ekPublic: Uint8Array, sealingPublic: Uint8Array): Promise<Challenge> {
    const where = 'POST /v1/activation/challenge';
    const res = await this.#call(where, { method: 'POST', path: REGISTRAR_PATHS.challenge, body: { json: { ekPublic: toHex(ekPublic), sealingPublic: toHex(sealingPublic) } } });
    const { challengeId, credentialBlob, encryptedSecret } = answer(where, res, challengeResponse);
    return { challengeId, credentialBlob, encryptedSecret };
  }

  /** POST /v1/activation/proof with the secret TPM2_ActivateCredential recovered. */
  async proof(challengeId: string, secret: Uint8Array): Promise<Proof> {
    const where = 'POST /v1/activation/proof';
    const res = await this.#call(where, { method: 'POST', path: REGISTRAR_PATHS.proof, body: { json: { challengeId, secret: toHex(secret) } } });
    const { nodeId, certificate, broker } = answer(where, res, proofResponse);
    if (broker === undefined) return { nodeId, status: 'active', certificate };
    if (broker.username !== nodeId) throw bad(where, 'answer.broker.username: expected the node id', res.status);
    return { nodeId, status: 'active', certificate, broker };
  }

  /** GET /v1/nodes/:id; null when the registrar does not know the node. */
  async node(nodeId: string): Promise<NodeResponse | null> {
    checkNodeId(nodeId);
    const where = `GET /v1/nodes/${nodeId}`;
    let res: JsonResponse;
    try {
      res = await this.#call(where, { method: 'GET', path: REGISTRAR_PATHS.node(nodeId) });
    } catch (err) {
      if (err instanceof RegistrarApiError && err.details.status === 404) return null;
      throw err;
    }
    const node = answer(where, res, nodeResponse);
    if (node.nodeId !== nodeId) throw bad(where, 'answer is about another node', res.status);
    return node;
  }

  /** POST /v1/nodes/:id/revoke with the operator's bearer token. */
  async revoke(nodeId: string, reason: string, token: string): Promise<RevokeResponse> {
    checkNodeId(nodeId);
    if (!/^\S{1,512}$/.test(token)) throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', 'the operator token must be 1..512 characters without spaces');
    const where = `POST /v1/nodes/${nodeId}/revoke`;
    const res = await this.#call(where, { method: 'POST', path: REGISTRAR_PATHS.revoke(nodeId), body: { json: { reason } }, headers: { authorization: `Bearer ${token}` } });
    const r = answer(where, res, revokeResponse);
    if (r.nodeId !== nodeId) throw bad(where, 'answer is about another node', res.status);
    return r;
  }

  /** GET /v1/revocations: the signed list, unverified (the caller verifies it with the root key). */
  async revocations(): Promise<Doc> {
    const where = 'GET /v1/revocations';
    const res = await this.#call(where, { method: 'GET', path: REGISTRAR_PATHS.revocations, maxBytes: this.#maxRevocationBytes });
    return answer(where, res, signedDocument);
  }

  /**
   * GET /v1/network/manifest: the root-signed manifest as served, read under the manifest's own
   * size cap, unverified (the node verifies it with verifyManifest); null when none is published.
   */
  async fetchManifest(): Promise<ManifestResponse | null> {
    const where = 'GET /v1/network/manifest';
    let res: JsonResponse;
    try {
      res = await this.#call(where, { method: 'GET', path: REGISTRAR_PATHS.manifest, maxBytes: MAX_MANIFEST_BYTES });
    } catch (err) {
      if (err instanceof RegistrarApiError && err.details.status === 404) return null;
      throw err;
    }
    return answer(where, res, signedDocument);
  }

  /**
   * GET /v1/network/manifest/rotations: every manifest that announced a root key rotation, oldest
   * first, read under the chain's size cap, unverified (the node walks it with walkRootChain).
   */
  async fetchRootChain(): Promise<ManifestResponse> {
    const where = 'GET /v1/network/manifest/rotations';
    const res = await this.#call(where, { method: 'GET', path: REGISTRAR_PATHS.rotations, maxBytes: MAX_ROOT_CHAIN_BYTES });
    return answer(where, res, signedDocument);
  }

  /** PUT /v1/network/manifest with the operator's bearer token: the registrar verifies and stores it. */
  async publishManifest(manifest: SignedManifest, token: string): Promise<ManifestPublishResponse> {
    if (!/^\S{1,512}$/.test(token)) throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', 'the operator token must be 1..512 characters without spaces');
    const where = 'PUT /v1/network/manifest';
    const res = await this.#call(where, { method: 'PUT', path: REGISTRAR_PATHS.manifest, body: { json: manifest }, headers: { authorization: `Bearer ${token}` } });
    const r = answer(where, res, manifestPublishResponse);
    if (r.network !== manifest.network || r.version !== manifest.version) throw bad(where, 'answer is about another manifest', res.status);
    return r;
  }
}

function checkNodeId(nodeId: string): void {
  if (!NODE_ID.test(nodeId)) throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', 'nodeId must be 64 hex digits');
}
