// maxSubscribeQos: the transport asks the broker for at most that QoS in every SUBSCRIBE (the
// first connection's and the ones a reconnect sends again), and messages still arrive. Seen from
// aedes's side, which reports each subscription with the QoS the client asked for.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { createMqttTransport } from '../../../firmware/transport/index.ts';
import { until } from '../../until.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function recordingBroker(): Promise<{ url: string; asked: Map<string, number[]>; dropClients: () => void }> {
  const aedes = await Aedes.createBroker();
  const asked = new Map<string, number[]>();
  aedes.on('subscribe', (subs) => { for (const s of subs) asked.set(s.topic, [...(asked.get(s.topic) ?? []), s.qos]); });
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); aedes.handle(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(async () => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
    await new Promise<void>((r) => aedes.close(() => r()));
  });
  return { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, asked, dropClients: () => { for (const s of sockets) s.destroy(); } };
}

describe('maxSubscribeQos', () => {
  it.each([[undefined, 1], [0, 0], [1, 1]] as const)('set to %s: QoS 1 subscriptions are asked at %i, on reconnect too, and carry messages', async (max, expected) => {
    const b = await recordingBroker();
    const t = createMqttTransport({ url: b.url, nodeId: 'n1', clientId: `qos-${String(max)}`, protocol: 4, status: false, backoff: { baseMs: 10, capMs: 20 }, ...(max === undefined ? {} : { maxSubscribeQos: max }) });
    closers.push(() => t.close());
    const got: unknown[] = [];
    const sub = t.subscribe('a/b', (m) => { got.push(m.value); }, { qos: 1 });
    t.start();
    await sub.ready;
    b.dropClients();
    await until('connected again and subscribed', () => t.stats().connects === 2 && (b.asked.get('a/b')?.length ?? 0) === 2, 10_000);
    await t.publish('a/b', { n: 1 }, { qos: 1 });
    await until('own message back', () => got.length === 1, 5_000);
    expect(b.asked.get('a/b')).toEqual([expected, expected]);
  });

  it('anything but 0 or 1 is refused with a specific error', () => {
    expect(() => createMqttTransport({ url: 'mqtt://127.0.0.1:1', nodeId: 'n1', clientId: 'q', maxSubscribeQos: 2 as 0 })).toThrow(/maxSubscribeQos must be 0 or 1/);
  });
});
