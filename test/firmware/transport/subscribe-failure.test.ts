// A SUBSCRIBE the broker fails with 0x80 and no reason (what a clustered broker answers while it
// cannot place the subscription yet): the transport connects afresh, which subscribes everything
// again, at most 10 times in a row. aedes fails a subscription its authorizeSubscribe hook drops.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { createMqttTransport, type MqttTransport } from '../../../firmware/transport/index.ts';
import { until } from '../../until.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** aedes on a free port that fails every SUBSCRIBE to x/y while `refuse()` says so. */
async function refusingBroker(refuse: () => boolean): Promise<string> {
  const aedes = await Aedes.createBroker({ authorizeSubscribe: (_client, sub, done) => done(null, sub.topic === 'x/y' && refuse() ? null : sub) });
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); aedes.handle(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(async () => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
    await new Promise<void>((r) => aedes.close(() => r()));
  });
  return `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(url: string): MqttTransport {
  const t = createMqttTransport({ url, nodeId: 'n1', clientId: 'subfail-n1', protocol: 4, status: false, backoff: { baseMs: 10, capMs: 20 } });
  closers.push(() => t.close());
  return t;
}

describe('a SUBSCRIBE failed without a reason', () => {
  it('is asked again on a fresh connection until the broker takes it', async () => {
    let refusals = 2;
    const url = await refusingBroker(() => refusals-- > 0);
    const t = client(url);
    const got: unknown[] = [];
    t.subscribe('x/y', (m) => { got.push(m.value); }, { qos: 1 });
    t.start();
    await until('the third connection', () => t.stats().connects === 3 && t.state === 'online', 10_000);
    await t.publish('x/y', { n: 1 }, { qos: 1 });
    await until('own message back', () => got.length === 1, 5_000);
    expect(got).toEqual([{ n: 1 }]);
    expect(t.stats().connects).toBe(3);
  });

  it('a broker that always fails it: 10 fresh connections, then the transport stays connected', async () => {
    const url = await refusingBroker(() => true);
    const t = client(url);
    t.subscribe('x/y', () => undefined, { qos: 1 });
    t.start();
    await until('11 connections', () => t.stats().connects >= 11 && t.state === 'online', 20_000);
    // Still on the 11th: another subscription is granted and carries a message.
    const got: unknown[] = [];
    await t.subscribe('z/w', (m) => { got.push(m.value); }, { qos: 1 }).ready;
    await t.publish('z/w', { n: 2 }, { qos: 1 });
    await until('a message on the granted subscription', () => got.length === 1, 5_000);
    expect(t.stats().connects).toBe(11);
  });
});
