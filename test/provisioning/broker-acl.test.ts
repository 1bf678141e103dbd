// The broker enforces who may publish what: a real mosquitto 2 with TLS and its dynamic security
// plugin, its clients and roles made by the root's BrokerAdmin over the control topic. Shown: no
// or wrong credentials and an unpinned CA are refused at connect; a secondary node publishes its
// own status and seals but not another node's, nor a candidate, a final, a manifest or a revocation list; a
// clerk publishes candidates; a disabled client is disconnected at once and cannot come back.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_MAX_PACKET_BYTES, startSecureMosquitto, type SecureMosquitto } from '../../firmware/devnet/secure-mosquitto.ts';
import { topicsFor } from '../../firmware/protocol/topics.ts';
import { createMqttTransport, DEVICE_MAX_INBOUND_BYTES } from '../../firmware/transport/index.ts';
import { BrokerAdmin } from '../../provisioning/broker/dynsec.ts';
import { freePort } from '../net.ts';
import { until } from '../until.ts';

const prefix = 'btn/acl';
const topics = topicsFor(prefix);
let dir: string;
let broker: SecureMosquitto;
let admin: BrokerAdmin;
const clients: MqttClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-broker-acl-'));
  broker = await startSecureMosquitto({ dir, port: await freePort() });
  admin = await BrokerAdmin.connect({ url: broker.url, ...broker.admin, ca: broker.caPem });
  const clerk = await admin.ensureRole('clerk', prefix);
  await admin.upsertNode('node-a', 'secret-a', prefix);
  await admin.upsertNode('node-b', 'secret-b', prefix);
  await admin.upsertClient('clerk-1', 'secret-c', clerk);
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await admin?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** `ca` null: the system's CAs only (the broker's own CA not pinned). */
async function connect(username: string | undefined, password: string | undefined, ca: string | null = broker.caPem): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, {
    protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000,
    ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }),
    ...(ca === null ? {} : { ca }), rejectUnauthorized: true,
  });
  clients.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  return 'connected';
}

/** Collects what `observer` receives on `filters`. */
async function watch(observer: MqttClient, ...filters: string[]): Promise<string[]> {
  const seen: string[] = [];
  observer.on('message', (topic, payload) => void seen.push(`${topic} ${payload.toString()}`));
  for (const f of filters) await observer.subscribeAsync(f, { qos: 1 });
  return seen;
}

