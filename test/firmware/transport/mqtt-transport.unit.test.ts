// Transport behaviour that needs no broker: an unreachable port keeps it offline while the test
// holds its reconnect timers.
import { describe, it, expect, afterEach } from 'vitest';
import { createHash } from 'node:crypto';
import { MqttTransport, createMqttTransport, clientIdFromSpki, SealInbox, TransportError, type PublishOutcome } from '../../../firmware/transport/index.ts';
import { freePort } from './mosquitto.ts';
import { until } from '../../until.ts';
import { POLL } from './transport-contract.ts';

const open: MqttTransport[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((t) => t.close())); });

async function offlineTransport(extra: Partial<ConstructorParameters<typeof MqttTransport>[0]> = {}) {
  const held: { fn: () => void; ms: number }[] = [];
  const t = createMqttTransport({
    url: `mqtt://127.0.0.1:${await freePort()}`, nodeId: 'n1', clientId: 'unit-n1',
    setTimer: (fn, ms) => { const e = { fn, ms }; held.push(e); return () => { held.splice(held.indexOf(e), 1); }; },
    ...extra,
  });
  open.push(t);
  await until('offline', () => t.state === 'offline', POLL);
  return { t, held };
}

describe('MqttTransport without a broker', () => {
  it('derives the client id from the sealing key: btn- + 16 hex of SHA-256(SPKI)', () => {
    const spki = new Uint8Array(294).map((_, i) => i & 0xff);
    const want = 'btn-' + createHash('sha256').update(spki).digest('hex').slice(0, 16);
    expect(clientIdFromSpki(spki)).toBe(want);
    expect(new MqttTransport({ url: 'mqtt://127.0.0.1:1', nodeId: 'n', sealingKeySpki: spki }).clientId).toBe(want);
    expect(() => clientIdFromSpki(new Uint8Array(3))).toThrow(TransportError);
    expect(() => new MqttTransport({ url: 'mqtt://127.0.0.1:1', nodeId: 'n' })).toThrow(/sealingKeySpki/);
    expect(() => new MqttTransport({ url: 'http://x', nodeId: 'n', clientId: 'c' })).toThrow(TransportError);
    expect(() => new MqttTransport({ url: 'mqtt://x', nodeId: 'a/b', clientId: 'c' })).toThrow(expect.objectContaining({ code: 'ERR_PROTOCOL_TOPIC' }));
  });

  it('reconnects through the jittered backoff, never on a fixed period', async () => {
    const { held } = await offlineTransport({ backoff: { baseMs: 100, capMs: 800, random: () => 0.999 } });
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await until(`timer ${i}`, () => held.length === 1, POLL);
      const e = held.pop()!;
      delays.push(e.ms);
      e.fn();
    }
    expect(delays).toEqual([99, 199, 399, 799, 799]);
  });

  it('bounded offline queue: when full, the oldest non-seal goes first; seals stay', async () => {
    const { t } = await offlineTransport({ queue: { maxCount: 3 } });
    const outcomes: [string, Promise<PublishOutcome>][] = [];
    outcomes.push(['tele1', t.publishTelemetry({ n: 1 })]);
    outcomes.push(['seal1', t.publishSeal('clerk', { round: 1, expiresAt: Date.now() + 60_000 })]);
    outcomes.push(['tele2', t.publishTelemetry({ n: 2 })]);
    outcomes.push(['seal2', t.publishSeal('clerk', { round: 2, expiresAt: Date.now() + 60_000 })]);
    expect(await outcomes[0]![1]).toBe('evicted');
    expect(t.queued.count).toBe(3);
    outcomes.push(['seal3', t.publishSeal('clerk', { round: 3, expiresAt: Date.now() + 60_000 })]);
    expect(await outcomes[2]![1]).toBe('evicted'); // tele2, not a seal
    outcomes.push(['seal4', t.publishSeal('clerk', { round: 4, expiresAt: Date.now() + 60_000 })]);
    expect(await outcomes[1]![1]).toBe('evicted'); // only seals left: the oldest
    expect(t.stats().queueEvicted).toBe(3);
    await t.close();
    expect(await Promise.all(outcomes.slice(3).map((o) => o[1]))).toEqual(['closed', 'closed', 'closed']);
  });

  it('a queued seal settles as expired at its deadline while the broker stays away; a message without one waits', async () => {
    const { t } = await offlineTransport();
    const seal = t.publishSeal('clerk', { round: 1, expiresAt: Date.now() + 300 });
    const telemetry = t.publishTelemetry({ n: 1 });
    expect(await seal).toBe('expired');
    expect(t.stats().queueExpired).toBe(1);
    expect(t.queued.count).toBe(1);
    await t.close();
    expect(await telemetry).toBe('closed');
  });

  it('bounds the queue in bytes too and refuses oversize payloads at once', async () => {
    const { t } = await offlineTransport({ queue: { maxBytes: 1000 }, maxOutboundBytes: 2000 });
    const a = t.publish('x/a', 'a'.repeat(600));
    const b = t.publish('x/b', 'b'.repeat(600));
    expect(await a).toBe('evicted');
    expect(t.queued).toEqual({ count: 1, bytes: 600 });
    expect(await t.publish('x/c', 'c'.repeat(1500))).toBe('evicted'); // can never fit
    expect(() => t.publish('x/d', 'd'.repeat(2001))).toThrow(/max 2000/);
    expect(() => t.publish('x/+', 'e')).toThrow(expect.objectContaining({ code: 'ERR_PROTOCOL_TOPIC' }));
    await t.close();
    expect(await b).toBe('closed');
  });

  it('adds expiresAt to JSON payloads (the 3.1.1 substitute for message expiry)', async () => {
    const { t } = await offlineTransport();
    void t.publish('x/y', { a: 1 }, { expiresAt: 1234 });
    // inspect through the queue size accounting: {"a":1,"expiresAt":1234}
    expect(t.queued.bytes).toBe(Buffer.byteLength(JSON.stringify({ a: 1, expiresAt: 1234 })));
  });

  it('publishSeal takes encoded JSON with an explicit deadline, and refuses one without', async () => {
    const { t } = await offlineTransport();
    const json = JSON.stringify({ v: 1, nodeId: 'n1', round: 1, expiresAt: Date.now() + 60_000 });
    void t.publishSeal('clerk', json, Date.now() + 60_000);
    expect(t.queued).toEqual({ count: 1, bytes: Buffer.byteLength(json) });
    expect(() => t.publishSeal('clerk', json)).toThrow(/deadline/);
    expect(() => t.publishSeal('a/b', json, 1)).toThrow(expect.objectContaining({ code: 'ERR_PROTOCOL_TOPIC' }));
  });

  it('an AbortSignal closes it; publish after close throws ERR_TRANSPORT_CLOSED', async () => {
    const ac = new AbortController();
    const { t, held } = await offlineTransport({ signal: ac.signal });
    const waiting = t.online();
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_TRANSPORT_CLOSED' });
    expect(t.state).toBe('closed');
    expect(held).toHaveLength(0); // reconnect timer cancelled
    expect(() => t.publish('a/b', 'x')).toThrow(expect.objectContaining({ code: 'ERR_TRANSPORT_CLOSED' }));
  });
});

