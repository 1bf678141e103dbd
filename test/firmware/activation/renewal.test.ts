// Certificate renewal: when it is due (the last third of the lifetime, at most 30 days ahead), and
// end to end: a gate whose root issues 3-second certificates keeps renewing them by re-activation
// and stays active with a valid certificate. Real parts: swtpm, the factory, the registrar on
// SQLite over HTTP.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivationGate, readActivationState } from '../../../firmware/activation/index.ts';
import { MAX_RENEWAL_LEAD_MS, renewalDue } from '../../../firmware/activation/renewal.ts';
import { verifyRegistrationCertificate } from '../../../firmware/protocol/registration.ts';
import { enrollDevice } from '../../../provisioning/factory/index.ts';
import { generateEd25519, type Ed25519Key } from '../../../provisioning/keys.ts';
import { signManifest, TrustStore } from '../../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../../provisioning/store/index.ts';
import { openTpm, type Tpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { until } from '../../until.ts';

const DAY = 24 * 3600_000;

describe('renewalDue', () => {
  it('is due in the last third of the lifetime, at most 30 days ahead, and at once for a broken or ended one', () => {
    expect(renewalDue(0, 3_000, 1_999)).toBe(false);
    expect(renewalDue(0, 3_000, 2_000)).toBe(true);
    expect(renewalDue(0, 365 * DAY, 334 * DAY)).toBe(false);
    expect(renewalDue(0, 365 * DAY, 365 * DAY - MAX_RENEWAL_LEAD_MS)).toBe(true);
    expect(renewalDue(0, 3_000, 10_000)).toBe(true);
    expect(renewalDue(Number.NaN, 3_000, 0)).toBe(true);
    expect(renewalDue(3_000, 3_000, 0)).toBe(true);
  });
});

describe('renewal end to end', () => {
  let dir: string;
  let swtpm: SwtpmInstance;
  let tpm: Tpm;
  let store: ProvisioningStore;
  let server: RunningRegistrar;
  let root: Ed25519Key;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-renewal-'));
    swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
    tpm = await openTpm({ tcti: swtpm.tcti });
    const batch = join(dir, 'batch.jsonl');
    await enrollDevice({ tpm, batchPath: batch, serial: 'RN-1', board: 'rpi4' });
    store = await openStore(`sqlite:${join(dir, 'p.db')}`);
    const maker = generateEd25519().key;
    await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: Date.now() });
    root = generateEd25519().key;
    server = await startRegistrar({ store, rootKey: root, trust: await TrustStore.fromDirectory(join(dir, 'ca')), certificateTtlMs: 3_000 });
    const bytes = new Uint8Array(await readFile(batch));
    const up = await fetch(`${server.url}/v1/batches`, {
      method: 'POST', body: bytes, headers: { 'content-type': 'application/x-ndjson', 'x-btn-manufacturer': 'acme', 'x-btn-signature': signManifest(bytes, maker, 'acme').signature },
    });
    expect(((await up.json()) as { filed: number }).filed).toBe(1);
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await tpm?.close();
    await swtpm?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps renewing a short-lived certificate and stays active with a valid one', { timeout: 60_000 }, async () => {
    const stateDir = join(dir, 'state');
    const gate = new ActivationGate({ rootUrl: server.url, rootPublicKey: root.publicKey, tpm, stateDir, revocationPollMs: 200, backoff: { baseMs: 100, capMs: 400 } });
    try {
      await gate.start();
      await gate.waitFor((s) => s.state === 'active');
      const first = (await readActivationState(stateDir))!;
      const renewals = new Set<string>([String(first.certificate['expiresAt'])]);
      // Three certificates in a row, each taken while the gate stayed active.
      await until('three certificates in a row', async () => {
        const now = (await readActivationState(stateDir))!;
        const expiresAt = String(now.certificate['expiresAt']);
        if (!renewals.has(expiresAt)) {
          expect(gate.current().state).toBe('active');
          verifyRegistrationCertificate(now.certificate, root.publicKey, Date.now());
          expect(now.activatedAt).toBe(first.activatedAt);
          renewals.add(expiresAt);
        }
        return renewals.size >= 3;
      }, { ms: 30_000 });
      expect((await store.getNode(first.nodeId))?.brokerGeneration).toBeGreaterThanOrEqual(3);
    } finally {
      await gate.stop();
    }
  });
});
