// End to end on real parts: swtpm TPMs enrolled by the factory station (btn-provision factory),
// the batch signed and uploaded by the manufacturer (btn-provision batch sign/upload) to the real registrar (SQLite file, the
// project's MakeCredential), then `btn-node activate` in its own process and the activation
// gate. Skips, saying so, only when the registrar module is not there.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { activate } from '../../../firmware/activation/activate.ts';
import { ActivationGate } from '../../../firmware/activation/gate.ts';
import { readActivationState } from '../../../firmware/activation/state.ts';
import { RegistrarClient } from '../../../firmware/protocol/registrar-api/index.ts';
import { factoryCommand } from '../../../provisioning/cli/factory-command.ts';
import { batchCommand } from '../../../provisioning/cli/batch-command.ts';
import { generateEd25519, writeKeyFile, type Ed25519Key } from '../../../provisioning/keys.ts';
import { TrustStore } from '../../../provisioning/manifest/index.ts';
import { verifyRegistrationCertificate } from '../../../provisioning/registration/index.ts';
import { openTpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { freePort } from '../../net.ts';

type ServerModule = typeof import('../../../provisioning/server/index.ts');
type StoreModule = typeof import('../../../provisioning/store/index.ts');
const server = (await import('../../../provisioning/server/index.ts').catch(() => null)) as ServerModule | null;
const storeMod = (await import('../../../provisioning/store/index.ts').catch(() => null)) as StoreModule | null;
if (server === null || storeMod === null) console.warn('SKIPPED: provisioning/server or provisioning/store is missing; the activation end-to-end test needs the registrar');

const RUNNER = new URL('./activate-runner.ts', import.meta.url).pathname;
const TOKEN = 'e2e-operator-token';

function btnNodeActivate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', RUNNER, ...args], { timeout: 60_000, env: { ...process.env, TSS2_LOG: 'all+NONE' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: Date.now() - started });
    });
  });
}


