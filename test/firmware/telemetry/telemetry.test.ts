// Telemetry on this machine over a real in-process broker: sane values, Home Assistant discovery
// retained, and a sampler that never starts a process.
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampler, createTelemetry, METRICS } from '../../../firmware/telemetry/index.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';

describe('telemetry sample', () => {
  it('reads load, CPU, memory, disk, uptime and network from /proc, /sys and statfs', async () => {
    const sample = createSampler({ diskPath: tmpdir() });
    const first = await sample();
    await new Promise((r) => setTimeout(r, 50));
    const s = await sample();
    expect(first.cpuBusyPercent).toBeNull();
    expect(s.cpuBusyPercent).not.toBeNull();
    expect(s.cpuBusyPercent!).toBeGreaterThanOrEqual(0);
    expect(s.cpuBusyPercent!).toBeLessThanOrEqual(100);
    expect(s.load.avg1).toBeGreaterThanOrEqual(0);
    expect(s.memory.totalMb).toBeGreaterThan(100);
    expect(s.memory.availableMb).toBeLessThanOrEqual(s.memory.totalMb);
    expect(s.disk?.totalMb).toBeGreaterThan(0);
    expect(s.uptimeS).toBeGreaterThan(0);
    expect(s.rssMb).toBeGreaterThan(10);
    if (s.temperatureC !== null) expect(s.temperatureC).toBeGreaterThan(-50);
  });

  it('never starts a process: no child_process and no systeminformation in the sampler', async () => {
    for (const f of ['sample.ts', 'index.ts', 'home-assistant.ts']) {
      const src = await readFile(new URL(`../../../firmware/telemetry/${f}`, import.meta.url), 'utf8');
      expect(src, f).not.toMatch(/from '(node:)?child_process'|from 'systeminformation'|import\(|require\(/);
    }
  });
});

describe('telemetry over MQTT (aedes)', () => {
  let broker: BrokerHandle;
  let transport: MqttTransport;
  const prefix = `btn/telemetry-${process.pid}`;
  const topics = topicsFor(prefix);
  beforeAll(async () => {
    broker = await startBroker();
    transport = createMqttTransport({ url: broker.url, nodeId: 'node-t', clientId: `tel-${process.pid}`, prefix, protocol: 4 });
  });
  afterAll(async () => {
    await transport.close();
    await broker.close();
  });

  it('announces every sensor retained with availability on the status topic, then publishes samples', async () => {
    const telemetry = createTelemetry({
      nodeId: 'node-t', board: 'qemu-x86_64', intervalS: 3600, diskPath: tmpdir(), topics,
      publish: (topic, payload, opts) => transport.publish(topic, payload, opts),
    });
    await telemetry.start();
    telemetry.stop();
    // A client that connects afterwards still gets the discovery configs: they are retained.
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const configs = new Map<string, Record<string, any>>();
    client.on('message', (topic, payload) => configs.set(topic, JSON.parse(payload.toString())));
    await client.subscribeAsync('homeassistant/sensor/#');
    for (let i = 0; i < 50 && configs.size < METRICS.length; i++) await new Promise((r) => setTimeout(r, 50));
    await client.endAsync();
    expect(configs.size).toBe(METRICS.length);
    const temp = configs.get('homeassistant/sensor/btn_node-t_temperature/config')!;
    expect(temp).toMatchObject({
      state_topic: topics.telemetry('node-t'), availability_topic: topics.status('node-t'), payload_available: 'online',
      payload_not_available: 'offline', device_class: 'temperature', unit_of_measurement: '°C', device: { model: 'qemu-x86_64' },
    });

    const got = new Promise<Record<string, any>>((resolve) => {
      void transport.subscribe(topics.telemetry('node-t'), (m) => resolve(m.value as Record<string, any>));
    });
    await new Promise((r) => setTimeout(r, 100));
    await telemetry.sampleOnce();
    const sample = await got;
    expect(sample['memory'].totalMb).toBeGreaterThan(100);
    expect(typeof sample['uptimeS']).toBe('number');
  });
});
