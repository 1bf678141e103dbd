// A batch of 100,000 synthetic lines (one real swtpm EK certificate and key reused, distinct EK
// names and sealing keys) uploads over HTTP into a real SQLite store in one signed request.
// Throughput is measured in test/bench/provisioning.bench.ts, not here.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { MAX_BATCH_LINES, signManifest, TrustStore } from '../../provisioning/manifest/index.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore, type ProvisioningStore } from '../../provisioning/store/index.ts';
import { startDevices, type DeviceLab } from './devices.ts';
import { manifestBytes, syntheticLines } from './synthetic.ts';
import { RegistrarClient } from '../../firmware/protocol/registrar-api/index.ts';

let lab: DeviceLab;
let store: ProvisioningStore;
let server: RunningRegistrar;
let dir: string;
const maker = generateEd25519().key;

beforeAll(async () => {
  lab = await startDevices(1);
  dir = mkdtempSync(join(tmpdir(), 'btn-prov-100k-'));
  store = await openStore(`sqlite:${join(dir, 'p.db')}`);
  await store.addManufacturer({ name: 'acme', publicKey: maker.publicKey, createdAt: 0 });
  server = await startRegistrar({ store, rootKey: generateEd25519().key, trust: await TrustStore.fromDirectory(lab.caDir) });
});
afterAll(async () => {
  await server?.close();
  await store?.close();
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('uploads and files 100,000 devices in one signed batch', async () => {
  const manifest = manifestBytes(syntheticLines(lab.devices[0]!.line, MAX_BATCH_LINES));
  const sig = signManifest(manifest, maker, 'acme');
  const report = await new RegistrarClient(server.url).uploadBatch({ manifest, manufacturer: 'acme', signature: sig.signature });
  expect(report).toMatchObject({ lines: 100_000, filed: 100_000, rejected: 0 });
  expect((await store.countDevices()).filed).toBe(100_000);
});
