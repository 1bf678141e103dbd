// A signed, versioned vendor CA bundle: made with `btn-provision trust bundle`, verified with
// the release key, shown by `trust list` with where each certificate came from, and loaded by
// `serve` as anchors (an swtpm whose EK CA is only in the bundle is filed and activates). An
// unsigned, wrongly signed, tampered or older bundle is refused with its own error.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import { generateEd25519, writeKeyFile } from '../../provisioning/keys.ts';
import { signManifest } from '../../provisioning/manifest/index.ts';
import { makeVendorBundle, verifyVendorBundle } from '../../provisioning/manifest/vendor-bundle.ts';
import { ProvisioningError } from '../../provisioning/errors.ts';
import { openStore } from '../../provisioning/store/index.ts';
import { freePort } from '../net.ts';
import { until } from '../until.ts';
import { jsonl, startDevices, type DeviceLab } from './devices.ts';

const BIN = new URL('../../provisioning/bin/btn-provision.js', import.meta.url).pathname;
const VENDOR_CAS = new URL('../fixtures/tpm-vendor-cas/', import.meta.url).pathname;

const cli = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => new Promise((resolve) => {
  execFile(process.execPath, [BIN, ...args], (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }));
});

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    return err instanceof ProvisioningError ? err.code : String(err);
  }
};

