// Telemetry on this machine over a real in-process broker (aedes) and a real mqtt.js client:
// sane values, Home Assistant discovery retained, and a sampler that never starts a process.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampler, createTelemetry, DISCOVERY_METRICS, readStaticFacts, TelemetryError } from '../../../firmware/telemetry/index.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { until } from '../../until.ts';

const SRC = new URL('../../../firmware/telemetry/', import.meta.url);

describe('telemetry sample on this machine', () => {
  it('reads load, CPU busy, memory, disk, uptime and network from /proc, /sys and statfs', async () => {
    const sampler = createSampler({ nodeId: 'n1', diskPath: tmpdir(), cpuWindowMs: 50, clock: () => 1234 });
    const s = await sampler.sample();
    expect(s).toMatchObject({ v: 1, nodeId: 'n1', at: 1234 });
    expect(s.cpu.load1).toBeGreaterThanOrEqual(0);
    expect(s.cpu.load15).toBeGreaterThanOrEqual(0);
    expect(s.cpu.busyPercent).not.toBeNull();
    expect(s.cpu.busyPercent!).toBeGreaterThanOrEqual(0);
    expect(s.cpu.busyPercent!).toBeLessThanOrEqual(100);
    expect(s.memory!.totalBytes).toBeGreaterThan(100 * 2 ** 20);
    expect(s.memory!.availableBytes).toBeLessThanOrEqual(s.memory!.totalBytes);
    expect(s.disk!.totalBytes).toBeGreaterThan(0);
    expect(s.disk!.freeBytes).toBeLessThanOrEqual(s.disk!.totalBytes);
    expect(s.uptimeS!).toBeGreaterThan(0);
    expect(s.network!.rxBytes).toBeGreaterThanOrEqual(0);
    if (s.temperatureC !== null) expect(s.temperatureC).toBeGreaterThan(-50);
  });

  it('parses a fake /proc and /sys: max thermal zone, two /proc/stat reads, loopback excluded', async () => {
    const root = await mkdtemp(join(tmpdir(), 'btn-tel-'));
    const put = async (p: string, t: string): Promise<void> => {
      await mkdir(dirname(join(root, p)), { recursive: true });
      await writeFile(join(root, p), t);
    };
    await put('proc/stat', 'cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n');
    await put('proc/loadavg', '0.50 0.25 0.10 1/100 4242\n');
    await put('proc/meminfo', 'MemTotal:        1000000 kB\nMemFree:          100000 kB\nMemAvailable:     250000 kB\n');
    await put('proc/uptime', '3600.55 7000.00\n');
    await put('proc/net/dev', 'Inter-|   Receive\n face |bytes\n    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n');
    await put('sys/class/thermal/thermal_zone0/temp', '45000\n');
    await put('sys/class/thermal/thermal_zone1/temp', '61500\n');
    await put('sys/class/thermal/cooling_device0/temp', '99000\n');
    const sampler = createSampler({ nodeId: 'n', procRoot: join(root, 'proc'), sysRoot: join(root, 'sys'), diskPath: root, cpuWindowMs: 1 });
    // the first sample's two reads see the same counters: no busy % yet
    expect((await sampler.sample()).cpu.busyPercent).toBeNull();
    // 300 more busy jiffies, 100 more idle: 75 %
    await put('proc/stat', 'cpu  300 0 200 900 0 0 0 0 0 0\n');
    const b = await sampler.sample();
    expect(b.cpu).toEqual({ load1: 0.5, load5: 0.25, load15: 0.1, busyPercent: 75 });
    expect(b.temperatureC).toBe(61.5);
    expect(b.memory).toEqual({ totalBytes: 1024e6, availableBytes: 256e6, usedPercent: 75 });
    expect(b.uptimeS).toBe(3600);
    expect(b.disk!.path).toBe(root);
    expect(b.network).toEqual({ rxBytes: 1000, txBytes: 2000 });
    expect(await readStaticFacts({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys') })).toEqual({ hardware: null });
    await put('sys/class/dmi/id/sys_vendor', 'QEMU\n');
    await put('sys/class/dmi/id/product_name', 'Standard PC (Q35 + ICH9, 2009)\n');
    expect(await readStaticFacts({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys') })).toEqual({ hardware: 'QEMU Standard PC (Q35 + ICH9, 2009)' });
    await put('proc/device-tree/model', 'Raspberry Pi 4 Model B Rev 1.4\0');
    expect(await readStaticFacts({ procRoot: join(root, 'proc'), sysRoot: join(root, 'sys') })).toEqual({ hardware: 'Raspberry Pi 4 Model B Rev 1.4' });
    await rm(root, { recursive: true, force: true });
    const none = await createSampler({ nodeId: 'n', procRoot: '/nonexistent', sysRoot: '/nonexistent', diskPath: '/nonexistent', cpuWindowMs: 1 }).sample();
    expect(none).toMatchObject({ temperatureC: null, memory: null, disk: null, uptimeS: null, network: null, cpu: { busyPercent: null } });
  });

  it('never starts a process: no telemetry module imports child_process or systeminformation, or reads synchronously', async () => {
    const allowed = ['node:fs/promises', 'node:path', 'node:timers/promises', 'pino', '../protocol/topics.ts', '../core/errors.ts'];
    const files = (await readdir(SRC)).filter((f) => f.endsWith('.ts'));
    expect(files).toContain('sampler.ts');
    for (const file of files) {
      // comments may name what is avoided; the code may not use it
      const src = (await readFile(new URL(file, SRC), 'utf8')).replace(/^\s*\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
      expect(src, file).not.toMatch(/child_process|systeminformation|Sync\(|require\(|import\(/);
      for (const m of src.matchAll(/(?:import|export)[^'";]*from\s+'([^']+)'/g)) {
        const spec = m[1]!;
        if (!spec.startsWith('./')) expect(allowed, `${file} imports ${spec}`).toContain(spec);
      }
    }
  });

  it('keeps sampling when a publish fails, never overlaps, and stops for good', async () => {
    const topics = topicsFor('btn/loop');
    const sent: string[] = [];
    let active = 0;
    let maxActive = 0;
    let failures = 0;
    const telemetry = createTelemetry({
      nodeId: 'loop', intervalS: 1, topics, discoveryPrefix: false, cpuWindowMs: 1, stateDir: tmpdir(),
      publish: async (topic) => {
        maxActive = Math.max(maxActive, ++active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        if (failures++ < 1) throw new Error('broker away');
        sent.push(topic);
      },
    });
    await telemetry.start(); // first sample's publish fails: logged, not thrown
    await until('a sample published after the failed one', () => sent.length >= 1, 5000, 20);
    await telemetry.stop();
    const after = failures;
    // A negative check: nothing may run for longer than one interval (1 s) after stop().
    await new Promise((r) => setTimeout(r, 1200));
    expect(sent).toEqual([topics.telemetry('loop')]);
    expect(maxActive).toBe(1);
    expect(failures).toBe(after); // nothing ran after stop()
  });

  it('refuses bad options with a typed error', () => {
    const topics = topicsFor();
    const publish = async (): Promise<void> => {};
    expect(() => createTelemetry({ nodeId: '', intervalS: 60, publish, topics })).toThrow(TelemetryError);
    expect(() => createTelemetry({ nodeId: 'x', intervalS: 0, publish, topics })).toThrow(/intervalS/);
  });
});

describe('telemetry over MQTT (aedes + mqtt.js)', () => {
  let broker: BrokerHandle;
  let transport: MqttTransport;
  const prefix = `btn/telemetry-${process.pid}`;
  const topics = topicsFor(prefix);
  beforeAll(async () => {
    broker = await startBroker();
    transport = createMqttTransport({ url: broker.url, nodeId: 'node-t', clientId: `tel-${process.pid}`, prefix });
    await transport.online();
  });
  afterAll(async () => {
    await transport.close();
    await broker.close();
  });

  it('announces every sensor retained with availability on the status topic, then publishes samples', async () => {
    const published: string[] = [];
    const telemetry = createTelemetry({
      nodeId: 'node-t', board: 'qemu-x86_64', intervalS: 3600, stateDir: tmpdir(), topics, cpuWindowMs: 20,
      publish: (topic, payload, opts) => { published.push(topic); return transport.publish(topic, payload, opts); },
    });
    await telemetry.start();
    await telemetry.stop();
    expect(published.at(-1)).toBe(topics.telemetry('node-t'));
    // a client connecting afterwards still gets the discovery configs: they are retained
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const configs = new Map<string, { retain: boolean; config: Record<string, any> }>();
    client.on('message', (topic, payload, packet) => configs.set(topic, { retain: packet.retain, config: JSON.parse(payload.toString()) }));
    await client.subscribeAsync('homeassistant/sensor/#', { qos: 1 });
    await until('every retained config', () => configs.size === DISCOVERY_METRICS.length, 2000, 20);
    expect(configs.size).toBe(DISCOVERY_METRICS.length);
    for (const { retain } of configs.values()) expect(retain).toBe(true);
    const temp = configs.get('homeassistant/sensor/btn_node-t_temperature/config')!.config;
    expect(temp).toMatchObject({
      state_topic: topics.telemetry('node-t'), value_template: '{{ value_json.temperatureC }}', unique_id: 'btn_node-t_temperature',
      availability_topic: topics.status('node-t'), availability_template: '{{ value_json.state }}',
      payload_available: 'online', payload_not_available: 'offline', device_class: 'temperature', unit_of_measurement: '°C',
      device: { identifiers: ['btn_node-t'], model: 'qemu-x86_64' },
    });
    // the agent's retained status is what availability reads: {"state":"online",...}
    const status = new Promise<Record<string, unknown>>((resolve) => client.on('message', (t, p) => { if (t === topics.status('node-t')) resolve(JSON.parse(p.toString())); }));
    const tele = new Promise<Record<string, any>>((resolve) => client.on('message', (t, p) => { if (t === topics.telemetry('node-t')) resolve(JSON.parse(p.toString())); }));
    await client.subscribeAsync([topics.status('node-t'), topics.telemetry('node-t')], { qos: 1 });
    expect((await status)['state']).toBe('online');
    const sample = await telemetry.sampleOnce();
    await transport.publish(topics.telemetry('node-t'), JSON.stringify(sample), { qos: 1 });
    const got = await tele;
    expect(got['nodeId']).toBe('node-t');
    expect(got['memory'].totalBytes).toBeGreaterThan(100 * 2 ** 20);
    expect(got['memory'].usedPercent).toBeGreaterThan(0);
    expect(got['memory'].usedPercent).toBeLessThan(100);
    expect(got['uptimeS']).toBeGreaterThan(0);
    await client.endAsync();
  });
});
