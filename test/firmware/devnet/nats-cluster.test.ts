// What the protocol needs from its broker, asked of a real three-member nats-server cluster
// through the project's own transport (MQTT 5 refused, 3.1.1 fallback): retained messages, QoS 1,
// a resumed session, large payloads, '+' / '#' filters, all crossing members; and the one thing it
// cannot carry, a '.' or ' ' in a topic (none of the protocol's topics has one).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsCluster, type NatsCluster } from '../../../firmware/devnet/nats-cluster.ts';
import { createMqttTransport, topicsFor, type MqttTransport } from '../../../firmware/transport/index.ts';
import { until } from '../../until.ts';

let dir = '';
let cluster: NatsCluster;
const open: MqttTransport[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-nats-'));
  cluster = await startNatsCluster({ dir });
}, 60_000);
afterAll(async () => {
  for (const t of open) await t.close();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

const topics = topicsFor('btn/devnet-0a1b2c3d');
function on(member: number, id: string, extra: { sessionExpirySeconds?: number; fallbackUrls?: readonly string[] } = {}): MqttTransport {
  const t = createMqttTransport({
    url: cluster.mqttUrls[member]!, nodeId: id, clientId: `nats-${id}`, prefix: topics.prefix, status: false, maxOutboundBytes: 2 * 1024 * 1024,
    backoff: { baseMs: 50, capMs: 200 }, ...extra,
  });
  open.push(t);
  t.start();
  return t;
}

describe('nats-server cluster as the devnet broker', () => {
  it('refuses MQTT 5, and the transport falls back to 3.1.1', async () => {
    const t = on(0, 'probe');
    await t.online();
    expect(t.stats().protocolRefusals).toBe(1);
  });

  it('retained messages, QoS 1, a 600 KB payload and wildcard filters cross members', async () => {
    const pub = on(0, 'pub');
    await pub.online();
    const big = new Uint8Array(600_000).fill(7);
    expect(await pub.publish(topics.manifest, { v: 1 }, { qos: 1, retain: true })).toBe('delivered');
    expect(await pub.publish(topics.candidates, big, { qos: 1, retain: true })).toBe('delivered');
    expect(await pub.publish(topics.status('ab12'), { state: 'online' }, { qos: 1, retain: true })).toBe('delivered');
    const sub = on(2, 'sub');
    await sub.online();
    const got = new Map<string, { bytes: number; retain: boolean }>();
    const keep = (m: { topic: string; bytes: number; retain: boolean }): void => { got.set(m.topic, { bytes: m.bytes, retain: m.retain }); };
    await sub.subscribe(topics.manifest, keep, { qos: 1 }).ready;
    await sub.subscribe(topics.candidates, keep, { qos: 1, raw: true, maxBytes: 1024 * 1024 }).ready;
    await sub.subscribe(topics.allStatus, keep, { qos: 1 }).ready;
    await sub.subscribe(topics.allSeals, keep, { qos: 1 }).ready;
    expect(await pub.publish(topics.sealFrom('c1erk', 'ab12'), { s: 1 }, { qos: 1 })).toBe('delivered');
    await until('every message on member 2', () => got.size === 4, { ms: 10_000, lastSeen: () => [...got.keys()] });
    expect(got.get(topics.candidates)).toEqual({ bytes: 600_000, retain: true });
    expect(got.get(topics.manifest)!.retain).toBe(true);
    expect(got.get(topics.status('ab12'))!.retain).toBe(true);
    expect(got.get(topics.sealFrom('c1erk', 'ab12'))!.retain).toBe(false);
  });

  it('a persistent session resumes on another member with the QoS 1 message sent while it was away', async () => {
    const a = on(1, 'sess', { sessionExpirySeconds: 600 });
    await a.online();
    await a.subscribe(topics.final, () => undefined, { qos: 1 }).ready;
    await a.close();
    const pub = on(0, 'pub2');
    await pub.online();
    expect(await pub.publish(topics.final, { height: 9 }, { qos: 1 })).toBe('delivered');
    const got: unknown[] = [];
    const b = on(2, 'sess', { sessionExpirySeconds: 600 });
    // Not retained, sent before this connection: only the stored session can bring it.
    await b.subscribe(topics.final, (m) => { got.push(m.value); }, { qos: 1 }).ready;
    await until('the message kept in the session', () => got.length >= 1, 10_000);
    expect(got[0]).toEqual({ height: 9 });
  });

  it("a '.' or ' ' in a topic is refused: the member drops the connection (the protocol's topics have none)", async () => {
    const t = on(0, 'dots');
    await t.online();
    const outcome = await Promise.race([t.publish(`${topics.prefix}/x.y`, { d: 1 }, { qos: 1 }), new Promise((r) => setTimeout(() => r('no ack'), 3000))]);
    expect(outcome).not.toBe('delivered');
    expect(t.stats().connects).toBeGreaterThanOrEqual(1);
    await until('the refused connection comes back', () => t.stats().connects >= 2, 10_000);
  });

  it('a killed member: its clients reconnect to another one and retained messages are still there', async () => {
    const pub = on(0, 'pub3');
    await pub.online();
    expect(await pub.publish(topics.revocations, { v: 3 }, { qos: 1, retain: true })).toBe('delivered');
    const t = on(2, 'moving', { fallbackUrls: [cluster.mqttUrls[0]!, cluster.mqttUrls[1]!] });
    await t.online();
    await cluster.kill(2);
    expect(cluster.members[2]!.alive).toBe(false);
    await until('reconnected to a live member', () => t.state === 'online' && t.stats().connects >= 2, 20_000);
    const got: unknown[] = [];
    await t.subscribe(topics.revocations, (m) => { got.push(m.value); }, { qos: 1 }).ready;
    await until('the retained list after the kill', () => got.length >= 1, 10_000);
    expect(got[0]).toEqual({ v: 3 });
  });
});