describe('vendor CA bundle: signature and format', () => {
  const release = generateEd25519().key;
  let pems: { name: string; text: string }[];
  beforeAll(async () => {
    const names = (await readdir(VENDOR_CAS)).filter((n) => n.endsWith('.pem')).sort().slice(0, 5);
    pems = await Promise.all(names.map(async (name) => ({ name, text: await readFile(join(VENDOR_CAS, name), 'utf8') })));
  });

  it('verifies with the release key; refuses it unsigned, with another key, or changed after signing', () => {
    const bundle = makeVendorBundle({ version: 4, created: new Date('2026-12-01T00:00:00Z'), pemTexts: pems, key: release });
    const loaded = verifyVendorBundle(JSON.stringify(bundle), release.publicKey);
    expect([loaded.version, loaded.count, loaded.source.source]).toEqual([4, 5, 'vendor CA bundle v4 (2026-12-01T00:00:00.000Z)']);
    const { signature: _, ...unsigned } = bundle;
    expect(codeOf(() => verifyVendorBundle(JSON.stringify(unsigned), release.publicKey))).toBe('ERR_PROV_BUNDLE_UNSIGNED');
    expect(codeOf(() => verifyVendorBundle(JSON.stringify(bundle), generateEd25519().key.publicKey))).toBe('ERR_PROV_BUNDLE_BAD_SIGNATURE');
    expect(codeOf(() => verifyVendorBundle(JSON.stringify({ ...bundle, certificates: bundle.certificates.slice(1) }), release.publicKey))).toBe('ERR_PROV_BUNDLE_BAD_SIGNATURE');
    expect(codeOf(() => verifyVendorBundle(JSON.stringify({ ...bundle, version: 5 }), release.publicKey))).toBe('ERR_PROV_BUNDLE_BAD_SIGNATURE');
  });

  it('refuses what is not a bundle: not JSON, unknown format or field, a non-CA or malformed certificate, too large', () => {
    const bundle = makeVendorBundle({ version: 1, created: new Date(), pemTexts: pems.slice(0, 1), key: release });
    const verify = (doc: unknown): string => codeOf(() => verifyVendorBundle(typeof doc === 'string' ? doc : JSON.stringify(doc), release.publicKey));
    expect(verify('{')).toBe('ERR_PROV_BUNDLE_INVALID');
    expect(verify({ ...bundle, format: 'other/v1' })).toBe('ERR_PROV_BUNDLE_INVALID');
    expect(verify({ ...bundle, extra: 1 })).toBe('ERR_PROV_BUNDLE_INVALID');
    expect(verify({ ...bundle, certificates: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'] })).toBe('ERR_PROV_BUNDLE_INVALID');
    expect(verify(' '.repeat(4 * 1024 * 1024 + 1))).toBe('ERR_PROV_BUNDLE_INVALID');
    expect(codeOf(() => makeVendorBundle({ version: 1, created: new Date(), pemTexts: [{ name: 'x.pem', text: 'no certificate here' }], key: release }))).toBe('ERR_PROV_BUNDLE_INVALID');
  });
});

describe('vendor CA bundle: trust bundle, trust list and serve', () => {
  let dir: string;
  let lab: DeviceLab;
  let releaseKeyFile: string;
  let releaseHex: string;
  let serve: ChildProcess | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-vendor-bundle-'));
    lab = await startDevices(1, { keepOpen: true });
    await mkdir(join(dir, 'empty-trust'));
    releaseKeyFile = join(dir, 'release.key');
    const { seed } = generateEd25519();
    releaseHex = toHex((await writeKeyFile(releaseKeyFile, seed)).publicKey);
    await copyFile(join(lab.caDir, 'issuercert.pem'), join(dir, 'swtpm-issuer.pem'));
  }, 120_000);
  afterAll(async () => {
    serve?.kill('SIGTERM');
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('trust bundle signs the vendor certificates; trust list shows each with its source', async () => {
    const files = (await readdir(VENDOR_CAS)).filter((n) => n.endsWith('.pem')).map((n) => join(VENDOR_CAS, n));
    const made = await cli('trust', 'bundle', '--out', join(dir, 'vendors.json'), '--key', releaseKeyFile, '--version', '3', ...files);
    expect(made.stdout).toMatch(/vendor CA bundle version 3, 45 certificates, signed by [0-9a-f]{64}/);
    const listed = await cli('trust', 'list', '--trust', join(dir, 'empty-trust'), '--vendor-ca-bundle', join(dir, 'vendors.json'), '--vendor-ca-key', releaseHex, '--json');
    const entries = listed.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { role: string; source: string });
    expect(entries).toHaveLength(45);
    expect(new Set(entries.map((e) => e.source))).toEqual(new Set([expect.stringMatching(/^vendor CA bundle v3 \(\d{4}-/)]));
    const people = await cli('trust', 'list', '--trust', VENDOR_CAS);
    expect(people.stdout).toContain('from trust directory GS_TPM_RT.pem;');
    const wrongKey = await cli('trust', 'list', '--trust', join(dir, 'empty-trust'), '--vendor-ca-bundle', join(dir, 'vendors.json'), '--vendor-ca-key', '00'.repeat(32));
    expect([wrongKey.code, wrongKey.stderr]).toEqual([1, expect.stringContaining('ERR_PROV_BUNDLE_BAD_SIGNATURE')]);
  }, 60_000);

  it('serve trusts the bundle\'s CAs (the device is filed and activates); refuses an older bundle after', async () => {
    expect((await cli('trust', 'bundle', '--out', join(dir, 'v2.json'), '--key', releaseKeyFile, '--version', '2', join(dir, 'swtpm-issuer.pem'))).code).toBe(0);
    expect((await cli('trust', 'bundle', '--out', join(dir, 'v1.json'), '--key', releaseKeyFile, '--version', '1', join(dir, 'swtpm-issuer.pem'))).code).toBe(0);
    const rootKeyFile = join(dir, 'root.key');
    await writeKeyFile(rootKeyFile, generateEd25519().seed);
    const db = `sqlite:${join(dir, 'p.db')}`;
    const maker = generateEd25519().key;
    const store = await openStore(db);
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    await store.close();

    const port = await freePort();
    const args = ['serve', '--db', db, '--port', String(port), '--root-key', rootKeyFile, '--trust', join(dir, 'empty-trust')];
    let exited: string | null = null;
    serve = spawn(process.execPath, [BIN, ...args, '--vendor-ca-bundle', join(dir, 'v2.json'), '--vendor-ca-key', releaseHex], { stdio: 'ignore' });
    serve.once('exit', (code) => { exited = `serve exited with ${code}`; });
    const url = `http://127.0.0.1:${port}`;
    await until('the registrar to answer', async () => (await fetch(`${url}/v1/health`).catch(() => null))?.ok, { ms: 30_000, stopIf: () => exited });
    const device = lab.devices[0]!;
    const batch = jsonl([device.line]);
    const upload = await fetch(`${url}/v1/batches`, {
      method: 'POST', body: batch,
      headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(batch, maker, 'acme').signature },
    });
    const report = (await upload.json()) as { filed: number; results: unknown[] };
    expect(report.filed, JSON.stringify(report.results)).toBe(1);
    const client = new RegistrarClient(url);
    const challenge = await client.challenge(fromHex(device.line.ekPublic), fromHex(device.line.sealingPublic));
    const secret = await device.tpm!.activateCredential({ credentialBlob: challenge.credentialBlob, secret: challenge.encryptedSecret });
    expect((await client.proof(challenge.challengeId, secret)).status).toBe('active');
    serve.kill('SIGTERM');
    await until('serve to stop', () => exited !== null);
    serve = null;

    const older = await cli(...args, '--vendor-ca-bundle', join(dir, 'v1.json'), '--vendor-ca-key', releaseHex);
    expect([older.code, older.stderr]).toEqual([1, expect.stringMatching(/vendor CA bundle version 1 is older than version 2, loaded .*ERR_PROV_BUNDLE_OLDER/s)]);
    const unsigned = JSON.parse(await readFile(join(dir, 'v2.json'), 'utf8')) as Record<string, unknown>;
    delete unsigned['signature'];
    await writeFile(join(dir, 'unsigned.json'), JSON.stringify(unsigned));
    const refused = await cli(...args, '--vendor-ca-bundle', join(dir, 'unsigned.json'), '--vendor-ca-key', releaseHex);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining('ERR_PROV_BUNDLE_UNSIGNED')]);
    const noKey = await cli(...args, '--vendor-ca-bundle', join(dir, 'v2.json'));
    expect([noKey.code, noKey.stderr]).toEqual([2, expect.stringContaining('--vendor-ca-bundle needs --vendor-ca-key HEX')]);
  }, 120_000);
});
