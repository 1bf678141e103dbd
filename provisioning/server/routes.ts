// The registrar's HTTP routes, in one table: the server dispatches by it (app.ts), and a test
// checks that provisioning/openapi.yaml documents exactly these paths, methods and statuses.
// Paths are written as OpenAPI writes them ({nodeId} is a path parameter).

export type RouteName = 'health' | 'metrics' | 'batches' | 'challenge' | 'proof' | 'node' | 'revoke' | 'revocations';

export interface RouteSpec {
  readonly name: RouteName;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** Every status the route answers with (the documented contract). */
  readonly statuses: readonly number[];
}

export const ROUTES: readonly RouteSpec[] = [
  { name: 'health', method: 'GET', path: '/v1/health', statuses: [200, 500] },
  { name: 'batches', method: 'POST', path: '/v1/batches', statuses: [200, 400, 403, 413, 415] },
  { name: 'challenge', method: 'POST', path: '/v1/activation/challenge', statuses: [200, 400, 403, 404, 409, 413] },
  { name: 'proof', method: 'POST', path: '/v1/activation/proof', statuses: [200, 400, 403, 404, 409, 410] },
  { name: 'node', method: 'GET', path: '/v1/nodes/{nodeId}', statuses: [200, 400, 404] },
  { name: 'revoke', method: 'POST', path: '/v1/nodes/{nodeId}/revoke', statuses: [200, 401, 404] },
  { name: 'revocations', method: 'GET', path: '/v1/revocations', statuses: [200] },
  { name: 'metrics', method: 'GET', path: '/metrics', statuses: [200] },
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
