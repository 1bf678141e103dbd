// btn-node run answers Home Assistant's birth message (the bare word online on
// homeassistant/status) by publishing discovery again, over the transport's raw subscription;
// garbage there changes nothing and the node runs on. Real swtpm and aedes.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { DISCOVERY_METRICS, NODE_DISCOVERY_METRICS, NOTICE_DISCOVERY_METRICS } from '../../../firmware/telemetry/index.ts';
import { startBroker, type BrokerHandle } from '../../../firmware/transport/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { until } from '../../until.ts';

const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('btn-node run and Home Assistant births (swtpm + aedes)', () => {
  let dir: string;
  let swtpm: SwtpmInstance;
  let broker: BrokerHandle;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-ha-run-'));
    swtpm = await startSwtpm({ stateDir: join(dir, 'tpm'), caDir: join(dir, 'ca') });
    broker = await startBroker();
  }, 60_000);
  afterAll(async () => {
    await broker?.close().catch(() => undefined);
    await swtpm?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('discovery comes back after HA\'s "online"; garbage on homeassistant/status is ignored', { timeout: 60_000 }, async () => {
    const config = join(dir, 'run.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, topicPrefix: `btn/ha-run-${process.pid}`, stateDir: join(dir, 'node'), nodeId: 'node-ha', devnetActive: true,
      primaries: [clerk.publicKey.export({ type: 'spki', format: 'pem' }).toString()], genesis: { hash: 'ab'.repeat(32), height: 0 }, protocol: 4, logLevel: 'silent',
    }));
    const ha = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const live = new Set<string>();
    ha.on('message', (topic, payload) => { if (payload.length > 0) live.add(topic); });
    await ha.subscribeAsync(['homeassistant/sensor/+/config', 'homeassistant/binary_sensor/+/config'], { qos: 1 });
    const ac = new AbortController();
    let started = false;
    // the node's own figures (blocks tested, seals, rounds, TPM signing time) and its notices come with the system's
    const sensors = DISCOVERY_METRICS.length + NODE_DISCOVERY_METRICS.length + NOTICE_DISCOVERY_METRICS.length;
    const run = runCommand(['--config', config], { signal: ac.signal, onStarted: () => { started = true; } });
    try {
      await until('the agent to start', () => started);
      await until('discovery at start', () => live.size === sensors);
      const topics = [...live];
      // Home Assistant restarted and the broker dropped the retained configs
      for (const t of topics) await ha.publishAsync(t, '', { qos: 1, retain: true });
      live.clear();
      for (const p of ['garbage', 'x'.repeat(60_000), Buffer.from([0xff, 0xfe])]) await ha.publishAsync('homeassistant/status', p, { qos: 1 });
      await ha.publishAsync('homeassistant/status', 'online', { qos: 1 });
      await until('discovery again after the birth', () => live.size === sensors, 15_000);
    } finally {
      ac.abort();
      expect(await run).toBe(0);
      await ha.endAsync();
    }
  });
});
