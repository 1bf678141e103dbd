// The devnet with a manifest set to header-first, on a secure mosquitto (TLS, dynamic security,
// the roles of provisioning/broker/roles.ts) with real agents and swtpm: every block is final with
// seals, so the bodies reached the qualifiers through the broker's ACLs; a node's account may
// subscribe to one body by its hash, never to every body at once, and may not publish a body.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { DevnetEvent } from '../../../firmware/devnet/devnet.ts';
import { runProvisionedDevnet, type ProvisionedEvent } from '../../../firmware/devnet/provisioned-devnet.ts';
import { topicsFor } from '../../../firmware/protocol/topics.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type Creds = { username: string; password: string };

describe('devnet, header-first delivery', () => {
  it('every block is final with seals through the secure broker; a node reads one body at a time and publishes none', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'btn-devnet-hf-'));
    dirs.push(dir);
    let url = '';
    let prefix = '';
    const candidates: string[] = [];
    const seen: Record<string, string | number> = {};
    const probes: Promise<void>[] = [];
    const probe = async (open: string): Promise<void> => {
      const ca = await readFile(join(dir, 'broker', 'ca.pem'), 'utf8');
      const creds = JSON.parse(await readFile(join(dir, 'node-1', 'broker-credentials.json'), 'utf8')) as Creds;
      const node = await mqtt.connectAsync(url, { ca, username: creds.username, password: creds.password, protocolVersion: 5, reconnectPeriod: 0, clientId: 'probe-hf-node-1' });
      try {
        const t = topicsFor(prefix);
        seen['publish body'] = await node.publishAsync(t.body(open), Buffer.alloc(8), { qos: 1 }).then(() => 'taken', (e: Error) => e.message);
        // MQTT 5 SUBACK reason codes: 0..2 granted, 0x87 (135) not authorized.
        for (const [what, filter] of [['one body', t.body(open)], ['every body', t.allBodies], ['bodies #', `${t.prefix}/bodies/#`]] as const) {
          seen[what] = await node.subscribeAsync(filter, { qos: 1 }).then((g) => g[0]!.qos, (e: Error & { packet?: { granted?: number[] } }) => e.packet?.granted?.[0] ?? e.message);
        }
      } finally {
        await node.endAsync();
      }
    };
    const result = await runProvisionedDevnet({
      nodes: 3, blocks: 4, txPerBlock: 50, stateDir: dir, secureBroker: true, handleSignals: false, params: { candidateDelivery: 'header-first' },
      onEvent: (e: DevnetEvent | ProvisionedEvent) => {
        if (e.type === 'broker') {
          url = e.url;
          prefix = e.prefix;
        }
        if (e.type === 'candidate') {
          candidates.push(e.hash);
          if (e.height === 2 && probes.length === 0) probes.push(probe(e.hash));
        }
      },
    });
    await Promise.all(probes);
    expect(result.ok).toBe(true);
    expect(result.params.candidateDelivery).toBe('header-first');
    expect(result.blocks.map((b) => b.height)).toEqual([1, 2, 3, 4]);
    for (const b of result.blocks) {
      expect(b.final).toBe(true);
      expect(b.txCount).toBe(50);
      expect(b.seals.length).toBeGreaterThanOrEqual(1);
    }
    expect(seen['publish body']).toMatch(/Not authorized/);
    expect(seen['one body']).toBe(1);
    expect(seen['every body']).toBe(135);
    expect(seen['bodies #']).toBe(135);
  });
});