describe.skipIf(server === null || storeMod === null)('activation end to end (swtpm, factory, registrar, btn-node activate, gate)', () => {
  let dir: string;
  const tpms: SwtpmInstance[] = [];
  let store: Awaited<ReturnType<StoreModule['openStore']>>;
  let registrar: Awaited<ReturnType<ServerModule['startRegistrar']>> | null = null;
  let root: Ed25519Key;
  let rootUrl: string;
  let port: number;
  let trust: TrustStore;
  const nodeIds: string[] = [];

  const startRoot = async (): Promise<void> => {
    registrar = await server!.startRegistrar({ store, rootKey: root, trust, adminToken: TOKEN, port });
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-activation-e2e-'));
    const caDir = join(dir, 'ca');
    for (let i = 0; i < 4; i++) tpms.push(await startSwtpm({ caDir })); // A, B, D filed; C never filed
    trust = await TrustStore.fromDirectory(caDir);
    // C has a sealing key (btn-node tpm init) but was never filed by a manufacturer.
    const c = await openTpm({ tcti: tpms[2]!.tcti });
    try {
      await c.ensureSealingKey();
    } finally {
      await c.close();
    }
    // Factory: enroll A and B into one batch, sign it as the manufacturer.
    const batch = join(dir, 'batch.jsonl');
    await writeFile(join(dir, 'list.txt'), `${tpms[0]!.tcti} SN-A rpi4\n${tpms[1]!.tcti} SN-B rpi4\n${tpms[3]!.tcti} SN-D rpi4\n`);
    const quiet = { write: () => true, isTTY: false as const };
    if (await factoryCommand(['enroll-many', '--list', join(dir, 'list.txt'), '--batch', batch], { stderr: quiet }) !== 0) throw new Error('factory enroll failed');
    for (const l of (await readFile(batch, 'utf8')).trim().split('\n')) {
      const { createHash } = await import('node:crypto');
      const { parsePublic, publicKeySpki } = await import('../../../tpm/public-area.ts');
      nodeIds.push(createHash('sha256').update(publicKeySpki(parsePublic(new Uint8Array(Buffer.from(JSON.parse(l).sealingPublic, 'hex'))))).digest('hex'));
    }
    const makerKey = generateEd25519();
    const maker = makerKey.key;
    const makerSeed = makerKey.seed;
    root = generateEd25519().key;
    store = await storeMod!.openStore(`sqlite:${join(dir, 'root.db')}`);
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    port = await freePort();
    rootUrl = `http://127.0.0.1:${port}`;
    await startRoot();
    // The manufacturer signs and uploads with btn-provision batch sign / upload.
    const keyFile = join(dir, 'acme.key');
    await writeKeyFile(keyFile, makerSeed);
    const quietOut = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const quietErr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let signed: number;
    let uploaded: number;
    try {
      signed = await batchCommand(['sign', '--batch', batch, '--key', keyFile, '--manufacturer', 'acme']);
      uploaded = await batchCommand(['upload', '--batch', batch, '--url', rootUrl]);
    } finally {
      quietOut.mockRestore();
      quietErr.mockRestore();
    }
    const counts = await store.countDevices();
    if (signed !== 0 || uploaded !== 0 || counts.filed !== 3) throw new Error(`batch sign/upload failed: ${signed} ${uploaded} ${JSON.stringify(counts)}`);
  });

  afterAll(async () => {
    await registrar?.close();
    await store?.close();
    for (const t of tpms) await t.destroy().catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const rootKeyHex = (): string => Buffer.from(root.publicKey).toString('hex');

  it('btn-node activate: a filed TPM becomes active with a root-signed certificate, stored durably; again = same answer, no new challenge', async () => {
    const stateDir = join(dir, 'state-A');
    const r = await btnNodeActivate('--root', rootUrl, '--tcti', tpms[0]!.tcti, '--state-dir', stateDir, '--root-key', rootKeyHex());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ nodeId: nodeIds[0], status: 'active', stateFile: join(stateDir, 'activation.json') });
    expect(verifyRegistrationCertificate(out.certificate, root.publicKey, Date.now()).serial).toBe('SN-A');
    expect((await readActivationState(stateDir))?.certificate).toEqual(out.certificate);
    const challenges = (): string | undefined => registrar!.metrics.text(null).match(/^btn_prov_activation_challenges_total (\d+)$/m)?.[1];
    const challengesBefore = challenges();
    expect(challengesBefore).toBe('1');
    const again = await btnNodeActivate('--root', rootUrl, '--tcti', tpms[0]!.tcti, '--state-dir', stateDir);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual(out);
    expect(challenges()).toBe(challengesBefore);
    // State lost: the TPM re-activates (same proof of possession) and gets a fresh certificate
    // for the same node, which the root now serves.
    const fresh = await btnNodeActivate('--root', rootUrl, '--tcti', tpms[0]!.tcti, '--state-dir', join(dir, 'state-A2'), '--root-key', rootKeyHex());
    expect(fresh.code).toBe(0);
    const renewed = JSON.parse(fresh.stdout);
    expect(renewed.nodeId).toBe(nodeIds[0]);
    expect(verifyRegistrationCertificate(renewed.certificate, root.publicKey, Date.now()).serial).toBe('SN-A');
    expect((await store.getNode(nodeIds[0]!))?.certificate).toBe(JSON.stringify(renewed.certificate));
    expect(registrar!.metrics.text(null).match(/^btn_prov_reactivations_total (\d+)$/m)?.[1]).toBe('1');
  });

  it('two activations of one TPM at once: both end active for the same node (the later one re-activates)', async () => {
    const tpm = await openTpm({ tcti: tpms[3]!.tcti });
    try {
      const [x, y] = await Promise.all(['state-D1', 'state-D2'].map((d) => activate({ rootUrl, tpm, stateDir: join(dir, d), rootPublicKey: root.publicKey })));
      expect([x!.nodeId, y!.nodeId]).toEqual([nodeIds[2], nodeIds[2]]);
      for (const st of [x!, y!]) expect(verifyRegistrationCertificate(st.certificate, root.publicKey, Date.now()).nodeId).toBe(nodeIds[2]);
      const served = (await store.getNode(nodeIds[2]!))?.certificate;
      expect([JSON.stringify(x!.certificate), JSON.stringify(y!.certificate)]).toContain(served);
      expect(registrar!.metrics.text(null).match(/^btn_prov_activations_total (\d+)$/m)?.[1]).toBe('2'); // A and D, once each
      expect(registrar!.metrics.text(null).match(/^btn_prov_reactivations_total (\d+)$/m)?.[1]).toBe('2'); // A's lost state, D's second
    } finally {
      await tpm.close();
    }
  });

  it('an unfiled TPM: exit 3 with "not filed"', async () => {
    const r = await btnNodeActivate('--root', rootUrl, '--tcti', tpms[2]!.tcti, '--state-dir', join(dir, 'state-C'));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^btn-node activate: not filed: .*\[ERR_ACTIVATION_NOT_FILED\]\n$/);
    expect(await readActivationState(join(dir, 'state-C'))).toBeNull();
  });

  it('the gate activates on first start once the root comes up, and turns revoked when the signed list names it', async () => {
    await registrar!.close();
    registrar = null;
    const tpm = await openTpm({ tcti: tpms[1]!.tcti });
    const stateDir = join(dir, 'state-B');
    const gate = new ActivationGate({
      rootUrl, rootPublicKey: root.publicKey, tpm, stateDir, revocationPollMs: 200,
      backoff: { baseMs: 100, capMs: 400 }, client: { timeoutMs: 2_000 },
    });
    try {
      await gate.start();
      const down = await gate.waitFor((s) => s.state === 'not-activated' && /unreachable/.test(s.reason));
      expect(down.state === 'not-activated' && down.reason).toContain(`root node at ${rootUrl} is unreachable: ECONNREFUSED`);
      expect(gate.current().nodeId).toBe(nodeIds[1]);
      await startRoot();
      const active = await gate.waitFor((s) => s.state === 'active');
      expect(active.nodeId).toBe(nodeIds[1]);
      const revoke = await new RegistrarClient(rootUrl).revoke(nodeIds[1]!, 'reported stolen', TOKEN);
      expect(revoke).toMatchObject({ state: 'revoked', outcome: 'revoked' });
      const revoked = await gate.waitFor((s) => s.state === 'revoked');
      expect(revoked.state === 'revoked' && revoked.reason).toBe('revoked by the root node: reported stolen');
      expect((await readActivationState(stateDir))?.status).toBe('revoked');
    } finally {
      await gate.stop();
      await tpm.close();
    }
    // btn-node activate for the revoked node: from its state, and from scratch (the root's 403).
    const stored = await btnNodeActivate('--root', rootUrl, '--tcti', tpms[1]!.tcti, '--state-dir', stateDir);
    expect(stored.code).toBe(4);
    expect(stored.stderr).toMatch(/revoked: .*reported stolen.*\[ERR_ACTIVATION_REVOKED\]/);
    const scratch = await btnNodeActivate('--root', rootUrl, '--tcti', tpms[1]!.tcti, '--state-dir', join(dir, 'state-B2'));
    expect(scratch.code).toBe(4);
    expect(scratch.stderr).toMatch(/^btn-node activate: revoked: .*\[ERR_ACTIVATION_REVOKED\]\n$/);
  });

  it('root unreachable: exit 5 naming the URL, refused at once or after the timeout', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await btnNodeActivate('--root', closed, '--tcti', tpms[2]!.tcti, '--state-dir', join(dir, 'state-X'));
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`root unreachable: root node at ${closed} is unreachable: ECONNREFUSED`);
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', () => res()));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const t = await btnNodeActivate('--root', url, '--tcti', tpms[2]!.tcti, '--state-dir', join(dir, 'state-Y'), '--timeout', '1500');
      expect(t.code).toBe(5);
      expect(t.stderr).toContain(`root node at ${url} did not answer POST ${url}/v1/activation/challenge within 1500 ms`);
      console.log(`activate against a silent root with --timeout 1500: process exited after ${t.ms} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => silent.close(() => res()));
    }
  });

  it('a TPM problem: exit 7 naming the TPM', async () => {
    const r = await btnNodeActivate('--root', rootUrl, '--tcti', 'swtpm:host=127.0.0.1,port=1', '--state-dir', join(dir, 'state-Z'));
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^btn-node activate: TPM problem: .*\[ERR_ACTIVATION_TPM\]\n$/);
  });
});
