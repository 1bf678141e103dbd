// A household's node needs only the root's URL and key: with nothing on the broker, `btn-node run`
// fetches the root-signed manifest from the root node (GET /v1/network/manifest), keeps it in its
// state directory, and takes a newer one the root publishes later. Real parts: swtpm, aedes, the
// registrar on SQLite.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { startProvisionedRoot, type ProvisionedRoot } from '../../../firmware/devnet/provisioned-root.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { readStatusFile } from '../../../firmware/status/index.ts';
import { startBroker, type BrokerHandle } from '../../../firmware/transport/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { testNetwork } from '../../network.ts';
import { until } from '../../until.ts';

let dir: string;
let swtpm: SwtpmInstance;
let root: ProvisionedRoot;
let broker: BrokerHandle;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-manifest-fetch-'));
  swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  root = await startProvisionedRoot({ dir: join(dir, 'root'), trustDir: join(dir, 'ca'), logger: pino({ level: 'silent' }) });
  broker = await startBroker();
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await root?.close();
  await swtpm?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('the manifest from the root node', () => {
  it('btn-node run takes it from the root with nothing on the broker, stores it, and follows a newer one', { timeout: 60_000 }, async () => {
    const net = testNetwork({ clerks: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey], params: DEFAULT_PARAMS, genesis: { hash: new Uint8Array(32).fill(1), height: 0 }, root: root.rootKey, name: 'fetchnet' });
    const publish = async (version: number, sealZeros: number): Promise<void> => {
      const m = net.manifest(version, { ...DEFAULT_PARAMS, sealZeros });
      expect(await root.store.publishManifest({ network: m.network, version, manifest: JSON.stringify(m), publishedAt: Date.now() })).toBe('published');
    };
    await publish(1, 5);
    const stateDir = join(dir, 'node');
    const config = join(dir, 'run.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, topicPrefix: `btn/fetch-${process.pid}`, stateDir, network: 'fetchnet', protocol: 4, logLevel: 'silent',
      // The root is not filed with this TPM: activation keeps retrying; the manifest does not wait for it.
      root: { url: root.url, publicKey: Buffer.from(root.rootPublicKey).toString('hex'), revocationPollMs: 500 },
    }));
    const ac = new AbortController();
    const run = runCommand(['--config', config], { signal: ac.signal });
    try {
      await until('manifest version 1 in status.json', async () => (await readStatusFile(stateDir).catch(() => null))?.chain.paramsVersion === 1, 30_000);
      expect(JSON.parse(await readFile(join(stateDir, 'network-manifest.json'), 'utf8'))).toMatchObject({ network: 'fetchnet', version: 1, params: { sealZeros: 5 } });
      const s = await readStatusFile(stateDir);
      expect(s?.faults?.some((f) => f.key === 'network manifest')).toBe(false);
      await publish(2, 6);
      await until('manifest version 2 in status.json', async () => (await readStatusFile(stateDir).catch(() => null))?.chain.paramsVersion === 2, 30_000);
    } finally {
      ac.abort();
      expect(await run).toBe(0);
    }
  });
});
