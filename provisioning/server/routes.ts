// The registrar's HTTP routes, in one table with their JSON request bodies and, per status, the
// reader of the answer (the one the registrar client reads it with): the server dispatches by it
// and reads each body through its schema (app.ts), and a test checks that provisioning/openapi.yaml
// documents exactly these paths, methods, statuses, request fields and response fields.
// Paths are written as OpenAPI writes them ({nodeId} is a path parameter).
import { hex, hexText, object, optional, refine, string, type ObjectReader, type Reader } from '../../firmware/core/json.ts';
import { manifestShape } from '../../firmware/protocol/network-manifest.ts';
import {
  batchReportResponse, challengeResponse, errorResponse, healthResponse, manifestPublishResponse, nodeResponse, proofResponse, revokeResponse,
} from '../../firmware/protocol/registrar-api/responses.ts';
import { rootChainShape } from '../../firmware/protocol/root-chain.ts';
import { revocationListShape } from '../../firmware/protocol/revocation-list.ts';
import { MAX_AREA_BYTES } from './activation.ts';

/** POST /v1/activation/challenge: the EK's and the sealing key's TPM2B_PUBLIC, hex. */
export const challengeRequest = object({
  ekPublic: hex({ min: 1, max: MAX_AREA_BYTES }),
  sealingPublic: hex({ min: 1, max: MAX_AREA_BYTES }),
});

/** POST /v1/activation/proof: the challenge and the secret TPM2_ActivateCredential recovered. */
export const proofRequest = object({
  challengeId: hexText({ bytes: 16, lowercase: true }),
  secret: hex({ min: 1, max: 64 }),
});

/** POST /v1/nodes/{nodeId}/revoke (the body is optional). */
export const revokeRequest = object({
  reason: optional(refine(string({ max: 200 }), (r) => (/[\u0000-\u001f]/.test(r) ? 'expected printable characters' : undefined))),
});

export type RouteName = 'health' | 'metrics' | 'batches' | 'challenge' | 'proof' | 'node' | 'revoke' | 'revocations' | 'manifest' | 'rotations' | 'publishManifest';

export interface RouteSpec {
  readonly name: RouteName;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  /**
   * Every status the route answers with (the documented contract) and what its body is: JSON read
   * by this reader, Prometheus text, or nothing.
   */
  readonly responses: Readonly<Record<number, Reader<unknown> | 'text' | 'empty'>>;
  /** The JSON request body's schema (exact: unknown keys are refused). */
  readonly request?: Pick<ObjectReader<Record<string, never>>, 'required' | 'exact'> & { readonly fields: object };
}

/** An error answer `{ error: { code, message, field? } }` for each of these statuses. */
function errors(...statuses: number[]): Record<number, Reader<unknown>> {
  return Object.fromEntries(statuses.map((s) => [s, errorResponse]));
}

export const ROUTES: readonly RouteSpec[] = [
  { name: 'health', method: 'GET', path: '/v1/health', responses: { 200: healthResponse, ...errors(500) } },
  { name: 'batches', method: 'POST', path: '/v1/batches', responses: { 200: batchReportResponse, ...errors(400, 403, 413, 415, 429) } },
  { name: 'challenge', method: 'POST', path: '/v1/activation/challenge', responses: { 200: challengeResponse, ...errors(400, 403, 404, 408, 409, 413) }, request: challengeRequest },
  { name: 'proof', method: 'POST', path: '/v1/activation/proof', responses: { 200: proofResponse, ...errors(400, 403, 404, 408, 409, 410, 503) }, request: proofRequest },
  { name: 'node', method: 'GET', path: '/v1/nodes/{nodeId}', responses: { 200: nodeResponse, ...errors(400, 404) } },
  { name: 'revoke', method: 'POST', path: '/v1/nodes/{nodeId}/revoke', responses: { 200: revokeResponse, ...errors(401, 404, 408) }, request: revokeRequest },
  { name: 'revocations', method: 'GET', path: '/v1/revocations', responses: { 200: revocationListShape } },
  { name: 'manifest', method: 'GET', path: '/v1/network/manifest', responses: { 200: manifestShape, 304: 'empty', ...errors(404) } },
  { name: 'rotations', method: 'GET', path: '/v1/network/manifest/rotations', responses: { 200: rootChainShape, ...errors(404) } },
  // PUT /v1/network/manifest: a root-signed manifest (network-manifest.ts), exact keys.
  { name: 'publishManifest', method: 'PUT', path: '/v1/network/manifest', responses: { 200: manifestPublishResponse, ...errors(400, 401, 408, 409, 413, 415) }, request: manifestShape },
  { name: 'metrics', method: 'GET', path: '/metrics', responses: { 200: 'text' } },
];

const MAX_PARAM_CHARS = 100;

/** The route for a request, with its path parameters (still percent-encoded); null when none matches. */
export function matchRoute(method: string, path: string): { readonly route: RouteSpec; readonly params: Readonly<Record<string, string>> } | null {
  const parts = path.split('/');
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const want = route.path.split('/');
    if (want.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < want.length && ok; i++) {
      const w = want[i]!;
      const p = parts[i]!;
      if (w.startsWith('{') && w.endsWith('}')) {
        if (p.length === 0 || p.length > MAX_PARAM_CHARS) ok = false;
        else params[w.slice(1, -1)] = p;
      } else if (w !== p) ok = false;
    }
    if (ok) return { route, params };
  }
  return null;
}
