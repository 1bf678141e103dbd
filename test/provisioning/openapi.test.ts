// provisioning/openapi.yaml documents exactly the routes the registrar serves (one table,
// provisioning/server/routes.ts): the same paths, methods and response statuses, both ways.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { matchRoute, ROUTES } from '../../provisioning/server/routes.ts';

/** paths -> method -> statuses, read from the document's indentation (the file keeps a plain layout). */
function documented(yaml: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  let inPaths = false;
  let path = '';
  let method = '';
  for (const line of yaml.split('\n')) {
    if (/^paths:\s*$/.test(line)) { inPaths = true; continue; }
    if (/^\S/.test(line)) { inPaths = false; continue; }
    if (!inPaths) continue;
    const p = /^ {2}(\/\S*):\s*$/.exec(line);
    if (p) { path = p[1]!; continue; }
    const m = /^ {4}(get|post|put|delete|patch):/.exec(line);
    if (m) { method = m[1]!.toUpperCase(); out.set(`${method} ${path}`, new Set()); continue; }
    const s = /^ {8}'(\d{3})':/.exec(line);
    if (s && method !== '') out.get(`${method} ${path}`)!.add(Number(s[1]));
  }
  return out;
}

describe('openapi.yaml', () => {
  const doc = documented(readFileSync(new URL('../../provisioning/openapi.yaml', import.meta.url), 'utf8'));

  it('documents every route the server serves, with the same statuses, and nothing else', () => {
    const served = new Map(ROUTES.map((r) => [`${r.method} ${r.path}`, new Set(r.statuses)]));
    expect([...doc.keys()].sort()).toEqual([...served.keys()].sort());
    for (const [key, statuses] of served) expect([...doc.get(key)!].sort((a, b) => a - b), key).toEqual([...statuses].sort((a, b) => a - b));
  });

  it('the route table matches concrete requests and refuses the rest', () => {
    expect(matchRoute('GET', '/v1/nodes/abc')?.route.name).toBe('node');
    expect(matchRoute('GET', '/v1/nodes/abc')?.params).toEqual({ nodeId: 'abc' });
    expect(matchRoute('POST', '/v1/nodes/abc/revoke')?.route.name).toBe('revoke');
    expect(matchRoute('POST', '/v1/nodes/abc')).toBeNull();
    expect(matchRoute('GET', '/v1/nodes/')).toBeNull();
    expect(matchRoute('GET', `/v1/nodes/${'a'.repeat(101)}`)).toBeNull();
    expect(matchRoute('DELETE', '/v1/health')).toBeNull();
  });
});
