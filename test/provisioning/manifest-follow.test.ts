// Two registrar instances on one store (a SQLite file opened twice; PostgreSQL at BTN_PG_URL): a
// manifest announcing a root key rotation is published through instance A, and instance B, which
// read the store at its start, follows it once it reads the store again: it serves the new
// manifest and, once the window opens on its clock, signs registrations (a real swtpm activates)
// and revocation lists with the next key. A stored manifest that does not verify under B's keys
// is not followed: B logs it once and keeps signing under the one it holds.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../firmware/core/bytes.ts';
import { startProvisionedRoot, type ProvisionedRoot } from '../../firmware/devnet/provisioned-root.ts';
import { NetworkKeys } from '../../firmware/devnet/network-keys.ts';
import { signManifest, type SignedManifest } from '../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../firmware/protocol/params.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import { verifyRegistration } from '../../firmware/protocol/registration.ts';
import { verifyRevocationList } from '../../firmware/protocol/revocation-list.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { serveCommand } from '../../provisioning/cli/serve-command.ts';
import { ManifestFollower } from '../../provisioning/server/manifest-follower.ts';
import type { ManifestDeps } from '../../provisioning/server/network-manifest.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';
import type { Tpm } from '../../tpm/index.ts';
import { toTpm2bPublic } from '../../tpm/public-area.ts';
import { startSealingTpms, type SealingTpms } from '../sealing-tpms.ts';

const PG_URL = process.env['BTN_PG_URL'];
if (PG_URL === undefined && process.env['CI']) throw new Error('manifest follow: CI is set but BTN_PG_URL is not');
if (PG_URL === undefined) console.warn('manifest follow: BTN_PG_URL is not set; SKIPPING the PostgreSQL half');
const stores: { name: string; store?: { url: string; schema: string } }[] = [{ name: 'sqlite' }];
if (PG_URL !== undefined) stores.push({ name: 'postgres', store: { url: PG_URL, schema: `btn_follow_${process.pid}_${randomBytes(4).toString('hex')}` } });

const DAY = 24 * 3600_000;
const [K1, K2] = [generateEd25519().key, generateEd25519().key];
const hex = (k: Ed25519Key): string => toHex(k.publicKey);
const template = new NetworkKeys({ network: 'follownet', members: 3 }).manifest({
  version: 1, params: DEFAULT_PARAMS, primaries: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
  genesis: { hash: new Uint8Array(32).fill(6), height: 0, timestamp: 1 },
});
const { format: _f, signature: _s, rootRotation: _r, ...base } = template;

let dir: string;
let tpms: Tpm[] = [];
let devices: SealingTpms | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-manifest-follow-'));
  // One TPM per store: a node is filed on one registrar's store.
  devices = await startSealingTpms(dir, stores.length);
  tpms = devices.tpms;
}, 90_000);

