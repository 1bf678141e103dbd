// A node flashed with an old root key joins after two rotations, against a real `btn-provision
// serve` process: the registrar keeps each announcing manifest and serves the rotation chain; the
// node, configured with the first key, walks it to the current signer, stores the keys before
// the manifest, and activates under the newest key. A node configured with a key the chain never
// names is refused and stores nothing. Each window is announced with a `from` a day minus three
// seconds in the past (the shortest overlap is a day), so it ends three seconds after the
// announcement and the next rotation can follow.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivationGate } from '../../firmware/activation/gate.ts';
import { readActivationState } from '../../firmware/activation/state.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { NetworkKeys } from '../../firmware/devnet/network-keys.ts';
import { fetchManifestFromRoot } from '../../firmware/node/manifest-fetch.ts';
import { NetworkState, ROOT_KEYS_FILE } from '../../firmware/node/network-state.ts';
import { signManifest as signNetworkManifest, type SignedManifest } from '../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../firmware/protocol/params.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import { verifyRegistration } from '../../firmware/protocol/registration.ts';
import { generateEd25519, readKeyFile, writeKeyFile, type Ed25519Key } from '../../provisioning/keys.ts';
import { signManifest as signBatch } from '../../provisioning/manifest/index.ts';
import { openStore } from '../../provisioning/store/index.ts';
import { freePort } from '../net.ts';
import { until } from '../until.ts';
import { jsonl, startDevices, type DeviceLab } from './devices.ts';

const BIN = new URL('../../provisioning/bin/btn-provision.js', import.meta.url).pathname;
const TOKEN = 'rotation-chain-token';
const DAY = 24 * 3600_000;
/** The rotation window is still open when the CLI, started on a loaded machine, publishes it (3 s was once too short). */
const WINDOW_LEFT_MS = 12_000;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }));
  });
}

