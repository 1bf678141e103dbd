// provisioning/openapi.yaml documents exactly the routes the registrar serves (one table,
// provisioning/server/routes.ts): the same paths, methods and response statuses, both ways; each
// JSON request body with the same fields, the same required ones and the same strictness as the
// server reads it; and each response body with the same fields, required ones and strictness as
// the reader the route table names for that status (the reader the registrar client reads the
// answer with), down through nested objects and arrays.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ArrayReader, ObjectReader, Reader } from '../../firmware/core/json.ts';
import { registrationCertificateShape } from '../../firmware/protocol/registration.ts';
import { matchRoute, ROUTES } from '../../provisioning/server/routes.ts';
import { parseYamlSubset } from './yaml-subset.ts';

type Node = Record<string, unknown>;
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

const asNode = (v: unknown): Node => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Node) : {});

/** Follows `$ref: '#/a/b'` (and a one-entry allOf, as nullable references are written). */
function resolve(doc: Node, v: unknown): Node {
  let node = asNode(v);
  for (let hops = 0; hops < 8; hops++) {
    const allOf = node['allOf'];
    if (Array.isArray(allOf) && allOf.length === 1) node = { ...asNode(allOf[0]), ...Object.fromEntries(Object.entries(node).filter(([k]) => k !== 'allOf')) };
    const ref = node['$ref'];
    if (typeof ref !== 'string') return node;
    node = asNode(ref.replace(/^#\//, '').split('/').reduce<unknown>((n, k) => asNode(n)[k], doc));
  }
  throw new Error('$ref chain too long');
}

/** The reader under optional/nullable/refine/map wrappers. */
function unwrap(reader: Reader<unknown>): Reader<unknown> {
  let r = reader as Reader<unknown> & { inner?: Reader<unknown> };
  while (r.inner !== undefined) r = r.inner;
  return r;
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();
const same = (a: readonly string[], b: readonly string[]): boolean => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

/** Where a schema and a reader disagree: property names, required lists, strictness, arrays, recursively. */
function schemaProblems(doc: Node, schemaValue: unknown, reader: Reader<unknown>, at: string): string[] {
  const schema = resolve(doc, schemaValue);
  const r = unwrap(reader) as Partial<ObjectReader<Record<string, Reader<unknown>>> & ArrayReader<unknown>>;
  if (r.fields !== undefined) {
    const props = asNode(schema['properties']);
    const documented = Object.keys(props);
    const required = Array.isArray(schema['required']) ? (schema['required'] as string[]) : [];
    const out: string[] = [];
    if (schema['type'] !== 'object') out.push(`${at}: documented as ${String(schema['type'])}, read as an object`);
    if (!same(documented, Object.keys(r.fields))) out.push(`${at} properties: documented [${sorted(documented).join(', ')}], read [${sorted(Object.keys(r.fields)).join(', ')}]`);
    if (!same(required, r.required ?? [])) out.push(`${at} required: documented [${sorted(required).join(', ')}], read [${sorted(r.required ?? []).join(', ')}]`);
    if ((schema['additionalProperties'] === false) !== r.exact) out.push(`${at} additionalProperties: documented ${schema['additionalProperties'] === false ? 'false' : 'open'}, read ${r.exact ? 'exact' : 'open'}`);
    for (const k of Object.keys(r.fields)) if (Object.hasOwn(props, k)) out.push(...schemaProblems(doc, props[k], r.fields[k]!, `${at}.${k}`));
    return out;
  }
  if (r.item !== undefined) {
    if (schema['type'] !== 'array') return [`${at}: documented as ${String(schema['type'])}, read as an array`];
    return schemaProblems(doc, schema['items'], r.item, `${at}[]`);
  }
  return []; // a leaf (its own reader checks it; the document describes it)
}

/** Every disagreement between the document and the route table; empty when they agree. */
function contractProblems(yaml: string): string[] {
  const doc = asNode(parseYamlSubset(yaml));
  const paths = asNode(doc['paths']);
  const out: string[] = [];
  const documented = new Set<string>();
  for (const [path, item] of Object.entries(paths)) for (const m of Object.keys(asNode(item))) if (METHODS.includes(m)) documented.add(`${m.toUpperCase()} ${path}`);
  const served = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
  for (const k of documented) if (!served.has(k)) out.push(`${k}: documented, not served`);
  for (const route of ROUTES) {
    const where = `${route.method} ${route.path}`;
    const op = asNode(asNode(paths[route.path])[route.method.toLowerCase()]);
    if (!documented.has(where)) {
      out.push(`${where}: served, not documented`);
      continue;
    }
    // The request body.
    const requestJson = asNode(asNode(resolve(doc, op['requestBody'])['content'])['application/json']);
    if (route.request !== undefined) {
      if (requestJson['schema'] === undefined) out.push(`${where} request: no JSON body documented`);
      else out.push(...schemaProblems(doc, requestJson['schema'], route.request as unknown as Reader<unknown>, `${where} request`));
    } else if (requestJson['schema'] !== undefined) out.push(`${where} request: a JSON body is documented, the server reads none through a schema`);
    // Each status and its body.
    const responses = asNode(op['responses']);
    const statuses = Object.keys(route.responses).map(Number);
    if (!same(Object.keys(responses), statuses.map(String))) out.push(`${where} statuses: documented [${sorted(Object.keys(responses)).join(', ')}], served [${sorted(statuses.map(String)).join(', ')}]`);
    for (const status of statuses.filter((x) => Object.hasOwn(responses, String(x)))) {
      const body = route.responses[status]!;
      const content = asNode(resolve(doc, responses[String(status)])['content']);
      const at = `${where} ${status}`;
      if (body === 'empty') {
        if (Object.keys(content).length > 0) out.push(`${at}: documented with a body, answered without one`);
      } else if (body === 'text') {
        if (content['text/plain'] === undefined) out.push(`${at}: not documented as text/plain`);
      } else if (asNode(content['application/json'])['schema'] === undefined) out.push(`${at}: no JSON body documented`);
      else out.push(...schemaProblems(doc, asNode(content['application/json'])['schema'], body, at));
    }
  }
  // A certificate travels as an object its own reader checks: the document describes that reader.
  out.push(...schemaProblems(doc, asNode(asNode(doc['components'])['schemas'])['RegistrationCertificate'], registrationCertificateShape, 'RegistrationCertificate'));
  return out;
}

describe('openapi.yaml', () => {
  const yaml = readFileSync(new URL('../../provisioning/openapi.yaml', import.meta.url), 'utf8');

  it('documents every route the server serves and nothing else, with the same statuses, request bodies and response bodies', () => {
    expect(contractProblems(yaml)).toEqual([]);
    // Every route names a body for each status, and the request bodies are the ones the server reads.
    expect(ROUTES.filter((r) => r.request !== undefined).map((r) => r.name).sort()).toEqual(['challenge', 'proof', 'publishManifest', 'revoke']);
  });

  it('fails on a drifted document: a renamed or extra response field, a required list, a status, a request field', () => {
    const renamed = yaml.replace('revocationVersion: { type: integer }', 'revocationVersionNumber: { type: integer }');
    expect(renamed).not.toBe(yaml);
    expect(contractProblems(renamed)).toEqual([
      'POST /v1/nodes/{nodeId}/revoke 200 properties: documented [nodeId, outcome, revocationVersionNumber, state], read [nodeId, outcome, revocationVersion, state]',
    ]);
    const nested = yaml.replace('              line: { type: integer }', '              lineNo: { type: integer }');
    expect(contractProblems(nested)).toEqual(expect.arrayContaining([expect.stringMatching(/^POST \/v1\/batches 200\.results\[\] properties: documented \[code, lineNo,/)]));
    const error = yaml.replace('required: [code, message]', 'required: [code]');
    expect(contractProblems(error).length).toBeGreaterThanOrEqual(20); // every error status of every route
    const status = yaml.replace("        '410': { $ref: '#/components/responses/Error' }\n", '');
    expect(contractProblems(status)).toEqual(['POST /v1/activation/proof statuses: documented [200, 400, 403, 404, 408, 409, 503], served [200, 400, 403, 404, 408, 409, 410, 503]']);
    const request = yaml.replace('required: [challengeId, secret]', 'required: [challengeId]');
    expect(contractProblems(request)).toEqual(['POST /v1/activation/proof request required: documented [challengeId], read [challengeId, secret]']);
    const open = yaml.replace("schema: { type: object, additionalProperties: false, properties: { reason: { type: string, maxLength: 200 } } }", "schema: { type: object, properties: { reason: { type: string, maxLength: 200 } } }");
    expect(contractProblems(open)).toEqual(['POST /v1/nodes/{nodeId}/revoke request additionalProperties: documented open, read exact']);
    const cert = yaml.replace('        sealingPublicKey: { type: string, description: SPKI PEM }\n', '');
    expect(contractProblems(cert)).toEqual([expect.stringMatching(/^RegistrationCertificate properties: documented \[board, ekName, expiresAt, format, issuedAt, nodeId, serial, signature\], read \[.*sealingPublicKey/)]);
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

describe('the YAML subset reader', () => {
  it('reads block and flow collections, quoted and folded scalars, and refuses what it does not know', () => {
    expect(parseYamlSubset("a:\n  b: { c: [1, 'x, y'], d: true }\n  'e': >-\n    one\n    two\nl:\n  - { n: 1 }\n  - plain text, with comma\n")).toEqual({
      a: { b: { c: [1, 'x, y'], d: true }, e: 'one two' }, l: [{ n: 1 }, 'plain text, with comma'],
    });
    expect(() => parseYamlSubset('a: { b: c, d }')).toThrow(/expected ":" after d/);
    expect(() => parseYamlSubset('a: 1\na: 2')).toThrow(/key a twice/);
    expect(() => parseYamlSubset('a: { b: 1')).toThrow(/unclosed/);
  });
});
