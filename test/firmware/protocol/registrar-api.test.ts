// The one registrar client against the real registrar (SQLite file, real HTTP on a free port):
// every route it calls, typed answers, the registrar's refusals with their codes, and the caps.
// Activation's challenge and proof are exercised end to end in test/firmware/activation/.
import { mkdtempSync, rmSync } from 'node:fs';
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
