// An EK certificate issued under an intermediate that is not in the trust directory, only
// uploaded with the batch: a synthetic vendor root (the only certificate the registrar trusts)
// -> an intermediate -> an EK certificate for the swtpm's real EK key, made with openssl and
// written into the TPM's NV by tpm2-tools (the EK certificate at 0x01C00002, the intermediate at
// the first EK chain index 0x01C00100). The factory station reads both, the batch line carries
// the intermediate, the registrar builds root -> intermediate -> EK certificate and the device
// activates end to end. The same line without the intermediate, or with one that is not a CA,
// is refused with the reason.
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activate } from '../../firmware/activation/index.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { enrollDevice } from '../../provisioning/factory/index.ts';
import { signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { openTpm, type Tpm } from '../../tpm/index.ts';
import { publicKeySpki } from '../../tpm/public-area.ts';
import { startSwtpm, type SwtpmInstance } from '../../tpm/swtpm.ts';
import { issue, makeRoot, type TestCa } from './openssl-ca.ts';

const NV_ATTRIBUTES = 'ppwrite|ppread|ownerread|authread|no_da|platformcreate';

/** Replaces (or defines) NV index `index` with `der`, as the TPM vendor's provisioning does. */
function writeNv(tcti: string, dir: string, index: string, der: Uint8Array, replace: boolean): void {
  const file = join(dir, `nv-${index}.der`);
  execFileSync('sh', ['-c', 'cat > "$1"', 'sh', file], { input: der });
  const tool = (args: string[]): void => {
    execFileSync(args[0]!, [...args.slice(1), '-T', tcti], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  if (replace) tool(['tpm2_nvundefine', '-C', 'p', index]);
  tool(['tpm2_nvdefine', '-C', 'p', '-s', String(der.length), '-a', NV_ATTRIBUTES, index]);
  tool(['tpm2_nvwrite', '-C', 'p', '-i', file, index]);
}

describe('EK certificate chains uploaded with the batch', () => {
  let dir: string;
  let sw: SwtpmInstance;
  let tpm: Tpm | null = null;
  let store: ProvisioningStore;
  let server: RunningRegistrar;
  let maker: Ed25519Key;
  let root: TestCa;
  let intermediate: TestCa;
  let notCa: TestCa;
  let ekPem: string;
  let line: Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-ek-chain-'));
    await mkdir(join(dir, 'trust'));
    sw = await startSwtpm({ caDir: join(dir, 'swtpm-ca') });
    tpm = await openTpm({ tcti: sw.tcti });
    const ek = await tpm.ekPublic();
    await tpm.close();
    tpm = null;
    ekPem = createPublicKey({ key: Buffer.from(publicKeySpki(ek)), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }) as string;
    root = makeRoot(dir, 'root', '/O=Synthetic TPM Vendor/CN=Synthetic EK Root CA');
    intermediate = issue(dir, 'intermediate', root, { subject: '/O=Synthetic TPM Vendor/CN=Synthetic EK Intermediate CA 7' });
    const ekCert = issue(dir, 'ek', intermediate, { subject: '/CN=EK of SN-CHAIN-1', publicKeyPem: ekPem });
    writeNv(sw.tcti, dir, '0x01c00002', ekCert.der, true);
    writeNv(sw.tcti, dir, '0x01c00100', intermediate.der, false);
    notCa = issue(dir, 'not-ca', root, { subject: '/O=Synthetic TPM Vendor/CN=Not A CA', extensions: 'not-ca' });

    await copyFile(root.certFile, join(dir, 'trust', 'synthetic-root.pem'));
    const trust = await TrustStore.fromDirectory(join(dir, 'trust'));
    expect(trust.entries.map((e) => e.role)).toEqual(['root']);
    store = await openStore(`sqlite:${join(dir, 'p.db')}`);
    maker = generateEd25519().key;
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    server = await startRegistrar({ store, rootKey: generateEd25519().key, trust });

    tpm = await openTpm({ tcti: sw.tcti });
    const batch = join(dir, 'batch.jsonl');
    const enrolled = await enrollDevice({ tpm, batchPath: batch, serial: 'SN-CHAIN-1', board: 'rpi4' });
    expect(enrolled.status).toBe('added');
    line = JSON.parse((await readFile(batch, 'utf8')).trim()) as Record<string, unknown>;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await store?.close();
    await tpm?.close();
    await sw?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const upload = async (lines: readonly object[]): Promise<{ filed: number; results: { status: string; code?: string; reason?: string }[] }> => {
    const body = new Uint8Array(Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join('')));
    const res = await fetch(`${server.url}/v1/batches`, {
      method: 'POST', body,
      headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(body, maker, 'acme').signature },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as never;
  };

  it('the factory carries the intermediate from NV 0x01C00100 into the batch line', () => {
    expect(line['ekChain']).toEqual([Buffer.from(intermediate.der).toString('base64')]);
  });

  it('refuses the same line without the intermediate, naming the missing issuer', async () => {
    const { ekChain: _, ...without } = line;
    const report = await upload([without]);
    expect(report.filed).toBe(0);
    expect(report.results[0]).toMatchObject({ status: 'rejected', code: 'ERR_EK_CERT_UNTRUSTED' });
    expect(report.results[0]!.reason).toContain('CN=Synthetic EK Intermediate CA 7');
  });

  it('refuses an intermediate without CA basic constraints', async () => {
    const ekUnderNotCa = issue(dir, 'ek-not-ca', notCa, { subject: '/CN=EK under a non-CA', publicKeyPem: ekPem });
    const report = await upload([{ ...line, ekCertificate: Buffer.from(ekUnderNotCa.der).toString('base64'), ekChain: [Buffer.from(notCa.der).toString('base64')] }]);
    expect(report.results[0]).toMatchObject({ status: 'rejected', code: 'ERR_EK_CHAIN_INVALID' });
    expect(report.results[0]!.reason).toMatch(/intermediate "O=Synthetic TPM Vendor, CN=Not A CA" is not a CA certificate/);
  });

  it('files the line with its intermediate and the device activates', async () => {
    const report = await upload([line]);
    expect([report.filed, report.results[0]!.status], JSON.stringify(report.results)).toEqual([1, 'filed']);
    const state = await activate({ rootUrl: server.url, tpm: tpm!, stateDir: join(dir, 'state') });
    expect(state.status).toBe('active');
    // The intermediate extended one path; it was not made an anchor.
    const after = await TrustStore.fromDirectory(join(dir, 'trust'));
    expect(after.size).toBe(1);
  });
});
