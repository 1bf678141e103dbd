// The root node serves the network manifest: GET /v1/network/manifest and the operator's PUT over
// real HTTP on a free port and a real SQLite file. A manifest is stored only if it verifies under
// the registrar's root key and follows the stored one; every refusal leaves the stored one as it
// was. The one client fetches it as a node would at start, and the node's verifyManifest takes it.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkKeys, type ManifestContent } from '../../firmware/devnet/network-keys.ts';
import { MAX_MANIFEST_BYTES, MAX_VERSION_STEP, verifyManifest, type SignedManifest } from '../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../firmware/protocol/params.ts';
import { RegistrarApiError, RegistrarClient, type ErrorBody } from '../../firmware/protocol/registrar-api/index.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';

const TOKEN = 'operator-token-for-manifest-tests';
let dir: string;
let store: ProvisioningStore;
let server: RunningRegistrar;
let root: Ed25519Key;
let keys: NetworkKeys;
let client: RegistrarClient;

const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const genesis = { hash: new Uint8Array(32).fill(7), height: 0, timestamp: 1_700_000_000_000 };
const content = (version: number, extra: Partial<ManifestContent> = {}): ManifestContent => ({ version, params: DEFAULT_PARAMS, primaries: [clerk], genesis, ...extra });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'btn-prov-manifest-'));
  store = await openStore(`sqlite:${join(dir, 'r.db')}`);
  root = generateEd25519().key;
  keys = new NetworkKeys({ network: 'testnet', members: 3, root: { publicKey: root.publicKey, privateKey: root.privateKeyObject } });
  server = await startRegistrar({ store, rootKey: root, trust: TrustStore.fromPem(''), adminToken: TOKEN, verifyWorkers: 0 });
  client = new RegistrarClient(server.url);
});
afterAll(async () => {
  await server?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function put(body: unknown, token: string | null = TOKEN, type = 'application/json'): Promise<{ status: number; json: Record<string, unknown> & Partial<ErrorBody> }> {
  const res = await fetch(`${server.url}/v1/network/manifest`, {
    method: 'PUT',
    headers: { 'content-type': type, ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> & Partial<ErrorBody> };
}

const storedVersion = async (): Promise<number | null> => (await store.networkManifest())?.version ?? null;

describe('GET/PUT /v1/network/manifest', () => {
  it('404 with the error shape before any manifest is published; the client answers null', async () => {
    const res = await fetch(`${server.url}/v1/network/manifest`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).error.code).toBe('ERR_PROV_NOT_FOUND');
    expect(await client.fetchManifest()).toBeNull();
  });

  it('an operator publishes version 1; GET serves it with its version as ETag, a node verifies what the client fetched', async () => {
    const m1 = keys.manifest(content(1));
    expect(await put(m1)).toEqual({ status: 200, json: { network: 'testnet', version: 1, outcome: 'published' } });
    const res = await fetch(`${server.url}/v1/network/manifest`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(await res.json()).toEqual(m1);
    const fetched = await client.fetchManifest();
    expect(fetched).toEqual(m1);
    const terms = verifyManifest(fetched, root.publicKey, 'testnet');
    expect(terms.version).toBe(1);
    expect(terms.committee.size).toBe(3);
  });

  it('If-None-Match of the current version answers 304 without a body; another version gets the manifest', async () => {
    const same = await fetch(`${server.url}/v1/network/manifest`, { headers: { 'if-none-match': '"1"' } });
    expect(same.status).toBe(304);
    expect(same.headers.get('etag')).toBe('"1"');
    expect(await same.text()).toBe('');
    const weak = await fetch(`${server.url}/v1/network/manifest`, { headers: { 'if-none-match': 'W/"0", W/"1"' } });
    expect(weak.status).toBe(304);
    const other = await fetch(`${server.url}/v1/network/manifest`, { headers: { 'if-none-match': '"0"' } });
    expect(other.status).toBe(200);
  });

  it('a forged signature is refused with ERR_PROV_BAD_SIGNATURE and nothing is stored', async () => {
    const m2 = keys.manifest(content(2));
    const forged = { ...m2, params: { ...m2.params, sealZeros: 0 } };
    const r = await put(forged);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'ERR_PROV_BAD_SIGNATURE', field: 'signature' });
    const stranger = new NetworkKeys({ network: 'testnet', members: 3 });
    expect((await put(stranger.manifest(content(2)))).json.error?.code).toBe('ERR_PROV_BAD_SIGNATURE');
    expect(await storedVersion()).toBe(1);
  });

  it('refuses what cannot follow the stored manifest: older, same version with other content, a jump, another genesis or network', async () => {
    const refusedWith = async (m: SignedManifest): Promise<[number, string | undefined, string | undefined]> => {
      const r = await put(m);
      return [r.status, r.json.error?.code, r.json.error?.field];
    };
    const sameVersionOther = keys.manifest(content(1, { validFrom: 5 }));
    expect(await refusedWith(sameVersionOther)).toEqual([409, 'ERR_PROV_MANIFEST_SUCCESSION', 'version']);
    expect(await refusedWith(keys.manifest(content(2 + MAX_VERSION_STEP)))).toEqual([409, 'ERR_PROV_MANIFEST_SUCCESSION', 'version']);
    expect(await refusedWith(keys.manifest(content(2, { genesis: { ...genesis, height: 1 } })))).toEqual([409, 'ERR_PROV_MANIFEST_SUCCESSION', 'genesis']);
    const otherNet = new NetworkKeys({ network: 'othernet', members: keys.members, root: keys.root });
    expect(await refusedWith(otherNet.manifest(content(2)))).toEqual([409, 'ERR_PROV_MANIFEST_SUCCESSION', 'network']);
    expect(await storedVersion()).toBe(1);
    // The same manifest again is no change (a retried publish), not an error.
    expect((await put(keys.manifest(content(1)))).json).toEqual({ network: 'testnet', version: 1, outcome: 'unchanged' });
  });

  it('a higher version within the step replaces it; the older one is then refused', async () => {
    const m5 = keys.manifest(content(5, { params: { ...DEFAULT_PARAMS, sealZeros: 6 } }));
    expect((await put(m5)).json).toMatchObject({ version: 5, outcome: 'published' });
    expect(await client.fetchManifest()).toEqual(m5);
    expect((await fetch(`${server.url}/v1/network/manifest`)).headers.get('etag')).toBe('"5"');
    const r = await put(keys.manifest(content(4)));
    expect([r.status, r.json.error?.code]).toEqual([409, 'ERR_PROV_MANIFEST_SUCCESSION']);
    expect(await storedVersion()).toBe(5);
  });

  it('the operator token is required; malformed, oversized and non-JSON bodies are refused, each with its code', async () => {
    const m6 = keys.manifest(content(6));
    expect((await put(m6, null)).json.error?.code).toBe('ERR_PROV_UNAUTHORIZED');
    expect((await put(m6, 'wrong-token-wrong-token')).status).toBe(401);
    expect((await put(m6, TOKEN, 'text/plain')).status).toBe(415);
    const extra = await put({ ...m6, extra: 1 });
    expect([extra.status, extra.json.error?.code, extra.json.error?.field]).toEqual([400, 'ERR_PROV_INVALID_ARGUMENT', 'manifest.extra']);
    expect((await put('{"format":')).json.error?.code).toBe('ERR_PROV_INVALID_ARGUMENT');
    const big = await put({ ...m6, padding: 'x'.repeat(MAX_MANIFEST_BYTES) });
    expect([big.status, big.json.error?.code]).toEqual([413, 'ERR_PROV_BODY_TOO_LARGE']);
    expect(await storedVersion()).toBe(5);
  });

  it('the client publishes with the operator token and keeps the registrar\'s code on a refusal', async () => {
    expect(await client.publishManifest(keys.manifest(content(6)), TOKEN)).toEqual({ network: 'testnet', version: 6, outcome: 'published' });
    const err = await client.publishManifest(keys.manifest(content(3)), TOKEN).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrarApiError);
    expect(err).toMatchObject({ code: 'ERR_REGISTRAR_REFUSED', details: { status: 409, rootCode: 'ERR_PROV_MANIFEST_SUCCESSION' } });
    expect(await storedVersion()).toBe(6);
  });

  it('the client reads a manifest under the manifest cap: a larger answer is a bad response', async () => {
    // Written to the store directly (the registrar would refuse it): the cap checked is the client's own.
    await store.publishManifest({ network: 'testnet', version: 7, manifest: JSON.stringify({ padding: 'x'.repeat(MAX_MANIFEST_BYTES) }), publishedAt: 1 });
    const err = await client.fetchManifest().then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_REGISTRAR_BAD_RESPONSE' });
  });
});
