// Root key rotation end to end: a real `btn-provision serve` process, a swtpm device activated
// through the activation gate, the node's network state on disk. The operator announces the next
// key with `btn-provision root rotate`; the node keeps its registration through the window and
// renews under the new key once it opens; after the window the seen-seal check refuses the old
// key's registration. A forged announcement is refused by the registrar and the node alike.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivationGate } from '../../firmware/activation/gate.ts';
import { readActivationState } from '../../firmware/activation/state.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { NetworkKeys } from '../../firmware/devnet/network-keys.ts';
import { NetworkState, ROOT_KEYS_FILE } from '../../firmware/node/network-state.ts';
import { signManifest as signNetworkManifest, type SignedManifest } from '../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../firmware/protocol/params.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import { verifyRegistration } from '../../firmware/protocol/registration.ts';
import { RegistrationAuthority } from '../../firmware/protocol/registration-authority.ts';
import { verifyRevocationList } from '../../firmware/protocol/revocation-list.ts';
import type { SealMessage } from '../../firmware/protocol/seal-message.ts';
import { generateEd25519, readKeyFile, writeKeyFile, type Ed25519Key } from '../../provisioning/keys.ts';
import { signManifest as signBatch } from '../../provisioning/manifest/index.ts';
import { openStore } from '../../provisioning/store/index.ts';
import { freePort } from '../net.ts';
import { until } from '../until.ts';
import { jsonl, startDevices, type DeviceLab } from './devices.ts';

const BIN = new URL('../../provisioning/bin/btn-provision.js', import.meta.url).pathname;
const TOKEN = 'rotation-operator-token';
const DAY = 24 * 3600_000;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }));
  });
}

