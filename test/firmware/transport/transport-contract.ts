// One contract suite for the MQTT transport, run against a real mosquitto (MQTT 5) and the
// in-process aedes broker (MQTT 3.1.1 fallback).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { anyObject, integer, object, refine } from '../../../firmware/core/json.ts';
import { createMqttTransport, MqttTransport, SealInbox, type MqttTransportOptions, type DropEvent, type InboundMessage } from '../../../firmware/transport/index.ts';
import { until } from '../../until.ts';

export interface BrokerUnderTest {
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** How the transport tests poll: every 20 ms, for up to 10 s. */
export const POLL = { ms: 10_000, everyMs: 20 };

const FAST = { baseMs: 50, capMs: 300 };

export function transportContract(label: string, expectedVersion: 5 | 4, startBroker: () => Promise<BrokerUnderTest>): void {
  describe(`MqttTransport against ${label}`, () => {
    let broker: BrokerUnderTest;
    const open: MqttTransport[] = [];
    let prefix = '';
    const make = (o: Partial<MqttTransportOptions> & { nodeId: string }): MqttTransport => {
      const t = createMqttTransport({ url: broker.url, clientId: `${o.nodeId}-${prefix.slice(-6)}`, prefix, backoff: FAST, connectTimeoutMs: 2000, ...o });
      open.push(t);
      return t;
    };
    beforeAll(async () => { broker = await startBroker(); });
    afterAll(async () => { await broker?.destroy(); });
    // a fresh prefix per test: retained messages of one test never leak into another
    afterEach(async () => { await Promise.all(open.splice(0).map((t) => t.close())); });
    const fresh = (): void => { prefix = `t/${randomBytes(6).toString('hex')}`; };

    it(`speaks MQTT ${expectedVersion === 5 ? '5' : '3.1.1'}; publish/subscribe JSON through a schema`, async () => {
      fresh();
      const sub = make({ nodeId: 'sub' });
      const got: InboundMessage<{ height: number }>[] = [];
      const heightOnly = object({ height: integer({ min: 0, max: 1e9 }) });
      sub.subscribe<{ height: number }>(sub.topics.candidates, (m) => { got.push(m); }, {
        schema: { name: 'candidate', maxBytes: 64 * 1024, read: (v) => heightOnly.read(v, 'candidate') },
      });
      await sub.online();
      expect(sub.protocolVersion).toBe(expectedVersion);
      const pub = make({ nodeId: 'pub' });
      await pub.online();
      expect(await pub.publish(pub.topics.candidates, { height: 7 }, { qos: 1 })).toBe('delivered');
      await until('candidate', () => got.length === 1, POLL);
      expect(got[0]).toMatchObject({ topic: `${prefix}/candidates`, value: { height: 7 }, retain: false });
    });

    it('drops oversize, non-UTF-8, malformed JSON, invalid and expired messages with a reason, and keeps going', async () => {
      const okOnly = refine(anyObject({ maxKeys: 8 }), (v) => (v['ok'] === true ? undefined : 'ok must be true'));
      fresh();
      const sub = make({ nodeId: 'sub', maxInboundBytes: 1024 });
      const drops: DropEvent[] = [];
      sub.on('drop', (d: DropEvent) => drops.push(d));
      const got: unknown[] = [];
      sub.subscribe(sub.topics.final, (m) => { got.push(m.value); }, { schema: { name: 'ok', maxBytes: 64 * 1024, read: (v) => okOnly.read(v, 'ok') } });
      await sub.online();
      const pub = make({ nodeId: 'pub' });
      await pub.online();
      const t = pub.topics.final;
      await pub.publish(t, { ok: true, pad: 'x'.repeat(2000) }, { qos: 1 });
      await pub.publish(t, Uint8Array.of(0x7b, 0xff, 0x7d), { qos: 1 });
      await pub.publish(t, '{"ok":tru', { qos: 1 });
      await pub.publish(t, { ok: false }, { qos: 1 });
      await pub.publish(t, { ok: true, expiresAt: Date.now() - 1 }, { qos: 1 });
      await pub.publish(t, { ok: true, marker: 1 }, { qos: 1 });
      await until('marker', () => got.length === 1, POLL);
      expect(got).toEqual([{ ok: true, marker: 1 }]);
      expect(drops.map((d) => d.reason)).toEqual(['oversize', 'invalid-utf8', 'malformed-json', 'invalid', 'expired']);
      expect(drops[3]!.detail).toContain('ok must be true');
      expect(sub.stats().dropped).toMatchObject({ oversize: 1, 'invalid-utf8': 1, 'malformed-json': 1, invalid: 1, expired: 1 });
      // a handler that throws or rejects is counted, not thrown into the event loop
      sub.subscribe(sub.topics.manifest, () => { throw new Error('boom'); });
      // the SUBACK, not a sleep, says the broker will deliver to this subscription
      expect(await sub.subscribe(sub.topics.manifest, async () => { throw new Error('async boom'); }).ready).toBe(true);
      await pub.publish(pub.topics.manifest, { v: 1 }, { qos: 1 });
      await until('handler failures', () => sub.stats().dropped['handler-failed'] === 2, POLL);
    });

    it('stream(): async iteration with a bounded buffer drops the oldest for a slow consumer and ends on abort', async () => {
      fresh();
      const sub = make({ nodeId: 'sub' });
      const ac = new AbortController();
      const it = sub.stream<{ i: number }>(sub.topics.candidates, { maxBuffered: 3, signal: ac.signal });
      await sub.online();
      expect(await it.ready).toBe(true);
      const pub = make({ nodeId: 'pub' });
      await pub.online();
      for (let i = 0; i < 6; i++) await pub.publish(pub.topics.candidates, { i }, { qos: 1 });
      await until('backlog drops', () => sub.stats().dropped.backlog === 3, POLL);
      const seen: number[] = [];
      for await (const m of it) {
        seen.push(m.value.i);
        if (seen.length === 3) ac.abort();
      }
      expect(seen).toEqual([3, 4, 5]);
    });

    it('announces itself with a retained online status and a retained offline status on close()', async () => {
      fresh();
      const a = make({ nodeId: 'node-a' });
      await a.online();
      const obs = make({ nodeId: 'observer', status: false });
      const seen: { topic: string; state: unknown; retain: boolean }[] = [];
      obs.subscribe(obs.topics.allStatus, (m) => { seen.push({ topic: m.topic, state: (m.value as { state: unknown }).state, retain: m.retain }); });
      await until('retained online status', () => seen.length === 1, POLL);
      expect(seen[0]).toEqual({ topic: `${prefix}/nodes/node-a/status`, state: 'online', retain: true });
      await a.close();
      await until('offline status', () => seen.length === 2, POLL);
      expect(seen[1]).toMatchObject({ state: 'offline' });
    });

    it('the broker publishes the last will {"state":"offline"} when the process is SIGKILLed', async () => {
      fresh();
      const obs = make({ nodeId: 'observer', status: false });
      const states: unknown[] = [];
      obs.subscribe(obs.topics.status('victim'), (m) => { states.push((m.value as { state: unknown }).state); });
      await obs.online();
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./will-child.ts', import.meta.url)), broker.url, 'victim', prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      try {
        await until('child online', () => out.includes('online'), { ms: 20_000, everyMs: 20 });
        expect(out.trim()).toBe(`online ${expectedVersion}`);
        await until('online status', () => states.includes('online'), POLL);
        child.kill('SIGKILL');
        await until('last will', () => states.at(-1) === 'offline', POLL);
      } finally {
        child.kill('SIGKILL');
      }
      // retained: a late observer sees offline too
      const late = make({ nodeId: 'late', status: false });
      const lateStates: unknown[] = [];
      late.subscribe(late.topics.status('victim'), (m) => { lateStates.push((m.value as { state: unknown }).state); });
      await until('retained will', () => lateStates.length === 1, POLL);
      expect(lateStates).toEqual(['offline']);
    });

    it('a seal queued while the broker is down is delivered exactly once after it comes back on the same port', async () => {
      fresh();
      const clerkFp = 'clerk0123456789ab';
      const clerk = make({ nodeId: 'clerk', status: false });
      const raw: string[] = [];
      const inbox = new SealInbox();
      const accepted: string[] = [];
      clerk.subscribe<{ nodeId: string; blockHash: string; round: number }>(clerk.topics.seals(clerkFp), (m) => {
        raw.push(`${m.value.nodeId}/${m.value.round}`);
        if (inbox.accept(m.value)) accepted.push(`${m.value.nodeId}/${m.value.round}`);
      });
      // The agent's reconnect timers are held by the test: it must come back only after the
      // clerk has resubscribed, or a lost seal could not be told from a late subscriber.
      const held: (() => void)[] = [];
      const agent = make({ nodeId: 'agent', setTimer: (fn) => { held.push(fn); return () => { const i = held.indexOf(fn); if (i >= 0) held.splice(i, 1); }; } });
      await Promise.all([clerk.online(), agent.online()]);
      const seal = (round: number) => ({ nodeId: 'agent', blockHash: 'ab'.repeat(32), round, expiresAt: Date.now() + 120_000 });

      await broker.stop();
      await until('both offline', () => agent.state === 'offline' && clerk.state === 'offline', POLL);
      const outcome = agent.publishSeal(clerkFp, seal(1));
      expect(agent.queued.count).toBe(1);
      await broker.start();
      await clerk.online();
      // prove the clerk's subscription is live again with a probe through the broker
      clerk.subscribe(`${prefix}/probe`, () => { raw.push('probe'); });
      await until('clerk resubscribed', () => { void clerk.publish(`${prefix}/probe`, { p: 1 }); return raw.includes('probe'); }, POLL);
      await until('agent back online', () => { held.splice(0).forEach((f) => f()); return agent.state === 'online'; }, POLL);
      expect(await outcome).toBe('delivered');
      expect(agent.queued.count).toBe(0);
      // a second seal after the first one: once it is in, the first can no longer be in flight
      expect(await agent.publishSeal(clerkFp, seal(2))).toBe('delivered');
      await until('second seal', () => raw.includes('agent/2'), POLL);
      expect(raw.filter((r) => r.startsWith('agent/'))).toEqual(['agent/1', 'agent/2']);
      expect(accepted).toEqual(['agent/1', 'agent/2']);
      expect(agent.protocolVersion).toBe(expectedVersion);
      // the 3.1.1 fallback is remembered across reconnects: refused once, at the very first connect
      expect(agent.stats().protocolRefusals).toBe(expectedVersion === 5 ? 0 : 1);
    });

    it('after a reconnect, what was queued goes out before what is published on coming back online (the retained status is the newest)', async () => {
      fresh();
      const node = make({ nodeId: 'node-q', status: false });
      await node.online();
      const topic = node.topics.status('node-q');
      await broker.stop();
      await until('offline', () => node.state === 'offline', POLL);
      // What an agent does: a status snapshot queued while offline, a fresh one when back online.
      void node.publish(topic, { state: 'online', n: 1 }, { qos: 1, retain: true });
      node.on('state', (s: string) => { if (s === 'online') void node.publish(topic, { state: 'online', n: 2 }, { qos: 1, retain: true }); });
      await broker.start();
      await node.online();
      await until('queue flushed', () => node.queued.count === 0, POLL);
      const late = make({ nodeId: 'late-q', status: false });
      const seen: unknown[] = [];
      late.subscribe(topic, (m) => { seen.push((m.value as { n: unknown }).n); });
      await until('retained status', () => seen.length === 1, POLL);
      expect(seen).toEqual([2]);
    });

    it('seal expiry: MQTT 5 carries it as messageExpiryInterval and the broker discards it; on 3.1.1 the receiver drops it', async () => {
      fresh();
      const clerkFp = 'clerkexpiry';
      const opts = { nodeId: 'clerke', status: false, sessionExpirySeconds: 300 } as const;
      const got: InboundMessage<unknown>[] = [];
      const first = make(opts);
      const subscribed = first.subscribe(first.topics.seals(clerkFp), (m) => { got.push(m); }, { qos: 1 });
      await first.online();
      expect(await subscribed.ready).toBe(true);
      const agent = make({ nodeId: 'agente' });
      await agent.online();
      // delivered live: v5 shows the remaining lifetime
      await agent.publishSeal(clerkFp, { nodeId: 'agente', blockHash: 'ee'.repeat(32), round: 1, expiresAt: Date.now() + 90_000 });
      await until('live seal', () => got.length === 1, POLL);
      if (expectedVersion === 5) expect(got[0]!.messageExpiryInterval).toBeGreaterThan(80);
      else expect(got[0]!.messageExpiryInterval).toBeUndefined();
      await first.close();
      // queued in the clerk's session, worthless after 1 s
      await agent.publishSeal(clerkFp, { nodeId: 'agente', blockHash: 'ee'.repeat(32), round: 2, expiresAt: Date.now() + 1000 });
      // Expiry is in whole seconds (MQTT 5 messageExpiryInterval): only real time past it can show it.
      await new Promise((r) => setTimeout(r, 2100));
      const again = make(opts);
      const drops: DropEvent[] = [];
      again.on('drop', (d: DropEvent) => drops.push(d));
      again.subscribe(again.topics.seals(clerkFp), (m) => { got.push(m); }, { qos: 1 });
      await again.online();
      // a live marker after it: once the marker is in, the stale seal would have been too
      await agent.publishSeal(clerkFp, { nodeId: 'agente', blockHash: 'ee'.repeat(32), round: 3, expiresAt: Date.now() + 90_000 });
      await until('marker', () => got.length === 2, POLL);
      expect((got[1]!.value as { round: number }).round).toBe(3);
      expect(drops.map((d) => d.reason)).toEqual(expectedVersion === 5 ? [] : ['expired']);
    });

    it('a subscriber with a persistent session receives a seal published while it was away', async () => {
      fresh();
      const clerkFp = 'clerkpersist';
      const opts = { nodeId: 'clerkp', status: false, sessionExpirySeconds: 300 } as const;
      const first = make(opts);
      const subscribed = first.subscribe(first.topics.seals(clerkFp), () => {}, { qos: 1 });
      await first.online();
      expect(await subscribed.ready).toBe(true);
      await first.close();
      const agent = make({ nodeId: 'agentp' });
      await agent.online();
      expect(await agent.publishSeal(clerkFp, { nodeId: 'agentp', blockHash: 'cd'.repeat(32), round: 3, expiresAt: Date.now() + 60_000 })).toBe('delivered');
      const again = make(opts);
      const got: unknown[] = [];
      again.subscribe(again.topics.seals(clerkFp), (m) => { got.push(m.value); }, { qos: 1 });
      await until('seal from the persistent session', () => got.length === 1, POLL);
      expect(got[0]).toMatchObject({ nodeId: 'agentp', round: 3 });
    });
  });
}
