// The transport's inbound caps (real aedes): a subscription's cap may be a function, asked at each
// message with its bytes; a schema's cap applies as it is (a 4 MiB revocation list is no longer
// cut at 256 KiB); a subscription that names none gets DEFAULT_SUBSCRIPTION_BYTES; nothing goes
// above the device ceiling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMqttTransport, DEFAULT_SUBSCRIPTION_BYTES, DEVICE_MAX_INBOUND_BYTES, startBroker, type BrokerHandle, type DropEvent, type MqttTransport,
} from '../../../firmware/transport/index.ts';
import { revocationListMessage } from '../../../firmware/protocol/revocation-list.ts';
import { until } from '../../until.ts';

describe('inbound caps (aedes)', () => {
  let broker: BrokerHandle;
  let node: MqttTransport;
  let small: MqttTransport;
  let pub: MqttTransport;
  const drops: DropEvent[] = [];
  beforeAll(async () => {
    broker = await startBroker();
    node = createMqttTransport({ url: broker.url, nodeId: 'caps', clientId: `caps-${process.pid}`, protocol: 4, status: false });
    small = createMqttTransport({ url: broker.url, nodeId: 'small', clientId: `caps-small-${process.pid}`, protocol: 4, status: false, maxInboundBytes: 100_000 });
    pub = createMqttTransport({ url: broker.url, nodeId: 'pub', clientId: `caps-pub-${process.pid}`, protocol: 4, status: false, maxOutboundBytes: 8 * 1024 * 1024 });
    node.on('drop', (d: DropEvent) => drops.push(d));
    await Promise.all([node.online(), small.online(), pub.online()]);
  });
  afterAll(async () => {
    await Promise.all([node.close(), small.close(), pub.close()]);
    await broker.close();
  });

  it('a function cap is asked at each message, with its bytes; a message above it is dropped, counted and told', async () => {
    let cap = 1000;
    const seen: number[] = [];
    const asked: number[] = [];
    const over: [number, number][] = [];
    const sub = node.subscribe('caps/fn', (m) => { seen.push(m.bytes); }, {
      raw: true, maxBytes: (payload) => { asked.push(payload[0]!); return cap; }, onOversize: (bytes, c) => over.push([bytes, c]),
    });
    expect(await sub.ready).toBe(true);
    await pub.publish('caps/fn', new Uint8Array(2000).fill(7), { qos: 1 });
    await until('the drop', () => over.length === 1, 5000, 20);
    expect(over).toEqual([[2000, 1000]]);
    expect(node.stats().dropped.oversize).toBe(1);
    expect(drops.at(-1)).toMatchObject({ topic: 'caps/fn', reason: 'oversize' });
    cap = 4000; // e.g. a newer manifest
    await pub.publish('caps/fn', new Uint8Array(2000).fill(8), { qos: 1 });
    await until('the message', () => seen.length === 1, 5000, 20);
    expect(asked).toEqual([7, 8]);
    sub();
  });

  it('a schema\'s cap applies as it is (a revocation list above 256 KiB arrives); no cap named: 256 KiB', async () => {
    const lists: number[] = [];
    const plain: number[] = [];
    const invalid: string[] = [];
    const a = node.subscribe('caps/revocations', () => { lists.push(1); }, { schema: revocationListMessage, onInvalid: (e) => invalid.push(e.message) });
    const b = node.subscribe('caps/plain', (m) => { plain.push(m.bytes); }, { raw: true });
    expect(await Promise.all([a.ready, b.ready])).toEqual([true, true]);
    const before = node.stats().dropped.oversize;
    // 1 MiB of JSON: not a valid list, but past the size cap, so refused by the schema, not as oversize
    await pub.publish('caps/revocations', JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }), { qos: 1 });
    await until('the schema refusal', () => invalid.length === 1, 5000, 20);
    expect(node.stats().dropped.oversize).toBe(before);
    await pub.publish('caps/plain', new Uint8Array(DEFAULT_SUBSCRIPTION_BYTES + 1), { qos: 1 });
    await pub.publish('caps/plain', new Uint8Array(DEFAULT_SUBSCRIPTION_BYTES), { qos: 1 });
    await until('the second', () => plain.length === 1, 5000, 20);
    expect(plain).toEqual([DEFAULT_SUBSCRIPTION_BYTES]);
    expect(node.stats().dropped.oversize).toBe(before + 1);
    a();
    b();
  });

  it('no subscription goes above the device ceiling', async () => {
    expect(node.inboundCeiling).toBe(DEVICE_MAX_INBOUND_BYTES);
    expect(small.inboundCeiling).toBe(100_000);
    const got: number[] = [];
    const over: [number, number][] = [];
    const sub = small.subscribe('caps/ceiling', (m) => { got.push(m.bytes); }, { raw: true, maxBytes: () => 10_000_000, onOversize: (bytes, c) => over.push([bytes, c]) });
    expect(await sub.ready).toBe(true);
    await pub.publish('caps/ceiling', new Uint8Array(150_000), { qos: 1 });
    await pub.publish('caps/ceiling', new Uint8Array(90_000), { qos: 1 });
    await until('the small one', () => got.length === 1, 5000, 20);
    expect(got).toEqual([90_000]);
    expect(over).toEqual([[150_000, 100_000]]);
  });
});
