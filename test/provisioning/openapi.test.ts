// provisioning/openapi.yaml documents exactly the routes the registrar serves (one table,
// provisioning/server/routes.ts): the same paths, methods and response statuses, both ways, and
// each JSON request body with the same fields, the same required ones and no others allowed.
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

interface DocumentedBody {
  readonly properties: string[];
  readonly required: string[];
  readonly closed: boolean;
}

/** The lines of `METHOD path`'s requestBody, or null when it has none. */
function requestBodyLines(yaml: string, method: string, path: string): string[] | null {
  const lines = yaml.split('\n');
  const at = lines.findIndex((l) => l === `  ${path}:`);
  if (at < 0) return null;
  const m = lines.findIndex((l, i) => i > at && l === `    ${method.toLowerCase()}:`);
  const body = lines.findIndex((l, i) => i > m && (l === '      requestBody:' || /^ {0,4}\S/.test(l)));
  if (m < 0 || body < 0 || lines[body] !== '      requestBody:') return null;
  const out: string[] = [];
  for (let i = body + 1; i < lines.length && /^ {7,}/.test(lines[i]!); i++) out.push(lines[i]!);
  return out;
}

/** Top-level keys of an inline mapping `{ a: {...}, b: x }`. */
function inlineKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let token = '';
  for (const ch of text.slice(text.indexOf('{') + 1)) {
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') { if (depth === 0) break; depth--; }
    else if (depth === 0 && ch === ':') { keys.push(token.trim()); token = ''; continue; }
    else if (depth === 0 && ch === ',') { token = ''; continue; }
    if (depth === 0 && ch !== '}' && ch !== ']') token += ch;
    else if (ch === '}' || ch === ']') token = '';
  }
  return keys;
}

function documentedBody(yaml: string, method: string, path: string): DocumentedBody | null {
  const lines = requestBodyLines(yaml, method, path);
  if (lines === null) return null;
  const text = lines.join('\n');
  const required = /required: \[([^\]]*)\]/.exec(text)?.[1]?.split(',').map((x) => x.trim()).filter((x) => x !== '') ?? [];
  const closed = /additionalProperties: false/.test(text);
  let properties: string[] = [];
  const p = lines.findIndex((l) => /^\s+(?:schema: \{.*)?properties:/.test(l) || /\bproperties: \{/.test(l));
  if (p >= 0 && /properties: \{/.test(lines[p]!)) properties = inlineKeys(lines[p]!.slice(lines[p]!.indexOf('properties:')));
  else if (p >= 0) {
    const indent = lines[p]!.search(/\S/) + 2;
    for (let i = p + 1; i < lines.length && lines[i]!.search(/\S/) >= indent; i++) {
      const k = new RegExp(`^ {${indent}}([A-Za-z0-9_]+):`).exec(lines[i]!);
      if (k) properties.push(k[1]!);
    }
  }
  return { properties, required, closed };
}

describe('openapi.yaml', () => {
  const yaml = readFileSync(new URL('../../provisioning/openapi.yaml', import.meta.url), 'utf8');
  const doc = documented(yaml);

  it('documents each JSON request body as the server reads it: the same fields, required ones and strictness', () => {
    const withBodies = ROUTES.filter((r) => r.request !== undefined);
    expect(withBodies.map((r) => r.name).sort()).toEqual(['challenge', 'proof', 'publishManifest', 'revoke']);
    for (const r of withBodies) {
      const body = documentedBody(yaml, r.method, r.path);
      expect(body, `${r.method} ${r.path}`).not.toBeNull();
      expect(body!.properties.sort(), `${r.method} ${r.path} properties`).toEqual(Object.keys(r.request!.fields).sort());
      expect(body!.required.sort(), `${r.method} ${r.path} required`).toEqual([...r.request!.required].sort());
      expect(body!.closed, `${r.method} ${r.path} additionalProperties`).toBe(r.request!.exact);
    }
    // The JSON bodies the server does not read through a schema are not documented as JSON objects.
    for (const r of ROUTES.filter((x) => x.request === undefined)) {
      const lines = requestBodyLines(yaml, r.method, r.path);
      if (lines !== null) expect(lines.join('\n'), `${r.method} ${r.path}`).not.toMatch(/application\/json/);
    }
  });

  it('the body check reads the document it is given (a drifted copy fails it)', () => {
    const drifted = yaml.replace('required: [challengeId, secret]', 'required: [challengeId]');
    expect(documentedBody(drifted, 'POST', '/v1/activation/proof')!.required).toEqual(['challengeId']);
    const extra = yaml.replace("                secret: { $ref: '#/components/schemas/Hex' }", "                secret: { $ref: '#/components/schemas/Hex' }\n                nonce: { type: string }");
    expect(documentedBody(extra, 'POST', '/v1/activation/proof')!.properties.sort()).toEqual(['challengeId', 'nonce', 'secret']);
    expect(documentedBody(yaml, 'POST', '/v1/nodes/{nodeId}/revoke')).toEqual({ properties: ['reason'], required: [], closed: true });
  });

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
    expect(matchRoute('GET', '/v1/network/manifest')?.route.name).toBe('manifest');
    expect(matchRoute('PUT', '/v1/network/manifest')?.route.name).toBe('publishManifest');
    expect(matchRoute('POST', '/v1/network/manifest')).toBeNull();
  });
});
