// `btn-node devnet --broker mosquitto`, the production broker path with one command, on real parts
// (swtpm, a TLS-only mosquitto 2 with dynamic security, the registrar on SQLite): each node
// activates, gets its broker account from the root through its TPM and seals under it; the broker
// refuses anonymous clients, wrong passwords and a node's publishes outside its own topics; the
// revoked node's account stops working.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { DevnetEvent } from '../../../firmware/devnet/devnet.ts';
import { runProvisionedDevnet, type ProvisionedEvent } from '../../../firmware/devnet/provisioned-devnet.ts';
import { devnetCommand } from '../../../firmware/devnet/devnet-command.ts';
import { topicsFor } from '../../../firmware/protocol/topics.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type Creds = { username: string; password: string };
/** 'connected' when the connection or publish is taken, else the broker's (or TLS's) reason. */
const refusal = (p: Promise<unknown>): Promise<string> => p.then(() => 'connected', (e: Error) => e.message);

describe('devnet on a secure mosquitto (TLS, dynamic security, accounts released through the TPM)', () => {
  it('nodes activate, connect as their node ids and seal; the broker refuses strangers, foreign topics and the revoked node', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'btn-devnet-secure-'));
    dirs.push(dir);
    const events: (DevnetEvent | ProvisionedEvent)[] = [];
    const probes: Promise<void>[] = [];
    let url = '';
    let prefix = '';
    const seen: Record<string, string | number> = {};
    const probe = async (): Promise<void> => {
      const ca = await readFile(join(dir, 'broker', 'ca.pem'), 'utf8');
      const creds = JSON.parse(await readFile(join(dir, 'node-1', 'broker-credentials.json'), 'utf8')) as Creds;
      seen['mode'] = (await stat(join(dir, 'node-1', 'broker-credentials.json'))).mode & 0o777;
      seen['anonymous'] = await refusal(mqtt.connectAsync(url, { ca, protocolVersion: 5, reconnectPeriod: 0 }));
      seen['wrong password'] = await refusal(mqtt.connectAsync(url, { ca, username: creds.username, password: `${creds.password}x`, protocolVersion: 5, reconnectPeriod: 0 }));
      // TLS: a client that does not pin the network's CA does not trust this broker.
      seen['unpinned'] = await refusal(mqtt.connectAsync(url, { username: creds.username, password: creds.password, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 }));
      const node = await mqtt.connectAsync(url, { ca, username: creds.username, password: creds.password, protocolVersion: 5, reconnectPeriod: 0, clientId: 'probe-node-1' });
      try {
        const t = topicsFor(prefix);
        for (const [what, topic] of [['candidate', t.candidates], ['final', t.final], ['revocations', t.revocations], ['manifest', t.manifest], ['other status', t.status('someone-else')]] as const) {
          seen[what] = await refusal(node.publishAsync(topic, '{}', { qos: 1 }));
        }
        seen['own status'] = await refusal(node.publishAsync(t.status(creds.username), '{"state":"probe"}', { qos: 1 }));
      } finally {
        await node.endAsync();
      }
      seen['user'] = creds.username;
    };
    const probeRevoked = async (): Promise<void> => {
      const ca = await readFile(join(dir, 'broker', 'ca.pem'), 'utf8');
      const creds = JSON.parse(await readFile(join(dir, 'node-3', 'broker-credentials.json'), 'utf8')) as Creds;
      seen['revoked'] = await refusal(mqtt.connectAsync(url, { ca, username: creds.username, password: creds.password, protocolVersion: 5, reconnectPeriod: 0 }));
    };
    const result = await runProvisionedDevnet({
      nodes: 3, blocks: 8, stateDir: dir, secureBroker: true, handleSignals: false, revokeAfter: { height: 2, node: 'node-3' },
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'broker') {
          url = e.url;
          prefix = e.prefix;
        }
        if (e.type === 'final' && e.block.height === 1) probes.push(probe());
        // Two blocks after the revocation: the revoked node's password no longer opens a connection.
        if (e.type === 'final' && e.block.height === 4) probes.push(probeRevoked());
      },
    });
    await Promise.all(probes);
    expect(result.ok).toBe(true);
    expect(events.find((e) => e.type === 'broker')).toMatchObject({ kind: 'mosquitto' });
    expect(url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const ids = new Map(result.provisioned.map((p) => [p.node, p.nodeId]));
    expect(seen['user']).toBe(ids.get('node-1'));
    expect(seen['mode']).toBe(0o600);
    expect(seen['anonymous']).toMatch(/Not authorized|Bad User Name or Password/i);
    expect(seen['wrong password']).toMatch(/Not authorized|Bad User Name or Password/i);
    expect(seen['unpinned']).toMatch(/certificate|self.signed/i);
    // Not authorized (MQTT 5 reason 0x87) for every topic the node does not own; its own status is taken.
    for (const what of ['candidate', 'final', 'revocations', 'manifest', 'other status']) expect(seen[what], what).toMatch(/Not authorized/);
    expect(seen['own status']).toBe('connected');
    // Every activated node sealed through the broker under its own account.
    const sealers = new Set(result.blocks.flatMap((b) => b.seals.map((s) => s.node)));
    expect([...sealers].every((n) => [...ids.values()].includes(n))).toBe(true);
    // After the revocation the revoked node's account is disabled: its password no longer works.
    expect(result.revocation).toMatchObject({ node: 'node-3' });
    expect(seen['revoked']).toMatch(/Not authorized|Bad User Name or Password/i);
    expect(result.blocks.filter((b) => b.height > 3).flatMap((b) => b.seals.map((s) => s.node))).not.toContain(ids.get('node-3'));
  });

  it('the command line: --broker mosquitto runs the secure path and says so', { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    const code = await devnetCommand(['--broker', 'mosquitto', '--nodes', '2', '--blocks', '2'], { out: (l) => lines.push(l) });
    expect(code).toBe(0);
    expect(lines.find((l) => l.startsWith('broker: '))).toMatch(/^broker: mqtts:\/\/127\.0\.0\.1:\d+ \(mosquitto 2, TLS, dynamic security/);
    expect(lines.find((l) => l.startsWith('done: '))).toMatch(/^done: 2\/2 blocks final/);
    await expect(devnetCommand(['--broker', 'mqtt:/nope'])).rejects.toThrow(/--broker must be an mqtt:\/\/ URL, mosquitto or nats-cluster/);
  });
});