describe('root key rotation against a real registrar process', () => {
  let dir: string;
  let lab: DeviceLab;
  let serve: ChildProcess | null = null;
  let url: string;
  let port: number;
  let db: string;
  let root: Ed25519Key;
  let network: NetworkState;
  let gate: ActivationGate;
  const files = { root: '', next: '', token: '', trust: '' };

  async function startServe(...extra: string[]): Promise<void> {
    let exited: string | null = null;
    const args = ['serve', '--db', db, '--port', String(port), '--root-key', files.root, '--trust', files.trust, '--admin-token-file', files.token, ...extra];
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

  const certificate = async (): Promise<Record<string, unknown>> => (await readActivationState(join(dir, 'state')))!.certificate;
  const signerOf = (cert: unknown, keys: readonly Uint8Array[]): string => toHex(verifyRegistration(cert, keys).signer);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-root-rotation-'));
    lab = await startDevices(1, { keepOpen: true });
    files.trust = lab.caDir;
    files.root = join(dir, 'root.key');
    files.token = join(dir, 'token');
    files.next = join(dir, 'root-next.key');
    const made = generateEd25519();
    root = await writeKeyFile(files.root, made.seed);
    await writeFile(files.token, TOKEN, { mode: 0o600 });
    db = `sqlite:${join(dir, 'root.db')}`;
    const maker = generateEd25519().key;
    const store = await openStore(db);
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    await store.close();
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    await startServe();
    const batch = jsonl([lab.devices[0]!.line]);
    const upload = await fetch(`${url}/v1/batches`, {
      method: 'POST', body: batch,
      headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signBatch(batch, maker, 'acme').signature },
    });
    expect(((await upload.json()) as { filed: number }).filed).toBe(1);
    // The network's first manifest, signed by the root key the node's config names.
    const first = new NetworkKeys({ network: 'rotnet', members: 3, root: { publicKey: root.publicKey, privateKey: root.privateKeyObject } }).manifest({
      version: 1, params: DEFAULT_PARAMS, primaries: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
      genesis: { hash: new Uint8Array(32).fill(5), height: 0, timestamp: 1 },
    });
    await new RegistrarClient(url).publishManifest(first, TOKEN);
    await mkdir(join(dir, 'state'));
    network = await NetworkState.open({ source: { kind: 'signed', network: 'rotnet', rootPublicKey: root.publicKey }, file: join(dir, 'state', 'network-manifest.json') });
    expect(await network.offer(await new RegistrarClient(url).fetchManifest(), 'root')).toEqual({ outcome: 'taken', version: 1 });
    gate = new ActivationGate({
      rootUrl: url, rootPublicKey: root.publicKey, rootKeys: () => network.rootKeys, tpm: lab.devices[0]!.tpm!, stateDir: join(dir, 'state'), revocationPollMs: 300,
    });
    await gate.start();
    await gate.waitFor((s) => s.state === 'active');
  }, 120_000);

  afterAll(async () => {
    await gate?.stop();
    network?.close();
    await stopServe();
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('rotates: the node renews under the new key in the window, and after it the old registration is refused', async () => {
    const before = await certificate();
    expect(signerOf(before, [root.publicKey])).toBe(toHex(root.publicKey));

    // The announcement: the next key made 0600, the manifest signed by the current key and published.
    const from = Date.now() + 3000;
    const rotated = await cli('root', 'rotate', '--root-key', files.root, '--next-root-key', files.next, '--url', url, '--token-file', files.token,
      '--from', new Date(from).toISOString(), '--overlap-days', '1');
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    expect((await stat(files.next)).mode & 0o777).toBe(0o600);
    const next = await readKeyFile(files.next);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ version: 2, previous: toHex(root.publicKey), next: toHex(next.publicKey), published: { outcome: 'published' } });

    // A second announcement while the window holds, and a window below a day, are refused.
    const again = await cli('root', 'rotate', '--root-key', files.root, '--next-root-key', join(dir, 'third.key'), '--url', url, '--token-file', files.token);
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/already announces root key .*a window holds until it ends.*ERR_PROV_MANIFEST_SUCCESSION/s)]);
    const short = await cli('root', 'rotate', '--root-key', files.root, '--next-root-key', join(dir, 'third.key'), '--url', url, '--token-file', files.token, '--overlap-days', '0.5');
    expect([short.code, short.stderr]).toEqual([2, expect.stringContaining('--overlap-days must be 1..730')]);

    // serve refuses a next key others can read, as it does the root key.
    const wide = join(dir, 'wide.key');
    await copyFile(files.next, wide);
    await chmod(wide, 0o644);
    const refused = await cli('serve', '--db', db, '--port', '0', '--root-key', files.root, '--next-root-key', wide, '--trust', files.trust);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/wide\.key.*(0644|others|group)/s)]);

    // The registrar is restarted with the next key; the node takes the announcement.
    await stopServe();
    await startServe('--next-root-key', files.next);
    const announcement = await new RegistrarClient(url).fetchManifest();
    expect(await network.offer(announcement, 'root')).toEqual({ outcome: 'taken', version: 2 });
    expect(JSON.parse(await readFile(join(dir, 'state', ROOT_KEYS_FILE), 'utf8')).keys).toEqual([toHex(root.publicKey), toHex(next.publicKey)]);

    // Before the window the old certificate stays; once it opens the gate renews under the new key.
    const seen = new RegistrationAuthority({ rootPublicKey: root.publicKey, rootKeys: () => network.rootKeys });
    const seal = (registration: unknown): SealMessage => ({ nodeId: before['nodeId'], registration } as unknown as SealMessage);
    expect(seen.check(seal(before)).ok).toBe(true);
    await until('the node to renew under the new key', async () => {
      return signerOf(await certificate(), [root.publicKey, next.publicKey]) === toHex(next.publicKey);
    }, { ms: 30_000 });
    const renewed = await certificate();
    expect(gate.current().state).toBe('active');
    // In the window both registrations count; the revocation list is signed by the new key now.
    expect(seen.check(seal(before)).ok).toBe(true);
    expect(seen.check(seal(renewed)).ok).toBe(true);
    const list = await new RegistrarClient(url).revocations();
    expect(() => verifyRevocationList(list, [root.publicKey])).toThrow(/does not verify/);
    expect(verifyRevocationList(list, network.rootKeys!.at(Date.now())).version).toBeGreaterThanOrEqual(0);

    // The first manifest under the new key, signed with `manifest sign` and published.
    const { format: _f, signature: _s, ...body } = announcement as unknown as SignedManifest;
    await writeFile(join(dir, 'body3.json'), JSON.stringify({ ...body, version: 3 }));
    const signed3 = await cli('manifest', 'sign', '--body', join(dir, 'body3.json'), '--out', join(dir, 'm3.json'), '--root-key', files.next, '--publish', url, '--token-file', files.token);
    expect(signed3.stderr).toBe('');
    expect(signed3.code).toBe(0);
    expect(await network.offer(await new RegistrarClient(url).fetchManifest(), 'root')).toEqual({ outcome: 'taken', version: 3 });

    // After the window: the seen-seal check refuses the old key's registration, takes the new.
    const until_ = from + DAY;
    const after = new RegistrationAuthority({ rootPublicKey: root.publicKey, rootKeys: () => network.rootKeys, now: () => until_ + 1 });
    const old = after.check(seal(before));
    expect(old.ok ? 'ok' : old.reason).toMatch(/^expired: registration certificate is signed by root key .*whose overlap window ended/);
    expect(after.check(seal(renewed)).ok).toBe(true);
  }, 120_000);

  it('refuses a forged rotation announcement at the registrar and at the node; nothing held or stored moves', async () => {
    const held = network.current!.version;
    const stored = [await readFile(join(dir, 'state', 'network-manifest.json')), await readFile(join(dir, 'state', ROOT_KEYS_FILE))];
    const x = generateEd25519().key;
    const current = network.manifest!.signed;
    const { format: _f, signature: _s, ...body } = current;
    const forged = signNetworkManifest({ ...body, version: held + 1, rootRotation: { ...current.rootRotation!, next: toHex(x.publicKey) } }, x.privateKeyObject);
    const put = await fetch(`${url}/v1/network/manifest`, { method: 'PUT', body: JSON.stringify(forged), headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { error: { code: string } }).error.code).toBe('ERR_PROV_BAD_SIGNATURE');
    expect((await new RegistrarClient(url).fetchManifest())?.version).toBe(held);
    expect(await network.offer(forged, 'broker')).toMatchObject({ outcome: 'refused', code: 'ERR_PROTOCOL_ROOT_KEY' });
    expect(network.current!.version).toBe(held);
    expect(await readFile(join(dir, 'state', 'network-manifest.json'))).toEqual(stored[0]);
    expect(await readFile(join(dir, 'state', ROOT_KEYS_FILE))).toEqual(stored[1]);
  });
});