afterAll(async () => {
  await devices?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The device's side at `url`: challenge, ActivateCredential, proof; the key that signed its registration. */
async function activatedSigner(url: string, tpm: Tpm): Promise<string> {
  const client = new RegistrarClient(url);
  const key = (await tpm.sealingKey())!;
  const ch = await client.challenge(toTpm2bPublic((await tpm.ekPublic()).bytes), toTpm2bPublic(key.public.bytes));
  const secret = await tpm.activateCredential({ credentialBlob: ch.credentialBlob, secret: ch.encryptedSecret });
  const proof = await client.proof(ch.challengeId, secret);
  return toHex(verifyRegistration(proof.certificate, [K1.publicKey, K2.publicKey]).signer);
}

describe.each(stores)('an instance follows a manifest another instance published ($name store)', ({ name, store }) => {
  const index = stores.findIndex((s) => s.name === name);
  let a: ProvisionedRoot;
  let storeB: ProvisioningStore;
  let b: RunningRegistrar;
  /** B's clock: real time until the test moves it into the rotation window. */
  let bNow: number | null = null;
  const logB: Record<string, unknown>[] = [];
  const from = Date.now() + DAY;
  const rotation = { previous: hex(K1), next: hex(K2), from, until: from + 30 * DAY };

  beforeAll(async () => {
    const rootDir = join(dir, `root-${name}`);
    a = await startProvisionedRoot({
      dir: rootDir, trustDir: join(dir, 'ca'), logger: pino({ level: 'silent' }), rootKey: K1, nextRootKey: K2,
      ...(store === undefined ? {} : { store }),
    });
    await a.enroll(tpms[index]!, `SN-F-${name}`);
    expect(await a.uploadBatch()).toMatchObject({ filed: 1 });
    await a.publishManifest(signManifest({ ...base, version: 1 }, K1.privateKeyObject));
    storeB = store === undefined ? await openStore(`sqlite:${join(rootDir, 'registrar.db')}`) : await openStore(store.url, { schema: store.schema });
    b = await startRegistrar({
      store: storeB, rootKey: K1, nextRootKey: K2, trust: await TrustStore.fromDirectory(join(dir, 'ca')), verifyWorkers: 0, now: () => bNow ?? Date.now(),
      logger: pino({ level: 'info' }, { write: (line: string) => { logB.push(JSON.parse(line) as Record<string, unknown>); } }),
    });
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await storeB?.close();
    await a?.close();
    if (store !== undefined) {
      const c = new pg.Client({ connectionString: store.url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${store.schema} CASCADE`);
      await c.end();
    }
  });

  it('follows the rotation published through the other instance: serves it, and signs with the next key once the window opens', { timeout: 60_000 }, async () => {
    expect(b.signer.version).toBe(1);
    const announcement = signManifest({ ...base, version: 2, rootRotation: rotation }, K1.privateKeyObject);
    await a.publishManifest(announcement);
    // The manifest route reads the store: B serves the announcement before it follows it.
    expect(await new RegistrarClient(b.url).fetchManifest()).toEqual(announcement);

    // Without a re-read B keeps signing with the old key, also inside the window: the gap closed here.
    bNow = from + 1;
    expect(b.signer.rotation).toBeNull();
    expect(await activatedSigner(b.url, tpms[index]!)).toBe(hex(K1));

    expect(await b.refreshManifest()).toBe('followed');
    expect([b.signer.version, b.signer.rotation]).toEqual([2, rotation]);
    expect(logB.some((l) => l['msg'] === 'network manifest followed' && l['version'] === 2 && l['signingKey'] === hex(K2))).toBe(true);
    expect(await activatedSigner(b.url, tpms[index]!)).toBe(hex(K2));
    const list = await new RegistrarClient(b.url).revocations();
    expect(() => verifyRevocationList(list, [K1.publicKey])).toThrow(/does not verify/);
    expect(verifyRevocationList(list, [K2.publicKey]).version).toBeGreaterThanOrEqual(0);
    // Nothing newer: nothing to follow.
    expect(await b.refreshManifest()).toBe('unchanged');
  });

  it('does not follow a stored manifest that does not verify under its keys; logs it once and keeps the one held', async () => {
    const stranger = generateEd25519().key;
    const forged: SignedManifest = signManifest({ ...base, version: 3, rootRotation: { ...rotation, next: hex(stranger) } }, stranger.privateKeyObject);
    // Written around the API (the API would refuse it): as a misconfigured instance or a tampered row would.
    expect(await storeB.publishManifest({ network: 'follownet', version: 3, manifest: JSON.stringify(forged), publishedAt: Date.now() })).toBe('published');
    const logged = logB.length;
    expect(await b.refreshManifest()).toBe('refused');
    expect(await b.refreshManifest()).toBe('refused');
    const refusals = logB.slice(logged).filter((l) => l['level'] === 50);
    expect(refusals).toEqual([expect.objectContaining({ network: 'follownet', version: 3, followed: 2, reason: expect.any(String), msg: expect.stringMatching(/does not verify under this registrar's root keys: not followed/) })]);
    expect([b.signer.version, b.signer.rotation]).toEqual([2, rotation]);
    expect(hex(b.signer.current())).toBe(hex(K2));
    expect(await activatedSigner(b.url, tpms[index]!)).toBe(hex(K2));
  });
});

describe('the re-read interval', () => {
  it('is an integer of 1 s to 5 min, in the options and on the command line', async () => {
    for (const ms of [0, 999, 1500.5, 300_001, Number.NaN]) expect(() => new ManifestFollower({} as ManifestDeps, pino({ level: 'silent' }), ms)).toThrow(RangeError);
    expect(() => new ManifestFollower({} as ManifestDeps, pino({ level: 'silent' }), 1_000).close()).not.toThrow();
    await expect(serveCommand(['--port', '0', '--manifest-refresh-s', '0'])).rejects.toThrow(/--manifest-refresh-s must be an integer in 1\.\.300/);
  });
});
