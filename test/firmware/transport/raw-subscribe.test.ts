// subscribe(..., { raw: true }): the payload's bytes as they came (Home Assistant's birth is the
// bare word online), while JSON subscribers on the same topic keep their checks. Real aedes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMqttTransport, startBroker, type BrokerHandle, type DropEvent, type MqttTransport } from '../../../firmware/transport/index.ts';
import { until } from '../../until.ts';

describe('raw subscriptions (aedes)', () => {
  let broker: BrokerHandle;
  let node: MqttTransport;
  let other: MqttTransport;
  beforeAll(async () => {
    broker = await startBroker();
    node = createMqttTransport({ url: broker.url, nodeId: 'raw', clientId: `raw-${process.pid}`, protocol: 4, status: false });
    other = createMqttTransport({ url: broker.url, nodeId: 'pub', clientId: `raw-pub-${process.pid}`, protocol: 4, status: false });
    await Promise.all([node.online(), other.online()]);
  });
  afterAll(async () => {
    await node.close();
    await other.close();
    await broker.close();
  });

  it('hands raw subscribers the bytes; JSON subscribers still drop what is not JSON', async () => {
    const raw: string[] = [];
    const json: unknown[] = [];
    const drops: DropEvent[] = [];
    node.on('drop', (d: DropEvent) => drops.push(d));
    const rawSub = node.subscribe('homeassistant/status', (m) => { expect(m.value).toBeInstanceOf(Uint8Array); raw.push(new TextDecoder().decode(m.value as Uint8Array)); }, { raw: true, qos: 1 });
    const jsonSub = node.subscribe('homeassistant/status', (m) => { json.push(m.value); }, { qos: 1 });
    expect(await Promise.all([rawSub.ready, jsonSub.ready])).toEqual([true, true]);
    await other.publish('homeassistant/status', 'online', { qos: 1 });
    await other.publish('homeassistant/status', '{"a":1}', { qos: 1 });
    await until('both messages', () => raw.length === 2, 2000, 20);
    expect(raw).toEqual(['online', '{"a":1}']);
    expect(json).toEqual([{ a: 1 }]);
    expect(drops.map((d) => d.reason)).toEqual(['malformed-json']);
  });
});
