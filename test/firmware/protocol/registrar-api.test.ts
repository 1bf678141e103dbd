// The one registrar client against the real registrar (SQLite file, real HTTP on a free port):
// every route it calls, typed answers, the registrar's refusals with their codes, and the caps.
// Activation's challenge and proof are exercised end to end in test/firmware/activation/.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistrarApiError, RegistrarClient, parseRegistrarUrl } from '../../../firmware/protocol/registrar-api/index.ts';
import { verifyRevocationList } from '../../../firmware/protocol/revocation-list.ts';
import { generateEd25519, type Ed25519Key } from '../../../provisioning/keys.ts';
import { signManifest, TrustStore } from '../../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../../provisioning/store/index.ts';

const TOKEN = 'operator-token-for-client-tests';
const NODE = 'c0'.repeat(32);
let dir: string;
let store: ProvisioningStore;
let server: RunningRegistrar;
let root: Ed25519Key;
let maker: Ed25519Key;
let client: RegistrarClient;

async function refusal(p: Promise<unknown>): Promise<RegistrarApiError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(RegistrarApiError);
  return err as RegistrarApiError;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'btn-registrar-client-'));
  store = await openStore(`sqlite:${join(dir, 'r.db')}`);
  root = generateEd25519().key;
  maker = generateEd25519().key;
  await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
  await store.fileBatch(
    { id: '1'.repeat(32), manufacturer: 'acme', manifestSha256: '2'.repeat(64), signature: new Uint8Array(64), lineCount: 1, rejected: 0, uploadedAt: Date.now() },
    [{ ekName: 'e'.repeat(64), ekPublic: new Uint8Array(8), ekCertificate: new Uint8Array(8), sealingPublic: new Uint8Array(8), nodeId: NODE, serial: 'SN-9', board: 'rpi4' }],
  );
  server = await startRegistrar({ store, rootKey: root, trust: TrustStore.fromPem(''), adminToken: TOKEN, verifyWorkers: 0 });
  client = new RegistrarClient(server.url);
});
afterAll(async () => {
  await server?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('RegistrarClient against the registrar', () => {
  it('health', async () => {
    expect(await client.health()).toEqual({ status: 'ok', store: 'sqlite' });
  });

  it('uploads a signed batch and reads the typed report; a wrong signature is refused with the registrar\'s code', async () => {
    const manifest = new Uint8Array(Buffer.from('{"serial":\n{}\n'));
    const sig = signManifest(manifest, maker, 'acme');
    const report = await client.uploadBatch({ manifest, manufacturer: 'acme', signature: sig.signature });
    expect(report).toMatchObject({ manufacturer: 'acme', lines: 2, filed: 0, rejected: 2 });
    expect(report.results.map((r) => [r.line, r.status, r.code])).toEqual([[1, 'rejected', 'ERR_LINE_MALFORMED'], [2, 'rejected', 'ERR_LINE_FIELD']]);
    const other = signManifest(manifest, generateEd25519().key, 'acme');
    const e = await refusal(client.uploadBatch({ manifest, manufacturer: 'acme', signature: other.signature }));
    expect([e.code, e.details.status, e.details.rootCode]).toEqual(['ERR_REGISTRAR_REFUSED', 400, 'ERR_PROV_BAD_SIGNATURE']);
    expect(e.retryable).toBe(false);
  });

  it('looks a node up (null when unknown), revokes it with the operator token, and reads the signed list', async () => {
    expect(await client.node('d0'.repeat(32))).toBeNull();
    expect(await client.node(NODE)).toMatchObject({ nodeId: NODE, state: 'filed', serial: 'SN-9', board: 'rpi4', manufacturer: 'acme', certificate: null });
    const wrong = await refusal(client.revoke(NODE, 'lost', 'not-the-token'));
    expect([wrong.code, wrong.details.status, wrong.details.rootCode]).toEqual(['ERR_REGISTRAR_REFUSED', 401, 'ERR_PROV_UNAUTHORIZED']);
    expect(await client.revoke(NODE, 'lost', TOKEN)).toEqual({ nodeId: NODE, state: 'revoked', outcome: 'revoked', revocationVersion: 1 });
    expect((await client.revoke(NODE, 'lost', TOKEN)).outcome).toBe('already-revoked');
    expect((await client.node(NODE))?.state).toBe('revoked');
    const list = verifyRevocationList(await client.revocations(), root.publicKey);
    expect([list.version, list.revoked.has(NODE)]).toEqual([1, true]);
  });

  it('checks its arguments before sending anything', async () => {
    expect((await refusal(client.node('not-an-id'))).code).toBe('ERR_REGISTRAR_ARGUMENT');
    expect((await refusal(client.revoke(NODE, 'x', 'has space'))).code).toBe('ERR_REGISTRAR_ARGUMENT');
    expect(() => parseRegistrarUrl('ftp://x')).toThrow(RegistrarApiError);
    expect(() => new RegistrarClient(server.url, { timeoutMs: 0 })).toThrow(/timeoutMs/);
  });

  it('caps every answer: a revocation list over its cap is a bad response, not a buffer without bound', async () => {
    const small = new RegistrarClient(server.url, { maxRevocationBytes: 64 });
    const e = await refusal(small.revocations());
    expect(e.code).toBe('ERR_REGISTRAR_BAD_RESPONSE');
    expect(e.message).toMatch(/over the 64-byte cap/);
  });

  it('an unreachable registrar is retryable and named', async () => {
    const e = await refusal(new RegistrarClient('http://127.0.0.1:9').health());
    expect([e.code, e.retryable]).toEqual(['ERR_REGISTRAR_UNREACHABLE', true]);
    expect(e.message).toMatch(/root node at http:\/\/127\.0\.0\.1:9 is unreachable: ECONNREFUSED/);
  });
});

describe('RegistrarClient reads every answer through its reader', () => {
  // A stand-in registrar that answers each path with a canned status and body.
  let canned: Record<string, [number, unknown]> = {};
  let fake: Server;
  let url: string;
  beforeAll(async () => {
    fake = createServer((req, res) => {
      const [status, body] = canned[(req.url ?? '').slice(1)] ?? [404, { error: { code: 'ERR_PROV_NOT_FOUND', message: 'no route' } }];
      res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
    });
    await new Promise<void>((ok) => fake.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/`;
  });
  afterAll(async () => new Promise<void>((ok) => fake.close(() => ok())));

  const badAnswer = async (p: Promise<unknown>): Promise<string> => {
    const e = await refusal(p);
    expect(e.code).toBe('ERR_REGISTRAR_BAD_RESPONSE');
    return e.message;
  };
  const cert = { format: 'btn-registration/v1' };

  it('refuses a malformed answer with ERR_REGISTRAR_BAD_RESPONSE naming the field', async () => {
    const c = new RegistrarClient(url);
    canned = { 'v1/health': [200, [1]] };
    expect(await badAnswer(c.health())).toBe('GET /v1/health: answer: expected object');
    canned = { 'v1/health': [200, { status: 'ok' }] };
    expect(await badAnswer(c.health())).toBe('GET /v1/health: answer.store: expected string of 1..64 characters');
    canned = { 'v1/activation/challenge': [200, { challengeId: 'AB'.repeat(16), credentialBlob: '00', encryptedSecret: '00', expiresAt: 't' }] };
    expect(await badAnswer(c.challenge(new Uint8Array(1), new Uint8Array(1)))).toBe('POST /v1/activation/challenge: answer.challengeId: expected lowercase hex of 16 bytes');
    canned = { 'v1/activation/proof': [200, { nodeId: NODE, status: 'filed', certificate: cert }] };
    expect(await badAnswer(c.proof('a'.repeat(32), new Uint8Array(1)))).toBe('POST /v1/activation/proof: answer.status: expected "active"');
    canned = { 'v1/activation/proof': [200, { nodeId: NODE, status: 'active', certificate: cert, broker: { username: 'd0'.repeat(32), credentialBlob: '00', encryptedSecret: '00' } }] };
    expect(await badAnswer(c.proof('a'.repeat(32), new Uint8Array(1)))).toBe('POST /v1/activation/proof: answer.broker.username: expected the node id');
    canned = { [`v1/nodes/${NODE}`]: [200, { nodeId: NODE, state: 'gone', ekName: 'e', serial: 's', board: 'b', manufacturer: 'm', batchId: 'x', filedAt: null, activatedAt: null, revokedAt: null, revokeReason: null, certificate: null }] };
    expect(await badAnswer(c.node(NODE))).toBe(`GET /v1/nodes/${NODE}: answer.state: expected one of filed, active, revoked`);
    canned = { 'v1/batches': [200, { batchId: 'b', manufacturer: 'acme', sha256: '2'.repeat(64), lines: 1, filed: 1, duplicates: 0, rejected: 0, results: [{ line: -1, status: 'filed' }] }] };
    expect(await badAnswer(c.uploadBatch({ manifest: new Uint8Array(1), manufacturer: 'acme', signature: '0'.repeat(128) }))).toBe('POST /v1/batches: answer.results[0].line: expected integer in 0..9007199254740991');
    canned = { [`v1/nodes/${NODE}/revoke`]: [200, { nodeId: 'd0'.repeat(32), state: 'revoked', outcome: 'revoked', revocationVersion: 1 }] };
    expect(await badAnswer(c.revoke(NODE, 'x', TOKEN))).toBe(`POST /v1/nodes/${NODE}/revoke: answer is about another node`);
    canned = { 'v1/revocations': [200, 'null'] };
    expect(await badAnswer(c.revocations())).toBe('GET /v1/revocations: answer: expected object of at most 64 keys');
  });

  it('ignores fields a newer registrar adds, and keeps the registrar code of a refusal (or the status when the body is not one)', async () => {
    const c = new RegistrarClient(url);
    canned = { 'v1/health': [200, { status: 'ok', store: 'sqlite', uptime: 5 }] };
    expect(await c.health()).toEqual({ status: 'ok', store: 'sqlite' });
    canned = { 'v1/health': [403, { error: { code: 'ERR_PROV_X', message: 'no', extra: 1 } }] };
    const e = await refusal(c.health());
    expect([e.code, e.details.rootCode, e.message]).toEqual(['ERR_REGISTRAR_REFUSED', 'ERR_PROV_X', 'root node refused GET /v1/health: no [ERR_PROV_X]']);
    canned = { 'v1/health': [502, { oops: true }] };
    const p = await refusal(c.health());
    expect([p.code, p.details.rootCode, p.message]).toEqual(['ERR_REGISTRAR_UNREACHABLE', undefined, `root node at ${new URL(url).origin} failed (HTTP 502): HTTP 502`]);
  });
});
