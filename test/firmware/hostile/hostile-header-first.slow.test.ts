// Header-first delivery against a broker client with no key (on a mosquitto without ACLs, where
// anyone may publish anything): once block 1 is final, it overwrites the retained body of the
// next candidate with a body that does not match its header, the body of the one after with one
// larger than the header announced, and keeps publishing bodies for headers that do not exist.
// Shown: the qualifying nodes refuse the forged bodies by name and seal nothing for those
// candidates, the bodies of unknown headers reach no node, no node reports an error, and the
// network goes on: every block is final, sealed from bodies that match their headers; every body
// is cleared at the end.
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { realAgentFactory } from '../../../firmware/devnet/agent-factory.ts';
import { runDevnet, type DevnetEvent } from '../../../firmware/devnet/devnet.ts';
import { topicsFor } from '../../../firmware/protocol/topics.ts';
import { startMosquitto, type Mosquitto } from '../transport/mosquitto.ts';
import { until } from '../../until.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('header-first: forged bodies against the devnet', () => {
  it('a mismatching body, an oversized body and bodies of unknown headers are dropped; the nodes keep sealing', { timeout: 120_000 }, async () => {
    const broker: Mosquitto = await startMosquitto();
    cleanups.push(() => broker.destroy());
    const rejected: Record<string, number> = {};
    const errors: string[] = [];
    const forged = new Map<string, 'mismatch' | 'oversize'>();
    /** Body topics the primary cleared (an empty retained message), and every candidate it sent. */
    const cleared = new Set<string>();
    const sent: string[] = [];
    /** The hashes of the bodies it made up (no such header): not the primary's. */
    const made = new Set<string>();
    let attacker: mqtt.MqttClient | null = null;
    // The attacker forges only once block 1 is final: every node holds the manifest by then, so a
    // forged body meets nodes that act on it (before, a node may still hold a candidate back).
    let armed = false;
    let ready!: () => void;
    const started = new Promise<void>((r) => { ready = r; });
    let prefix = '';
    const onEvent = (e: DevnetEvent): void => {
      if (e.type === 'broker') {
        prefix = e.prefix;
        // The attacker sees every body the primary puts out (no ACLs here) and overwrites the first two.
        const t = topicsFor(e.prefix);
        void (async () => {
          const a = await mqtt.connectAsync(e.url, { protocolVersion: 5, reconnectPeriod: 0, clientId: `hf-attacker-${process.pid}` });
          attacker = a;
          cleanups.push(() => a.endAsync(true));
          a.on('message', (topic, payload) => {
            const hash = topic.slice(topic.lastIndexOf('/') + 1);
            if (payload.length === 0) cleared.add(hash);
            if (!armed || payload.length === 0 || forged.has(hash) || made.has(hash) || forged.size >= 2) return;
            const kind = forged.size === 0 ? 'mismatch' : 'oversize';
            forged.set(hash, kind);
            const body = kind === 'mismatch' ? Buffer.from(payload) : Buffer.concat([payload, Buffer.alloc(1)]);
            if (kind === 'mismatch') body[body.length - 1]! ^= 1;
            void a.publishAsync(topic, body, { qos: 1, retain: true });
          });
          await a.subscribeAsync(t.allBodies, { qos: 1 });
          ready();
        })();
      }
      if (e.type === 'final') armed = true;
      if (e.type === 'candidate') sent.push(e.hash);
      if (e.type === 'candidate' && attacker !== null) {
        // A body for a header that was never sent: no node asks for it.
        const hash = randomBytes(32).toString('hex');
        made.add(hash);
        void attacker.publishAsync(topicsFor(prefix).body(hash), randomBytes(512), { qos: 1, retain: true });
      }
      if (e.type === 'agent' && e.kind === 'rejected') rejected[e.code] = (rejected[e.code] ?? 0) + 1;
      if (e.type === 'agent' && e.kind === 'error') errors.push(`${e.nodeId}: ${e.code} ${e.message}`);
    };
    const run = runDevnet({
      nodes: 3, blocks: 3, txPerBlock: 20, brokerUrl: broker.url, handleSignals: false, agentFactory: realAgentFactory,
      params: { candidateDelivery: 'header-first', sealDeadlineMs: 3000 },
      beforeAgents: async () => { await started; },
      onEvent,
    });
    const result = await run;
    expect(errors).toEqual([]);
    expect([...forged.values()]).toEqual(['mismatch', 'oversize']);
    // Every qualifier refused the forged bodies by name; nothing else was refused (a candidate
    // that comes before a node holds the manifest is held back, an ordinary start).
    expect(rejected['body-mismatch'] ?? 0, JSON.stringify(rejected)).toBeGreaterThan(0);
    expect(rejected['body-oversize'] ?? 0, JSON.stringify(rejected)).toBeGreaterThan(0);
    expect(Object.keys(rejected).filter((k) => !['body-mismatch', 'body-oversize', 'no-manifest'].includes(k)), JSON.stringify(rejected)).toEqual([]);
    expect(made.size).toBeGreaterThan(2);
    // The network went on: every block final and sealed, none of them a forged candidate.
    expect(result.ok).toBe(true);
    expect(result.blocks.map((b) => b.height)).toEqual([1, 2, 3]);
    for (const b of result.blocks) {
      expect(b.seals.length).toBeGreaterThanOrEqual(1);
      expect(forged.has(b.hash)).toBe(false);
    }
    // Every body, forged over or not, final or redrawn, was cleared from the broker.
    await until('every body cleared', () => sent.every((h) => cleared.has(h)), { lastSeen: () => ({ sent, cleared: [...cleared] }) });
    console.log(`hostile header-first: forged ${[...forged.values()].join(', ')}, ${made.size} bodies of unknown headers; refused ${JSON.stringify(rejected)}; blocks ${result.blocks.map((b) => `${b.height} (attempt ${b.attempts})`).join(', ')}`);
  });
});
