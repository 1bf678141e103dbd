// The registrar's rotation chain over real HTTP and a real SQLite file: what it keeps (only an
// announcement signed by the key it retires, the held one again at start), and the bounds of its
// answer (count and bytes, the oldest links dropped first); the client refuses a larger answer.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../firmware/core/bytes.ts';
import { NetworkKeys } from '../../firmware/devnet/network-keys.ts';
import { signManifest, type SignedManifest } from '../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../firmware/protocol/params.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import { MAX_ROOT_CHAIN_BYTES, MAX_ROOT_CHAIN_LINKS } from '../../firmware/protocol/root-chain.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';

const TOKEN = 'operator-token-for-chain-tests';
const DAY = 24 * 3600_000;
const [K1, K2] = [generateEd25519().key, generateEd25519().key];
const hex = (k: Ed25519Key): string => toHex(k.publicKey);
let dir: string;

const template = new NetworkKeys({ network: 'chainnet', members: 3 }).manifest({
  version: 1, params: DEFAULT_PARAMS, primaries: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
  genesis: { hash: new Uint8Array(32).fill(4), height: 0, timestamp: 1 },
});
const { format: _f, signature: _s, rootRotation: _r, ...base } = template;
const now = Date.now();
const R = { previous: hex(K1), next: hex(K2), from: now - DAY, until: now + 30 * DAY };
const manifest = (version: number, by: Ed25519Key, rotation = true): SignedManifest =>
  signManifest({ ...base, version, ...(rotation ? { rootRotation: R } : {}) }, by.privateKeyObject);

async function registrar(name: string): Promise<{ store: ProvisioningStore; server: RunningRegistrar; close: () => Promise<void> }> {
  const store = await openStore(`sqlite:${join(dir, `${name}.db`)}`);
  const server = await startRegistrar({ store, rootKey: K1, nextRootKey: K2, trust: TrustStore.fromPem(''), adminToken: TOKEN, verifyWorkers: 0 });
  return { store, server, close: async () => { await server.close(); await store.close(); } };
}

const chainOf = async (url: string): Promise<SignedManifest[]> => ((await new RegistrarClient(url).fetchRootChain()) as { manifests: SignedManifest[] }).manifests;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-root-chain-http-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('GET /v1/network/manifest/rotations', () => {
  it('404 before a manifest; keeps the announcement signed by the retiring key, not the same window signed by the next', async () => {
    const r = await registrar('keep');
    try {
      const res = await fetch(`${r.server.url}/v1/network/manifest/rotations`);
      expect(res.status).toBe(404);
      const client = new RegistrarClient(r.server.url);
      await client.publishManifest(manifest(1, K1, false), TOKEN);
      expect(await chainOf(r.server.url)).toEqual([]);
      const announcement = manifest(2, K1);
      await client.publishManifest(announcement, TOKEN);
      await client.publishManifest(manifest(3, K1), TOKEN);
      await client.publishManifest(manifest(4, K2), TOKEN);
      expect(await chainOf(r.server.url)).toEqual([announcement]);
    } finally {
      await r.close();
    }
  });

  it('keeps the held announcement again at start (a crash between publish and keeping)', async () => {
    const store = await openStore(`sqlite:${join(dir, 'mend.db')}`);
    const announcement = manifest(2, K1);
    await store.publishManifest({ network: 'chainnet', version: 2, manifest: JSON.stringify(announcement), publishedAt: now });
    expect(await store.rootRotations('chainnet', 32)).toEqual([]);
    const server = await startRegistrar({ store, rootKey: K1, nextRootKey: K2, trust: TrustStore.fromPem(''), adminToken: TOKEN, verifyWorkers: 0 });
    try {
      expect(await chainOf(server.url)).toEqual([announcement]);
    } finally {
      await server.close();
      await store.close();
    }
  });

  it('serves at most the newest links that fit, oldest dropped first; the client refuses an answer above the cap', async () => {
    const r = await registrar('bounds');
    try {
      await new RegistrarClient(r.server.url).publishManifest(manifest(1, K1, false), TOKEN);
      // Served as stored: the registrar verified each link when it kept it, so filler text shows the bounds.
      const link = (v: number, bytes: number): string => JSON.stringify({ v, pad: 'x'.repeat(bytes) });
      for (let v = 10; v < 10 + MAX_ROOT_CHAIN_LINKS + 3; v++) {
        await r.store.recordRotation({ network: 'chainnet', version: v, previousKey: `k${v}`, nextKey: `k${v + 1}`, manifest: link(v, 10), recordedAt: v });
      }
      const served = async (): Promise<{ v: number }[]> => (await (await fetch(`${r.server.url}/v1/network/manifest/rotations`)).json() as { manifests: { v: number }[] }).manifests;
      const many = await served();
      expect(many.length).toBe(MAX_ROOT_CHAIN_LINKS);
      expect(many[0]!.v).toBe(13);
      // Three links of a third of the cap each: the newest two fit, the oldest is dropped.
      for (let v = 100; v < 103; v++) {
        await r.store.recordRotation({ network: 'chainnet', version: v, previousKey: `b${v}`, nextKey: `b${v + 1}`, manifest: link(v, Math.floor(MAX_ROOT_CHAIN_BYTES / 2.5)), recordedAt: v });
      }
      const res = await fetch(`${r.server.url}/v1/network/manifest/rotations`);
      const text = await res.text();
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_ROOT_CHAIN_BYTES);
      expect((JSON.parse(text) as { manifests: { v: number }[] }).manifests.map((m) => m.v)).toEqual([101, 102]);
    } finally {
      await r.close();
    }
    // A root (or anyone in between) answering more than the cap: refused before it is parsed.
    const big = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ format: 'btn-root-rotations/v1', network: 'chainnet', manifests: [{ pad: 'x'.repeat(MAX_ROOT_CHAIN_BYTES) }] }));
    });
    await new Promise<void>((resolve) => big.listen(0, '127.0.0.1', resolve));
    try {
      const port = (big.address() as { port: number }).port;
      await expect(new RegistrarClient(`http://127.0.0.1:${port}`).fetchRootChain()).rejects.toMatchObject({ code: 'ERR_REGISTRAR_BAD_RESPONSE' });
    } finally {
      await new Promise((resolve) => big.close(resolve));
    }
  });
});
