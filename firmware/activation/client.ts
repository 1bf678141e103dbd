// Client of the root node's activation API (provisioning/README.md): challenge, proof, node
// lookup and the signed revocation list. Every answer is validated here, at the boundary;
// error bodies `{ error: { code, message } }` become typed ActivationErrors.
import { ActivationError, type ActivationErrorCode } from './errors.ts';
import { requestJson, type JsonResponse } from './http-json.ts';
import { fromHex, toHex } from '../core/bytes.ts';

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
  readonly certificate: Record<string, unknown>;
}

export interface NodeView {
  readonly nodeId: string;
  readonly state: string;
  readonly certificate: Record<string, unknown> | null;
}

export interface RootClientOptions {
  /** Per request, connect to last byte (ms). */
  readonly timeoutMs?: number;
  /** Cap on ordinary responses (bytes). */
  readonly maxResponseBytes?: number;
  /** Cap on the revocation list (bytes); it grows with every revoked node. */
  readonly maxRevocationBytes?: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE = 64 * 1024;
const DEFAULT_MAX_REVOCATIONS = 32 * 1024 * 1024;
const HEX = /^(?:[0-9a-f]{2})+$/;
const CHALLENGE_ID = /^[0-9a-f]{32}$/;
export const NODE_ID = /^[0-9a-f]{64}$/;
const MAX_TPM2B_HEX = 2 * 1026;

export function parseRootUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ActivationError('ERR_ACTIVATION_ARGUMENT', `root URL "${String(text).slice(0, 100)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ActivationError('ERR_ACTIVATION_ARGUMENT', `root URL must be http:// or https://, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new ActivationError('ERR_ACTIVATION_ARGUMENT', 'root URL must not carry credentials, a query or a fragment');
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

const bad = (where: string, message: string, status?: number): ActivationError =>
  new ActivationError('ERR_ACTIVATION_BAD_RESPONSE', `${where}: ${message}`, status === undefined ? {} : { status });

/** Maps an error answer of the root node to an ActivationError. */
function refusal(where: string, res: JsonResponse, origin: string): ActivationError {
  const e = (res.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const rootCode = typeof e?.code === 'string' ? e.code.slice(0, 64) : undefined;
  const text = typeof e?.message === 'string' ? e.message.slice(0, 300) : `HTTP ${res.status}`;
  const details = rootCode === undefined ? { status: res.status } : { status: res.status, rootCode };
  let code: ActivationErrorCode;
  if (rootCode === 'ERR_PROV_NOT_FILED') code = 'ERR_ACTIVATION_NOT_FILED';
  else if (rootCode === 'ERR_PROV_REVOKED') code = 'ERR_ACTIVATION_REVOKED';
  else if (res.status >= 500) code = 'ERR_ACTIVATION_UNREACHABLE';
  else if (res.status >= 400) code = 'ERR_ACTIVATION_REFUSED';
  else code = 'ERR_ACTIVATION_BAD_RESPONSE';
  const prefix = code === 'ERR_ACTIVATION_UNREACHABLE' ? `root node at ${origin} failed (HTTP ${res.status})` : `root node refused ${where}`;
  return new ActivationError(code, `${prefix}: ${text}${rootCode ? ` [${rootCode}]` : ''}`, details);
}

function hexBytes(where: string, doc: Record<string, unknown>, field: string, maxHex: number): Uint8Array {
  const v = doc[field];
  if (typeof v !== 'string' || v.length > maxHex || !HEX.test(v)) throw bad(where, `${field} must be lower-case hex of at most ${maxHex / 2} bytes`);
  return fromHex(v);
}

function object(where: string, res: JsonResponse): Record<string, unknown> {
  if (res.body === null || typeof res.body !== 'object' || Array.isArray(res.body)) throw bad(where, 'answer is not a JSON object', res.status);
  return res.body as Record<string, unknown>;
}

export class RootClient {
  readonly url: URL;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #maxRevocationBytes: number;

  constructor(rootUrl: string | URL, options: RootClientOptions = {}) {
    this.url = typeof rootUrl === 'string' ? parseRootUrl(rootUrl) : rootUrl;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
    this.#maxRevocationBytes = options.maxRevocationBytes ?? DEFAULT_MAX_REVOCATIONS;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) throw new ActivationError('ERR_ACTIVATION_ARGUMENT', 'timeoutMs must be > 0');
  }

  async #call(method: 'GET' | 'POST', path: string, body?: unknown, maxBytes = this.#maxBytes): Promise<JsonResponse> {
    return requestJson({ method, url: new URL(path, this.url), body, timeoutMs: this.#timeoutMs, maxBytes });
  }

  async challenge(ekPublic: Uint8Array, sealingPublic: Uint8Array): Promise<Challenge> {
    const where = 'POST /v1/activation/challenge';
    const res = await this.#call('POST', 'v1/activation/challenge', { ekPublic: toHex(ekPublic), sealingPublic: toHex(sealingPublic) });
    if (res.status !== 200) throw refusal(where, res, this.url.origin);
    const d = object(where, res);
    if (typeof d['challengeId'] !== 'string' || !CHALLENGE_ID.test(d['challengeId'])) throw bad(where, 'challengeId must be 32 hex digits', res.status);
    return {
      challengeId: d['challengeId'],
      credentialBlob: hexBytes(where, d, 'credentialBlob', MAX_TPM2B_HEX),
      encryptedSecret: hexBytes(where, d, 'encryptedSecret', MAX_TPM2B_HEX),
    };
  }

  async proof(challengeId: string, secret: Uint8Array): Promise<Proof> {
    const where = 'POST /v1/activation/proof';
    const res = await this.#call('POST', 'v1/activation/proof', { challengeId, secret: toHex(secret) });
    if (res.status !== 200) throw refusal(where, res, this.url.origin);
    const d = object(where, res);
    if (typeof d['nodeId'] !== 'string' || !NODE_ID.test(d['nodeId'])) throw bad(where, 'nodeId must be 64 hex digits', res.status);
    if (d['status'] !== 'active') throw bad(where, `status is ${JSON.stringify(d['status'])?.slice(0, 40)}, expected "active"`, res.status);
    const cert = d['certificate'];
    if (cert === null || typeof cert !== 'object' || Array.isArray(cert)) throw bad(where, 'certificate is not an object', res.status);
    return { nodeId: d['nodeId'], status: 'active', certificate: cert as Record<string, unknown> };
  }

  /** GET /v1/nodes/:id; null when the root does not know the node. */
  async node(nodeId: string): Promise<NodeView | null> {
    if (!NODE_ID.test(nodeId)) throw new ActivationError('ERR_ACTIVATION_ARGUMENT', 'nodeId must be 64 hex digits');
    const where = `GET /v1/nodes/${nodeId}`;
    const res = await this.#call('GET', `v1/nodes/${nodeId}`);
    if (res.status === 404) return null;
    if (res.status !== 200) throw refusal(where, res, this.url.origin);
    const d = object(where, res);
    if (d['nodeId'] !== nodeId) throw bad(where, 'answer is about another node', res.status);
    if (typeof d['state'] !== 'string') throw bad(where, 'state is missing', res.status);
    const cert = d['certificate'];
    if (cert !== null && (typeof cert !== 'object' || Array.isArray(cert))) throw bad(where, 'certificate is not an object', res.status);
    return { nodeId, state: d['state'], certificate: cert as Record<string, unknown> | null };
  }

  /** GET /v1/revocations: the signed list, unverified (the caller verifies with the root key). */
  async revocations(): Promise<unknown> {
    const where = 'GET /v1/revocations';
    const res = await this.#call('GET', 'v1/revocations', undefined, this.#maxRevocationBytes);
    if (res.status !== 200) throw refusal(where, res, this.url.origin);
    return object(where, res);
  }
}
