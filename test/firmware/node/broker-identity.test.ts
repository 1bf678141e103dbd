// A node's broker identity comes through its TPM (real parts: swtpm, a TLS-only mosquitto 2 with
// dynamic security, the registrar on SQLite managing the broker's accounts, `btn-node run`):
// before activation the device cannot connect at all; activation hands it a credential only its
// TPM opens, it connects as its node id and publishes its status; another TPM cannot open that
// credential; revocation closes its connection and its password no longer works.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { startProvisionedRoot, type ProvisionedRoot } from '../../../firmware/devnet/provisioned-root.ts';
import { startSecureMosquitto, type SecureMosquitto } from '../../../firmware/devnet/secure-mosquitto.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { topicsFor } from '../../../firmware/protocol/topics.ts';
import { readStatusFile } from '../../../firmware/status/index.ts';
import { fieldsOf } from '../../../firmware/status/page.ts';
import { BrokerAdmin, brokerAccounts } from '../../../provisioning/broker/dynsec.ts';
import { openTpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { freePort } from '../../net.ts';
import { testNetwork } from '../../network.ts';
import { until } from '../../until.ts';

const prefix = `btn/identity-${process.pid}`;
const topics = topicsFor(prefix);
let dir: string;
let swtpm: SwtpmInstance;
let broker: SecureMosquitto;
let admin: BrokerAdmin;
let root: ProvisionedRoot;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-broker-identity-'));
  swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  broker = await startSecureMosquitto({ dir: join(dir, 'broker'), port: await freePort() });
  admin = await BrokerAdmin.connect({ url: broker.url, ...broker.admin, ca: broker.caPem });
  root = await startProvisionedRoot({ dir: join(dir, 'root'), trustDir: join(dir, 'ca'), logger: pino({ level: 'silent' }), broker: brokerAccounts(admin, prefix) });
}, 60_000);

afterAll(async () => {
  await root?.close();
  await admin?.close();
  await broker?.stop();
  await swtpm?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('broker identity released through the TPM', () => {
  it('no connection before activation; after it, connected as its node id with a 0600 secret; revoked: disconnected and refused', { timeout: 90_000 }, async () => {
    const net = testNetwork({ clerks: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey], params: DEFAULT_PARAMS, genesis: { hash: new Uint8Array(32).fill(3), height: 0 }, root: root.rootKey, name: 'idnet' });
    const m = net.manifest(1);
    await root.store.publishManifest({ network: m.network, version: 1, manifest: JSON.stringify(m), publishedAt: Date.now() });
    const tpm = await openTpm({ tcti: swtpm.tcti });
    try {
      await root.enroll(tpm, 'SN-ID-1');
    } finally {
      await tpm.close();
    }
    const stateDir = join(dir, 'node');
    await writeFile(join(dir, 'broker-ca.pem'), broker.caPem);
    const config = join(dir, 'run.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, brokerCa: 'broker-ca.pem', topicPrefix: prefix, stateDir, network: 'idnet', protocol: 5, logLevel: 'silent',
      root: { url: root.url, publicKey: Buffer.from(root.rootPublicKey).toString('hex'), revocationPollMs: 300 },
    }));
    // Someone allowed to see statuses: the clerk role.
    await admin.upsertClient('watcher', 'watcher-secret-0123', await admin.ensureRole('clerk', prefix));
    const watcher = await mqtt.connectAsync(broker.url, { username: 'watcher', password: 'watcher-secret-0123', ca: broker.caPem, protocolVersion: 5, reconnectPeriod: 0 });
    const online: string[] = [];
    watcher.on('message', (topic, payload) => { if (payload.toString().includes('"online"')) online.push(topic); });
    await watcher.subscribeAsync(topics.allStatus, { qos: 1 });

    const ac = new AbortController();
    let nodeId = '';
    const run = runCommand(['--config', config], { signal: ac.signal, onStarted: (i) => (nodeId = i.nodeId) });
    try {
      await until('the node started', () => nodeId !== '', 30_000);
      // Not filed yet: not active, and the broker refuses a client without credentials.
      // The status page says why: the broker refuses a client without credentials, counted.
      const refused = await until('status: the broker\'s refusal', async () => {
        const b = (await readStatusFile(stateDir).catch(() => null))?.broker;
        return b !== undefined && !b.connected && (b.refused ?? 0) > 0 ? b : undefined;
      }, 30_000);
      expect(refused.refusal).toMatch(/Not authorized|Bad User Name or Password/i);
      expect(fieldsOf({ ...(await readStatusFile(stateDir))!, broker: refused }).broker).toMatch(/^not connected \(.*\); the broker refused \d+ time\(s\): /);
      expect(online).toEqual([]);
      expect(await root.uploadBatch()).toMatchObject({ filed: 1 });
      await until('connected as its node id', () => online.includes(topics.status(nodeId)), 45_000);
      const connected = await until('status: connected as the node id', async () => {
        const st = await readStatusFile(stateDir).catch(() => null);
        return st?.broker.connected === true && st.broker.user === nodeId ? st : undefined;
      }, 30_000);
      expect(fieldsOf(connected).broker).toBe(`connected as ${nodeId}`);
      const file = join(stateDir, 'broker-credentials.json');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const creds = JSON.parse(await readFile(file, 'utf8')) as { username: string; password: string };
      expect(creds.username).toBe(nodeId);
      // The password works for that user name only.
      const probe = await mqtt.connectAsync(broker.url, { username: nodeId, password: creds.password, ca: broker.caPem, protocolVersion: 5, reconnectPeriod: 0 });
      await probe.endAsync();
      expect(await mqtt.connectAsync(broker.url, { username: 'watcher', password: creds.password, ca: broker.caPem, protocolVersion: 5, reconnectPeriod: 0 }).then(() => 'connected', (e: Error) => e.message)).toMatch(/Not authorized|Bad User Name or Password/);

      expect(await root.revoke(nodeId, 'stolen')).toBeGreaterThan(0);
      await until('disconnected after revocation', async () => (await readStatusFile(stateDir).catch(() => null))?.broker.connected === false, 30_000);
      expect(await mqtt.connectAsync(broker.url, { username: nodeId, password: creds.password, ca: broker.caPem, protocolVersion: 5, reconnectPeriod: 0 }).then(() => 'connected', (e: Error) => e.message)).toMatch(/Not authorized|Bad User Name or Password/);
    } finally {
      ac.abort();
      await run.catch(() => undefined);
      await watcher.endAsync();
    }
  });
});
