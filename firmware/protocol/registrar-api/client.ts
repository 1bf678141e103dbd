// The one client of the registrar's HTTP API, used by device activation, the devnet, the factory's
// batch upload and btn-provision. Every answer is checked here, at the boundary, against its
// type in types.ts; refusals `{ error: { code, message } }` become RegistrarApiErrors that keep
// the registrar's code.
import type { Readable } from 'node:stream';
import { fromHex, toHex } from '../../core/bytes.ts';
import { MAX_MANIFEST_BYTES, type SignedManifest } from '../network-manifest.ts';
import { RegistrarApiError } from './errors.ts';
import { requestJson, type JsonRequest, type JsonResponse } from './http.ts';
import {
  REGISTRAR_PATHS, type BatchLineResult, type BatchUploadResponse, type CertificateBody, type HealthResponse, type ManifestPublishResponse,
  type ManifestResponse, type NodeResponse, type NodeState, type RevokeResponse,
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
const HEX = /^(?:[0-9a-f]{2})+$/;
const CHALLENGE_ID = /^[0-9a-f]{32}$/;
export const NODE_ID = /^[0-9a-f]{64}$/;
const MAX_TPM2B_HEX = 2 * 1026;
const NODE_STATES: readonly string[] = ['filed', 'active', 'revoked'] satisfies readonly NodeState[];

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
  const e = (res.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const rootCode = typeof e?.code === 'string' ? e.code.slice(0, 64) : undefined;
  const text = typeof e?.message === 'string' ? e.message.slice(0, 300) : `HTTP ${res.status}`;
  const details = rootCode === undefined ? { status: res.status } : { status: res.status, rootCode };
  const code = res.status >= 500 ? 'ERR_REGISTRAR_UNREACHABLE' : res.status >= 400 ? 'ERR_REGISTRAR_REFUSED' : 'ERR_REGISTRAR_BAD_RESPONSE';
  const prefix = code === 'ERR_REGISTRAR_UNREACHABLE' ? `root node at ${origin} failed (HTTP ${res.status})` : `root node refused ${where}`;
  return new RegistrarApiError(code, `${prefix}: ${text}${rootCode ? ` [${rootCode}]` : ''}`, details);
}

type Doc = Readonly<Record<string, unknown>>;

function object(where: string, res: JsonResponse): Doc {
  if (res.body === null || typeof res.body !== 'object' || Array.isArray(res.body)) throw bad(where, 'answer is not a JSON object', res.status);
  return res.body as Doc;
}

function hexBytes(where: string, doc: Doc, field: string, maxHex: number): Uint8Array {
  const v = doc[field];
  if (typeof v !== 'string' || v.length > maxHex || !HEX.test(v)) throw bad(where, `${field} must be lower-case hex of at most ${maxHex / 2} bytes`);
  return fromHex(v);
}

function text(where: string, doc: Doc, field: string, status: number, max = 1024): string {
  const v = doc[field];
  if (typeof v !== 'string' || v.length > max) throw bad(where, `${field} must be a string of at most ${max} characters`, status);
  return v;
}

function count(where: string, doc: Doc, field: string, status: number): number {
  const v = doc[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(where, `${field} must be a count`, status);
  return v;
}

function textOrNull(where: string, doc: Doc, field: string, status: number): string | null {
  return doc[field] === null ? null : text(where, doc, field, status);
}

function certificateOrNull(where: string, doc: Doc, status: number): CertificateBody | null {
  const cert = doc['certificate'];
  if (cert === null) return null;
  if (typeof cert !== 'object' || Array.isArray(cert)) throw bad(where, 'certificate is not an object', status);
  return cert as CertificateBody;
}

function lineResult(where: string, v: unknown, status: number): BatchLineResult {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(where, 'a line result is not an object', status);
  const d = v as Doc;
  const s = d['status'];
  if (s !== 'filed' && s !== 'duplicate' && s !== 'rejected') throw bad(where, 'a line result has no status', status);
  const out: { -readonly [K in keyof BatchLineResult]: BatchLineResult[K] } = { line: count(where, d, 'line', status), status: s };
  if (d['serial'] !== undefined) out.serial = text(where, d, 'serial', status);
  if (d['code'] !== undefined) out.code = text(where, d, 'code', status, 64);
  if (d['reason'] !== undefined) out.reason = text(where, d, 'reason', status);
  return out;
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
    const d = object(where, res);
    if (d['status'] !== 'ok') throw bad(where, 'status is not "ok"', res.status);
    return { status: 'ok', store: text(where, d, 'store', res.status, 64) };
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
    const d = object(where, res);
    const results = d['results'];
    if (!Array.isArray(results)) throw bad(where, 'results is not an array', res.status);
    return {
      batchId: text(where, d, 'batchId', res.status, 64), manufacturer: text(where, d, 'manufacturer', res.status, 64), sha256: text(where, d, 'sha256', res.status, 64),
      lines: count(where, d, 'lines', res.status), filed: count(where, d, 'filed', res.status), duplicates: count(where, d, 'duplicates', res.status),
      rejected: count(where, d, 'rejected', res.status), results: results.map((r: unknown) => lineResult(where, r, res.status)),
    };
  }

  /** POST /v1/activation/challenge with the TPM2B_PUBLIC bytes of the EK and the sealing key. */
  async challenge(ekPublic: Uint8Array, sealingPublic: Uint8Array): Promise<Challenge> {
    const where = 'POST /v1/activation/challenge';
    const res = await this.#call(where, { method: 'POST', path: REGISTRAR_PATHS.challenge, body: { json: { ekPublic: toHex(ekPublic), sealingPublic: toHex(sealingPublic) } } });
    const d = object(where, res);
    if (typeof d['challengeId'] !== 'string' || !CHALLENGE_ID.test(d['challengeId'])) throw bad(where, 'challengeId must be 32 hex digits', res.status);
    return {
      challengeId: d['challengeId'],
      credentialBlob: hexBytes(where, d, 'credentialBlob', MAX_TPM2B_HEX),
      encryptedSecret: hexBytes(where, d, 'encryptedSecret', MAX_TPM2B_HEX),
    };
  }

  /** POST /v1/activation/proof with the secret TPM2_ActivateCredential recovered. */
  async proof(challengeId: string, secret: Uint8Array): Promise<Proof> {
    const where = 'POST /v1/activation/proof';
    const res = await this.#call(where, { method: 'POST', path: REGISTRAR_PATHS.proof, body: { json: { challengeId, secret: toHex(secret) } } });
    const d = object(where, res);
    if (typeof d['nodeId'] !== 'string' || !NODE_ID.test(d['nodeId'])) throw bad(where, 'nodeId must be 64 hex digits', res.status);
    if (d['status'] !== 'active') throw bad(where, `status is ${JSON.stringify(d['status'])?.slice(0, 40)}, expected "active"`, res.status);
    const cert = certificateOrNull(where, d, res.status);
    if (cert === null) throw bad(where, 'certificate is not an object', res.status);
    const broker = d['broker'];
    if (broker === undefined) return { nodeId: d['nodeId'], status: 'active', certificate: cert };
    const b = broker as Record<string, unknown> | null;
    const wire = (v: unknown): v is string => typeof v === 'string' && v.length % 2 === 0 && v.length <= 4096 && /^[0-9a-f]+$/.test(v);
    if (b === null || typeof b !== 'object' || b['username'] !== d['nodeId'] || !wire(b['credentialBlob']) || !wire(b['encryptedSecret'])) {
      throw bad(where, 'broker must be { username: the node id, credentialBlob, encryptedSecret (lowercase hex) }', res.status);
    }
    return { nodeId: d['nodeId'], status: 'active', certificate: cert, broker: { username: d['nodeId'], credentialBlob: fromHex(b['credentialBlob']), encryptedSecret: fromHex(b['encryptedSecret']) } };
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
    const d = object(where, res);
    if (d['nodeId'] !== nodeId) throw bad(where, 'answer is about another node', res.status);
    const state = d['state'];
    if (typeof state !== 'string' || !NODE_STATES.includes(state)) throw bad(where, 'state is missing or unknown', res.status);
    const s = res.status;
    return {
      nodeId, state: state as NodeState, ekName: text(where, d, 'ekName', s), serial: text(where, d, 'serial', s), board: text(where, d, 'board', s),
      manufacturer: text(where, d, 'manufacturer', s), batchId: text(where, d, 'batchId', s), filedAt: textOrNull(where, d, 'filedAt', s),
      activatedAt: textOrNull(where, d, 'activatedAt', s), revokedAt: textOrNull(where, d, 'revokedAt', s),
      revokeReason: textOrNull(where, d, 'revokeReason', s), certificate: certificateOrNull(where, d, s),
    };
  }

  /** POST /v1/nodes/:id/revoke with the operator's bearer token. */
  async revoke(nodeId: string, reason: string, token: string): Promise<RevokeResponse> {
    checkNodeId(nodeId);
    if (!/^\S{1,512}$/.test(token)) throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', 'the operator token must be 1..512 characters without spaces');
    const where = `POST /v1/nodes/${nodeId}/revoke`;
    const res = await this.#call(where, { method: 'POST', path: REGISTRAR_PATHS.revoke(nodeId), body: { json: { reason } }, headers: { authorization: `Bearer ${token}` } });
    const d = object(where, res);
    if (d['nodeId'] !== nodeId || d['state'] !== 'revoked') throw bad(where, 'answer does not say this node is revoked', res.status);
    const outcome = d['outcome'];
    if (outcome !== 'revoked' && outcome !== 'already-revoked') throw bad(where, 'outcome is not revoked or already-revoked', res.status);
    return { nodeId, state: 'revoked', outcome, revocationVersion: count(where, d, 'revocationVersion', res.status) };
  }

  /** GET /v1/revocations: the signed list, unverified (the caller verifies it with the root key). */
  async revocations(): Promise<Doc> {
    const where = 'GET /v1/revocations';
    const res = await this.#call(where, { method: 'GET', path: REGISTRAR_PATHS.revocations, maxBytes: this.#maxRevocationBytes });
    return object(where, res);
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
    return object(where, res);
  }

  /** PUT /v1/network/manifest with the operator's bearer token: the registrar verifies and stores it. */
  async publishManifest(manifest: SignedManifest, token: string): Promise<ManifestPublishResponse> {
    if (!/^\S{1,512}$/.test(token)) throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', 'the operator token must be 1..512 characters without spaces');
    const where = 'PUT /v1/network/manifest';
    const res = await this.#call(where, { method: 'PUT', path: REGISTRAR_PATHS.manifest, body: { json: manifest }, headers: { authorization: `Bearer ${token}` } });
    const d = object(where, res);
    const outcome = d['outcome'];
    if (outcome !== 'published' && outcome !== 'unchanged') throw bad(where, 'outcome is not published or unchanged', res.status);
    if (d['network'] !== manifest.network || d['version'] !== manifest.version) throw bad(where, 'answer is about another manifest', res.status);
    return { network: manifest.network, version: manifest.version, outcome };
  }
}

function checkNodeId(nodeId: string): void {
  if (!NODE_ID.test(nodeId)) throw new RegistrarApiError('ERR_REGISTRAR_ARGUMENT', 'nodeId must be 64 hex digits');
}