describe('broker access control (mosquitto dynamic security, TLS)', () => {
  it('refuses no credentials, a wrong password and a broker certificate from an unpinned CA', async () => {
    expect(await refusal(connect(undefined, undefined))).toMatch(/Not authorized|Bad User Name or Password|unauthori[sz]ed/i);
    expect(await refusal(connect('node-a', 'wrong'))).toMatch(/Not authorized|Bad User Name or Password|unauthori[sz]ed/i);
    expect(await refusal(connect('node-a', 'secret-a', null))).toMatch(/self[- ]signed|unable to (get|verify)|certificate/i);
    expect(await refusal(connect('node-a', 'secret-a'))).toBe('connected');
  });

  it('a secondary node publishes its own status only; candidates, finals, manifests and revocations only from their roles', async () => {
    const nodeA = await connect('node-a', 'secret-a');
    const nodeB = await connect('node-b', 'secret-b');
    const clerk = await connect('clerk-1', 'secret-c');
    const statuses = await watch(clerk, topics.allStatus, topics.allSeals);
    const network = await watch(nodeB, topics.candidates, topics.final, topics.manifest, topics.revocations);
    // Forged by node-a (each is acknowledged or refused before the marker after it goes out).
    for (const [topic, body] of [[topics.status('node-b'), 'forged status'], [topics.candidates, 'forged candidate'], [topics.final, 'forged final'],
      [topics.manifest, 'forged manifest'], [topics.revocations, 'forged revocations'], [topics.updates, 'forged update announcement'], [topics.sealFrom('c1', 'node-b'), 'forged seal of node-b']] as const) {
      // MQTT 5: mosquitto answers the PUBLISH with reason code 0x87 (so the device can count it).
      expect(await refusal(nodeA.publishAsync(topic, body, { qos: 1 })), topic).toMatch(/Not authorized/);
    }
    await nodeA.publishAsync(topics.status('node-a'), 'own status', { qos: 1 });
    await nodeA.publishAsync(topics.sealFrom('c1', 'node-a'), 'own seal', { qos: 1 });
    await clerk.publishAsync(topics.candidates, 'marker candidate', { qos: 1 });
    await until('the marker and node-a\'s own status', () => network.some((m) => m.endsWith('marker candidate')) && statuses.some((m) => m.endsWith('own status')) && statuses.some((m) => m.endsWith('own seal')), 10_000);
    expect(network.filter((m) => m.includes('forged'))).toEqual([]);
    expect(statuses.filter((m) => m.includes('forged'))).toEqual([]);
    // A secondary may not even subscribe to other nodes' statuses.
    expect(await refusal(nodeA.subscribeAsync(topics.allStatus, { qos: 1 }))).toMatch(/Not authorized/);
  });

  it('the device transport counts what the broker refused and says on which topic, for the status page', async () => {
    const transport = createMqttTransport({ url: broker.url, nodeId: 'node-a', clientId: 'node-a-transport', prefix, username: 'node-a', password: 'secret-a', ca: broker.caPem, protocol: 5, status: false });
    try {
      await until('connected as node-a', () => transport.state === 'online', 10_000);
      expect(await transport.publish(topics.status('node-a'), { state: 'online' }, { qos: 1 })).toBe('delivered');
      expect(transport.identity).toMatchObject({ user: 'node-a', refused: 0, publishRefused: 0, lastPublishRefusal: null });
      const refused = await transport.publish(topics.candidates, 'not a clerk', { qos: 1 });
      expect([refused, transport.protocolVersion]).toEqual(['rejected', 5]);
      expect(transport.identity).toMatchObject({ publishRefused: 1, lastPublishRefusal: `Not authorized on ${topics.candidates}` });
      expect(transport.stats().publishRefused).toBe(1);
      expect(transport.state).toBe('online'); // refused, not cut off
    } finally {
      await transport.close();
    }
  });

  it('a device that pins another CA than the broker\'s never connects, and its status says why in words', async () => {
    const other = join(dir, 'other-ca');
    await mkdir(other);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(other, 'ca.key'), '-out', join(other, 'ca.pem'), '-days', '1', '-subj', '/CN=another CA'], { stdio: 'ignore' });
    const transport = createMqttTransport({
      url: broker.url, nodeId: 'node-a', clientId: 'node-a-other-ca', prefix, username: 'node-a', password: 'secret-a', ca: await readFile(join(other, 'ca.pem'), 'utf8'), status: false,
    });
    try {
      await until('the TLS failure named', () => transport.identity.lastFailure !== null, 10_000);
      expect(transport.identity.lastFailure).toMatch(/^TLS: the broker's certificate is not from the network's broker CA \(brokerCa\) \[[A-Z_]+\]$/);
      expect(transport.state).not.toBe('online');
      expect(transport.identity.refused).toBe(0); // the broker never refused: this node refused the broker
    } finally {
      await transport.close();
    }
  });

  it('a packet over the broker\'s limit disconnects its sender; one at the limit goes through', async () => {
    const clerk = await connect('clerk-1', 'secret-c');
    const seen: number[] = [];
    const watcher = await connect('node-b', 'secret-b');
    watcher.on('message', (_t, payload) => void seen.push(payload.length));
    await watcher.subscribeAsync(topics.candidates, { qos: 1 });
    const big = await connect('clerk-1', 'secret-c');
    const closed = new Promise<void>((resolve) => big.once('close', () => resolve()));
    big.publish(topics.candidates, Buffer.alloc(BROKER_MAX_PACKET_BYTES + 1), { qos: 0 });
    await closed;
    await clerk.publishAsync(topics.candidates, Buffer.alloc(DEVICE_MAX_INBOUND_BYTES - 1024), { qos: 1 });
    await until('the largest allowed candidate', () => seen.includes(DEVICE_MAX_INBOUND_BYTES - 1024), 20_000);
    expect(seen.filter((n) => n > BROKER_MAX_PACKET_BYTES)).toEqual([]);
  });

  it('a disabled client is disconnected at once and its password no longer works', async () => {
    const nodeB = await connect('node-b', 'secret-b');
    const closed = new Promise<void>((resolve) => nodeB.once('close', () => resolve()));
    await admin.disableClient('node-b');
    await closed;
    expect(await refusal(connect('node-b', 'secret-b'))).toMatch(/Not authorized|Bad User Name or Password|unauthori[sz]ed/i);
  });
});
