// A node gets its broker identity back by itself (real parts: swtpm, the registrar on SQLite
// managing a TLS mosquitto 2 with dynamic security, `btn-node run`): its credential file deleted
// (a state dir restored from an old backup), it re-activates with the same TPM and connects with
// a fresh password while the old one is refused; a password rotated behind its back (the broker
// refuses it as not authorized) is renewed the same way; once revoked it stays off the broker.
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
import { readStatusFile } from '../../../firmware/status/index.ts';
import { BrokerAdmin, brokerAccounts } from '../../../provisioning/broker/dynsec.ts';
import { openTpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { freePort } from '../../net.ts';
import { testNetwork } from '../../network.ts';
import { until } from '../../until.ts';

const prefix = `btn/renew-${process.pid}`;
let dir: string;
let swtpm: SwtpmInstance;
let broker: SecureMosquitto;
let admin: BrokerAdmin;
let root: ProvisionedRoot;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-broker-renew-'));
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

async function tryConnect(username: string, password: string): Promise<string> {
  return mqtt.connectAsync(broker.url, { username, password, ca: broker.caPem, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000 })
    .then(async (c) => { await c.endAsync(); return 'connected'; }, (e: Error) => e.message);
}

describe('a node recovers its broker identity by re-activating', () => {
  it('deleted credential file: re-activates on its own; rotated password: renews; revoked: stays off', { timeout: 180_000 }, async () => {
    const net = testNetwork({ clerks: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey], params: DEFAULT_PARAMS, genesis: { hash: new Uint8Array(32).fill(4), height: 0 }, root: root.rootKey, name: 'renewnet' });
    const m = net.manifest(1);
    await root.store.publishManifest({ network: m.network, version: 1, manifest: JSON.stringify(m), publishedAt: Date.now() });
    const tpm = await openTpm({ tcti: swtpm.tcti });
    try {
      await root.enroll(tpm, 'SN-RENEW-1');
    } finally {
      await tpm.close();
    }
    expect(await root.uploadBatch()).toMatchObject({ filed: 1 });
    const stateDir = join(dir, 'node');
    const file = join(stateDir, 'broker-credentials.json');
    await writeFile(join(dir, 'broker-ca.pem'), broker.caPem);
    const config = join(dir, 'run.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, brokerCa: 'broker-ca.pem', topicPrefix: prefix, stateDir, network: 'renewnet', protocol: 5, logLevel: 'silent',
      root: { url: root.url, publicKey: Buffer.from(root.rootPublicKey).toString('hex'), revocationPollMs: 300 },
    }));
    const password = async (): Promise<string> => (JSON.parse(await readFile(file, 'utf8')) as { password: string }).password;
    const connectedAs = (nodeId: string, what: string) => until(what, async () => {
      const st = await readStatusFile(stateDir).catch(() => null);
      return st?.broker.connected === true && st.broker.user === nodeId ? st : undefined;
    }, 60_000);
    const start = () => {
      const ac = new AbortController();
      let nodeId = '';
      const run = runCommand(['--config', config], { signal: ac.signal, onStarted: (i) => (nodeId = i.nodeId) });
      return { id: () => nodeId, stop: async () => { ac.abort(); await run; } };
    };

    // First run: activation gives the credential.
    let node = start();
    await until('the node started', () => node.id() !== '', 30_000);
    const nodeId = node.id();
    await connectedAs(nodeId, 'connected after activation');
    const pw1 = await password();
    await node.stop();

    // The state dir comes back from an old backup without the credential: the node re-activates by itself.
    await rm(file);
    node = start();
    await until('the node started again', () => node.id() !== '', 30_000);
    await until('a new credential file', async () => (await password().catch(() => pw1)) !== pw1, 60_000);
    await connectedAs(nodeId, 'connected again with the new credential');
    const pw2 = await password();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await tryConnect(nodeId, pw1)).toMatch(/Not authorized|Bad User Name or Password/);
    expect(await tryConnect(nodeId, pw2)).toBe('connected');

    // Its password replaced behind its back: refused as not authorized, it renews.
    await admin.upsertNode(nodeId, 'not-the-nodes-password-0123456789', prefix);
    await until('a renewed credential file', async () => (await password()) !== pw2, 90_000);
    await connectedAs(nodeId, 'connected with the renewed credential');
    const pw3 = await password();
    expect(await tryConnect(nodeId, pw2)).toMatch(/Not authorized|Bad User Name or Password/);

    // Revoked: off the broker, and no re-activation brings it back.
    await root.revoke(nodeId, 'stolen');
    await until('the gate turns revoked', async () => (await readStatusFile(stateDir).catch(() => null))?.broker.connected === false, 30_000);
    await rm(file);
    expect(await tryConnect(nodeId, pw3)).toMatch(/Not authorized|Bad User Name or Password/);
    await node.stop();
    const restartedAt = Date.now();
    node = start();
    // This run's status: revoked, and the broker has refused it (no credential to offer).
    const st = await until('this run: revoked and refused by the broker', async () => {
      const s = await readStatusFile(stateDir).catch(() => null);
      return s !== null && (s.startedAt ?? 0) >= restartedAt && s.activation.state === 'revoked' && (s.broker.refused ?? 0) >= 2 ? s : undefined;
    }, 60_000);
    expect(st.broker.connected).toBe(false);
    await node.stop();
    expect(await readFile(file).then(() => 'written', () => 'none')).toBe('none');
    expect(await tryConnect(nodeId, pw3)).toMatch(/Not authorized|Bad User Name or Password/);
  });
});
