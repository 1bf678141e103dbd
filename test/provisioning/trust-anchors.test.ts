// A trust directory is a set of anchors: every CA certificate in it is trusted as given, whether
// self-signed or not (RFC 5280 §6.1.1 (d)). Shown on the TPM vendors' real CA certificates as
// Keylime ships them (test/fixtures/tpm-vendor-cas: none dropped for lack of a self-signed root,
// although Infineon's intermediates' root is not among them), and end to end: an swtpm whose EK
// certificate is issued by swtpm's intermediate CA is filed and activates with only that
// intermediate in the trust directory, the root above it absent.
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../firmware/core/bytes.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { jsonl, startDevices, type DeviceLab } from './devices.ts';

const VENDOR_CAS = new URL('../fixtures/tpm-vendor-cas/', import.meta.url).pathname;
const BIN = new URL('../../provisioning/bin/btn-provision.js', import.meta.url).pathname;

describe('trust anchors: the TPM vendors\' CA certificates', () => {
  it('loads all 51 of Keylime\'s certificates: none ignored, each with its role and why', async () => {
    const trust = await TrustStore.fromDirectory(VENDOR_CAS);
    expect(trust.entries).toHaveLength(51);
    expect(trust.ignored).toEqual([]);
    const roles = (role: string): number => trust.entries.filter((e) => e.role === role).length;
    expect([roles('root'), roles('anchor'), roles('duplicate'), roles('ignored')]).toEqual([11, 34, 6, 0]);
    expect(trust.size).toBe(45);
    // The intermediates behind the SLB9670 (the project's Raspberry Pi boards): their root is not shipped.
    const ifx = trust.entries.find((e) => e.subject.endsWith('CN=IFX TPM EK Intermediate CA 15'))!;
    expect(ifx).toMatchObject({ role: 'anchor', why: expect.stringMatching(/^its issuer \(.*CN=IFX TPM EK Root CA\) is not in the directory: trusted as given$/) });
    const stmRoot = trust.entries.find((e) => e.subject.endsWith('CN=STM TPM EK Root CA'))!;
    expect(stmRoot.why).toMatch(/^issued by .*CN=GlobalSign Trusted Platform Module Root CA, also in the directory/);
  });

  it('btn-provision trust list says the same, for people and as JSON lines', async () => {
    const run = (...args: string[]): Promise<string> => new Promise((resolve, reject) => {
      execFile(process.execPath, [BIN, 'trust', 'list', '--trust', VENDOR_CAS, ...args], (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    expect((await run()).trimEnd().split('\n').at(-1)).toBe('45 CA certificates trusted (11 self-signed roots, 34 anchors that are not self-signed); 6 duplicates, 0 ignored');
    const lines = (await run('--json')).trimEnd().split('\n').map((l) => JSON.parse(l) as { role: string; sha256: string });
    expect(lines).toHaveLength(51);
    expect(lines.every((l) => /^[0-9a-f]{64}$/.test(l.sha256))).toBe(true);
  });
});

describe('trust anchors: an EK certificate under an intermediate whose root is not trusted', () => {
  let lab: DeviceLab;
  let dir: string;
  let store: ProvisioningStore;
  let server: RunningRegistrar;

  beforeAll(async () => {
    lab = await startDevices(1, { keepOpen: true });
    dir = await mkdtemp(join(tmpdir(), 'btn-trust-anchor-'));
    // swtpm's local CA is two levels: a self-signed root, and the issuer of the EK certificates.
    await copyFile(join(lab.caDir, 'issuercert.pem'), join(dir, 'intermediate.pem'));
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('files and activates the TPM with only the intermediate trusted', async () => {
    const trust = await TrustStore.fromDirectory(dir);
    expect(trust.entries.map((e) => [e.role, e.why.replace(/\(.*\)/, '(...)')])).toEqual([['anchor', 'its issuer (...) is not in the directory: trusted as given']]);
    store = await openStore(`sqlite:${join(dir, 'p.db')}`);
    const maker = generateEd25519().key;
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    server = await startRegistrar({ store, rootKey: generateEd25519().key, trust });
    const device = lab.devices[0]!;
    const batch = jsonl([device.line]);
    const upload = await fetch(`${server.url}/v1/batches`, {
      method: 'POST', body: batch,
      headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(batch, maker, 'acme').signature },
    });
    const report = (await upload.json()) as { filed: number; results: unknown[] };
    expect([upload.status, report.filed], JSON.stringify(report.results)).toEqual([200, 1]);
    const client = new RegistrarClient(server.url);
    const challenge = await client.challenge(fromHex(device.line.ekPublic), fromHex(device.line.sealingPublic));
    const secret = await device.tpm!.activateCredential({ credentialBlob: challenge.credentialBlob, secret: challenge.encryptedSecret });
    expect((await client.proof(challenge.challengeId, secret)).status).toBe('active');
  });
});