describe('a node given the first root key joins after two rotations (real registrar process)', () => {
  let dir: string;
  let lab: DeviceLab;
  let serve: ChildProcess | null = null;
  let url: string;
  let port: number;
  let db: string;
  const keys: Ed25519Key[] = [];
  const files = { k1: '', k2: '', k3: '', token: '', trust: '' };

  async function startServe(root: string, next?: string): Promise<void> {
    let exited: string | null = null;
    const args = ['serve', '--db', db, '--port', String(port), '--root-key', root, '--trust', files.trust, '--admin-token-file', files.token, ...(next === undefined ? [] : ['--next-root-key', next])];
    serve = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
    serve.once('exit', (code) => { exited = `serve exited with ${code}`; });
    await until('the registrar to answer', async () => (await fetch(`${url}/v1/health`).catch(() => null))?.ok, { ms: 30_000, stopIf: () => exited });
  }

  async function stopServe(): Promise<void> {
    const p = serve;
    if (p === null) return;
    serve = null;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }

  /** `root rotate` with a window that ends WINDOW_LEFT_MS from now; waits for it to end. */
  async function rotate(root: string, next: string): Promise<void> {
    const from = Date.now() - DAY + WINDOW_LEFT_MS;
    const r = await cli('root', 'rotate', '--root-key', root, '--next-root-key', next, '--url', url, '--token-file', files.token, '--from', new Date(from).toISOString(), '--overlap-days', '1');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await until('the overlap window to end', () => Date.now() > from + DAY + 50, { ms: 30_000 });
  }

  /** The current manifest re-signed by `by` one version up, published. */
  async function publishUnder(by: Ed25519Key): Promise<SignedManifest> {
    const held = (await new RegistrarClient(url).fetchManifest()) as unknown as SignedManifest;
    const { format: _f, signature: _s, rootRotation: _r, ...body } = held;
    const signed = signNetworkManifest({ ...body, version: held.version + 1 }, by.privateKeyObject);
    expect((await new RegistrarClient(url).publishManifest(signed, TOKEN)).outcome).toBe('published');
    return signed;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-root-chain-'));
    lab = await startDevices(1, { keepOpen: true });
    files.trust = lab.caDir;
    files.token = join(dir, 'token');
    await writeFile(files.token, TOKEN, { mode: 0o600 });
    for (const name of ['k1', 'k2', 'k3'] as const) files[name] = join(dir, `${name}.key`);
    keys.push(await writeKeyFile(files.k1, generateEd25519().seed));
    db = `sqlite:${join(dir, 'root.db')}`;
    const maker = generateEd25519().key;
    const store = await openStore(db);
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    await store.close();
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    await startServe(files.k1);
    const batch = jsonl([lab.devices[0]!.line]);
    const upload = await fetch(`${url}/v1/batches`, {
      method: 'POST', body: batch,
      headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signBatch(batch, maker, 'acme').signature },
    });
    expect(((await upload.json()) as { filed: number }).filed).toBe(1);
    const first = new NetworkKeys({ network: 'chainnet', members: 3, root: { publicKey: keys[0]!.publicKey, privateKey: keys[0]!.privateKeyObject } }).manifest({
      version: 1, params: DEFAULT_PARAMS, primaries: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
      genesis: { hash: new Uint8Array(32).fill(6), height: 0, timestamp: 1 },
    });
    await new RegistrarClient(url).publishManifest(first, TOKEN);

    // K1 -> K2 (v2), K2 signs v3; K2 -> K3 (v4), K3 signs v5, the current manifest.
    // Each time restarted with the keys it signs with then (the old root key and its successor).
    await rotate(files.k1, files.k2);
    keys.push(await readKeyFile(files.k2));
    await stopServe();
    await startServe(files.k1, files.k2);
    await publishUnder(keys[1]!);
    await rotate(files.k2, files.k3);
    keys.push(await readKeyFile(files.k3));
    await stopServe();
    await startServe(files.k2, files.k3);
    await publishUnder(keys[2]!);
    // Once the manifest no longer carries the window, the operator runs the registrar on K3 alone.
    await stopServe();
    await startServe(files.k3);
  }, 180_000);

  afterAll(async () => {
    await stopServe();
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves both announcements, oldest first, each signed by the key it retires', async () => {
    const chain = (await new RegistrarClient(url).fetchRootChain()) as { format: string; network: string; manifests: SignedManifest[] };
    expect(chain.format).toBe('btn-root-rotations/v1');
    expect(chain.network).toBe('chainnet');
    expect(chain.manifests.map((m) => [m.version, m.rootRotation?.previous, m.rootRotation?.next])).toEqual([
      [2, toHex(keys[0]!.publicKey), toHex(keys[1]!.publicKey)],
      [4, toHex(keys[1]!.publicKey), toHex(keys[2]!.publicKey)],
    ]);
    expect((await new RegistrarClient(url).fetchManifest())?.['version']).toBe(5);
  });

  it('a new node configured with K1 walks the chain, takes v5, stores K3 first, and activates under K3', async () => {
    const state = join(dir, 'node-k1');
    await mkdir(state);
    const file = join(state, 'network-manifest.json');
    const network = await NetworkState.open({ source: { kind: 'signed', network: 'chainnet', rootPublicKey: keys[0]!.publicKey }, file });
    // Without the chain the config's key refuses the current manifest, naming what it lacks.
    expect(await network.offer(await new RegistrarClient(url).fetchManifest(), 'root')).toMatchObject({ outcome: 'refused', field: 'signature' });
    expect(network.current).toBeNull();
    const stop = fetchManifestFromRoot({ url, network, logger: pino({ level: 'silent' }), everyMs: 60_000 });
    try {
      await until('the node to take the current manifest', () => network.current?.version === 5, { ms: 30_000 });
    } finally {
      stop();
    }
    expect(toHex(network.manifest!.signer)).toBe(toHex(keys[2]!.publicKey));
    expect(JSON.parse(await readFile(join(state, ROOT_KEYS_FILE), 'utf8')).keys).toEqual([toHex(keys[2]!.publicKey)]);
    network.close();

    // A restart verifies the stored manifest again under the stored key.
    const reopened = await NetworkState.open({ source: { kind: 'signed', network: 'chainnet', rootPublicKey: keys[0]!.publicKey }, file });
    expect(reopened.current?.version).toBe(5);

    const gate = new ActivationGate({
      rootUrl: url, rootPublicKey: keys[0]!.publicKey, rootKeys: () => reopened.rootKeys, tpm: lab.devices[0]!.tpm!, stateDir: state, revocationPollMs: 60_000, logger: pino({ level: 'silent' }),
    });
    try {
      await gate.start();
      await gate.waitFor((s) => s.state === 'active');
    } finally {
      await gate.stop();
      reopened.close();
    }
    const cert = (await readActivationState(state))!.certificate;
    expect(toHex(verifyRegistration(cert, [keys[2]!.publicKey]).signer)).toBe(toHex(keys[2]!.publicKey));
  }, 60_000);

  it('a node configured with a random key is refused by the chain and stores nothing', async () => {
    const state = join(dir, 'node-x');
    await mkdir(state);
    const x = generateEd25519().key;
    const network = await NetworkState.open({ source: { kind: 'signed', network: 'chainnet', rootPublicKey: x.publicKey }, file: join(state, 'network-manifest.json') });
    const client = new RegistrarClient(url);
    const current = await client.fetchManifest();
    expect(await network.offer(current, 'root')).toMatchObject({ outcome: 'refused', field: 'signature' });
    expect(await network.followChain(await client.fetchRootChain(), current, 'root')).toMatchObject({
      outcome: 'refused', code: 'ERR_PROTOCOL_ROOT_CHAIN_BROKEN', message: expect.stringMatching(/no link of the rotation chain \(2\) retires a root key this node holds/),
    });
    expect(network.current).toBeNull();
    expect(await readdir(state)).toEqual([]);
    network.close();
  });
});