describe('SealInbox', () => {
  it('dedupes by (node, blockHash, round), hex or bytes alike, and forgets the oldest past its bound', () => {
    const inbox = new SealInbox({ maxRemembered: 2 });
    const h = new Uint8Array(32).fill(0xab);
    expect(inbox.accept({ nodeId: 'a', blockHash: h, round: 1 })).toBe(true);
    expect(inbox.accept({ nodeId: 'a', blockHash: 'AB'.repeat(32), round: 1 })).toBe(false);
    expect(inbox.accept({ nodeId: 'a', blockHash: h, round: 2 })).toBe(true);
    expect(inbox.accept({ nodeId: 'b', blockHash: h, round: 1 })).toBe(true);
    expect(inbox.duplicates).toBe(1);
    expect(inbox.size).toBe(2);
    expect(inbox.accept({ nodeId: 'a', blockHash: h, round: 1 })).toBe(true); // evicted, seen as new
  });
});

describe('MqttTransport close()', () => {
  it('returns promptly while a connect attempt hangs, and online() on a closed transport rejects', async () => {
    // a listener that accepts TCP but never answers CONNECT
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((s) => { sockets.push(s); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    try {
      const t = createMqttTransport({ url: `mqtt://127.0.0.1:${port}`, nodeId: 'n2', clientId: 'unit-n2', connectTimeoutMs: 30_000 });
      await until('tcp accepted', () => sockets.length === 1, POLL);
      expect(t.state).toBe('connecting');
      await t.close();
      expect(t.state).toBe('closed');
      await expect(t.online()).rejects.toMatchObject({ code: 'ERR_TRANSPORT_CLOSED' });
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
