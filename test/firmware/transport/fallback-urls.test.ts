// A client given a cluster's members (url + fallbackUrls) moves on to the next member when the one
// it is on is gone, and when the first one never answers.
import { afterEach, describe, expect, it } from 'vitest';
import { createMqttTransport, startBroker, TransportError, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { freePort } from '../../../firmware/core/free-port.ts';
import { until } from '../../until.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

const fast = { baseMs: 20, capMs: 100 };

function client(url: string, fallbackUrls: readonly string[]): MqttTransport {
  const t = createMqttTransport({ url, fallbackUrls, nodeId: 'n1', clientId: 'fallback-n1', protocol: 4, status: false, backoff: fast });
  open.push(t);
  return t;
}

describe('fallbackUrls', () => {
  it('a first URL that never answers: the next one is tried and used', async () => {
    const b: BrokerHandle = await startBroker();
    open.push(b);
    const dead = `mqtt://127.0.0.1:${await freePort()}`;
    const t = client(dead, [b.url]);
    t.start();
    await t.online();
    expect(t.stats().connects).toBe(1);
    expect(t.stats().reconnectAttempts).toBe(2);
  });

  it('the member a client is on dies: it reconnects to another and its messages flow there', async () => {
    const a = await startBroker();
    const b = await startBroker();
    open.push(b);
    const t = client(a.url, [b.url]);
    t.start();
    await t.online();
    await a.close();
    await until('reconnected to the other member', () => t.state === 'online' && t.stats().connects === 2, 10_000);
    const got: unknown[] = [];
    await t.subscribe('x/y', (m) => { got.push(m.value); }, { qos: 1 }).ready;
    await t.publish('x/y', { on: 'b' }, { qos: 1 });
    await until('own message back through member b', () => got.length === 1, 5_000);
    expect(got).toEqual([{ on: 'b' }]);
  });

  it('refuses fallback URLs that are not MQTT URLs, and too many', () => {
    expect(() => createMqttTransport({ url: 'mqtt://127.0.0.1:1', fallbackUrls: ['http://x'], nodeId: 'n', clientId: 'c' })).toThrow(TransportError);
    expect(() => createMqttTransport({ url: 'mqtt://127.0.0.1:1', fallbackUrls: Array.from({ length: 17 }, () => 'mqtt://127.0.0.1:2'), nodeId: 'n', clientId: 'c' })).toThrow(/at most 16/);
  });
});
