// Home Assistant discovery is sent again when it may have been lost: a real mosquitto without
// persistence restarts (retained messages gone), and Home Assistant announces itself on
// homeassistant/status with "online". Garbage there is ignored with a debug line.
import mqtt, { type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTelemetry, DISCOVERY_METRICS, parseHomeAssistantStatus, type Telemetry } from '../../../firmware/telemetry/index.ts';
import { createMqttTransport, topicsFor, type MqttTransport, type TransportState } from '../../../firmware/transport/index.ts';
import { startMosquitto, type Mosquitto } from '../transport/mosquitto.ts';
import { until } from '../../until.ts';

/** What a client connecting now gets: the retained discovery configs (topic -> config). */
async function retainedConfigs(url: string): Promise<Map<string, Record<string, unknown>>> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  const got = new Map<string, Record<string, unknown>>();
  client.on('message', (topic, payload, packet) => {
    if (packet.retain && payload.length > 0) got.set(topic, JSON.parse(payload.toString()) as Record<string, unknown>);
  });
  await client.subscribeAsync('homeassistant/sensor/#', { qos: 1 });
  // Retained messages follow the SUBACK at once; a short wait collects all of them. Fewer than
  // all is an answer too (the caller checks the count), so the wait ends without an error.
  await until('every retained config', () => got.size === DISCOVERY_METRICS.length, 500, 25).catch(() => undefined);
  await client.endAsync();
  return got;
}

describe('Home Assistant HA status payloads', () => {
  it('accepts the words online and offline as bytes or text, nothing else', () => {
    expect(parseHomeAssistantStatus(new TextEncoder().encode('online'))).toBe('online');
    expect(parseHomeAssistantStatus('offline\n')).toBe('offline');
    for (const bad of ['Online', 'onlinex', '', 'x'.repeat(33), new Uint8Array([0xff, 0xfe]), new Uint8Array(100_000), 1, null, { state: 'online' }]) {
      expect(parseHomeAssistantStatus(bad)).toBeNull();
    }
  });

  it('bounds re-sends: a burst of reconnects gives one more round after the gap, not one each', async () => {
    let connect: (() => void) | null = null;
    const sent: string[] = [];
    const t = createTelemetry({
      nodeId: 'burst', intervalS: 3600, topics: topicsFor('btn/burst'), staticFacts: false, cpuWindowMs: 1, discoveryMinGapMs: 200,
      publish: async (topic) => { sent.push(topic); await new Promise((r) => setTimeout(r, 2)); },
      onConnect: (fn) => { connect = fn; return () => { connect = null; }; },
    });
    await t.start();
    expect(t.stats().discoverySends).toBe(1);
    for (let i = 0; i < 10; i++) connect!();
    await until('the second round', () => t.stats().discoverySends === 2 && sent.filter((x) => x.endsWith('/config')).length === 2 * DISCOVERY_METRICS.length);
    // A negative check: past the 200 ms gap, a third round would have started if one were pending.
    await new Promise((r) => setTimeout(r, 400));
    expect(t.stats().discoverySends).toBe(2);
    await t.stop();
    expect(connect).toBeNull(); // unsubscribed
  });
});

describe('discovery re-sent over a real mosquitto without persistence', () => {
  let broker: Mosquitto;
  let transport: MqttTransport;
  let haSide: MqttClient;
  let nodeRaw: MqttClient;
  let telemetry: Telemetry;
  const lines: Record<string, unknown>[] = [];
  const logger: Logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const prefix = `btn/ha-${process.pid}`;

  beforeAll(async () => {
    broker = await startMosquitto();
    transport = createMqttTransport({ url: broker.url, nodeId: 'node-ha', clientId: `ha-node-${process.pid}`, prefix, backoff: { baseMs: 100, capMs: 400 }, logger });
    await transport.online();
    // The node's subscription to Home Assistant's birth topic takes the payload as bytes (HA sends
    // the bare word online, which is not JSON); a plain mqtt.js client carries it here.
    nodeRaw = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 100, clientId: `ha-node-raw-${process.pid}` });
    const handlers = new Map<string, (p: unknown) => void>();
    // A holder, not a let: the assignment happens inside the subscribe callback.
    const subscribed: { done: Promise<unknown> | null } = { done: null };
    nodeRaw.on('message', (topic, payload) => handlers.get(topic)?.(new Uint8Array(payload)));
    telemetry = createTelemetry({
      nodeId: 'node-ha', intervalS: 3600, topics: transport.topics, staticFacts: false, cpuWindowMs: 1, logger, discoveryMinGapMs: 0, discoveryJitterMs: 0,
      publish: (topic, payload, opts) => transport.publish(topic, payload, opts),
      onConnect: (fn) => {
        const on = (s: TransportState): void => { if (s === 'online') fn(); };
        transport.on('state', on);
        return () => void transport.off('state', on);
      },
      subscribe: (topic, handler) => {
        handlers.set(topic, handler);
        subscribed.done = nodeRaw.subscribeAsync(topic, { qos: 0 });
        return () => { handlers.delete(topic); };
      },
    });
    await telemetry.start();
    expect(subscribed.done).not.toBeNull();
    await subscribed.done;
    expect([...handlers.keys()]).toEqual(['homeassistant/status']);
    haSide = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 100 });
  });

  afterAll(async () => {
    await telemetry?.stop();
    await haSide?.endAsync(true);
    await nodeRaw?.endAsync(true);
    await transport?.close();
    await broker?.destroy();
  });

  const clearConfigs = async (): Promise<void> => {
    for (const m of DISCOVERY_METRICS) await haSide.publishAsync(`homeassistant/sensor/btn_node-ha_${m.key}/config`, '', { qos: 1, retain: true });
    expect((await retainedConfigs(broker.url)).size).toBe(0);
  };

  it('a broker restart loses every retained message; the node publishes discovery again on reconnect', async () => {
    expect((await retainedConfigs(broker.url)).size).toBe(DISCOVERY_METRICS.length);
    await haSide.publishAsync('btn-test/control', 'kept?', { qos: 1, retain: true });
    const connects = transport.stats().connects;
    await broker.restart();
    await until('the transport to reconnect', () => transport.stats().connects > connects && transport.state === 'online');
    const configs = await until('the configs retained again', async () => {
      const c = await retainedConfigs(broker.url);
      return c.size === DISCOVERY_METRICS.length ? c : null;
    });
    expect(configs.get('homeassistant/sensor/btn_node-ha_temperature/config')).toMatchObject({ unique_id: 'btn_node-ha_temperature', availability_topic: transport.topics.status('node-ha') });
    expect(telemetry.stats().discoverySends).toBe(2);
    // the control message is gone: the broker really kept nothing across the restart
    const probe = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    let control = false;
    let marker = false;
    probe.on('message', (t, payload) => { if (payload.toString() === 'marker') marker = true; else if (t === 'btn-test/control') control = true; });
    await probe.subscribeAsync('btn-test/control', { qos: 1 });
    // A retained message is queued at the subscription, so it would arrive before this marker.
    await probe.publishAsync('btn-test/control', 'marker', { qos: 1 });
    await until('the marker', () => marker, 5000, 20);
    await probe.endAsync();
    expect(control).toBe(false);
  });

  it('Home Assistant coming online (birth "online") brings the configs back', async () => {
    await until('the HA side to be connected', () => haSide.connected);
    await clearConfigs();
    const before = telemetry.stats().discoverySends;
    await haSide.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await until('the configs retained again', async () => (await retainedConfigs(broker.url)).size === DISCOVERY_METRICS.length);
    expect(telemetry.stats().discoverySends).toBe(before + 1);
    expect(lines.some((l) => l['msg'] === 'Home Assistant is online: publishing discovery again')).toBe(true);
  });

  it('garbage, oversized, non-UTF-8 and "offline" payloads send nothing; garbage is a debug line; the node goes on', async () => {
    await clearConfigs();
    const sends = telemetry.stats().discoverySends;
    const ignored = telemetry.stats().haStatusIgnored;
    const warnings = lines.filter((l) => (l['level'] as number) >= 40).length;
    for (const p of ['garbage', 'x'.repeat(100_000), Buffer.from([0xff, 0xfe, 0x6f]), '{"state":"online"}']) await haSide.publishAsync('homeassistant/status', p, { qos: 1 });
    await haSide.publishAsync('homeassistant/status', 'offline', { qos: 1 });
    await until('four ignored payloads', () => telemetry.stats().haStatusIgnored === ignored + 4);
    const debug = lines.filter((l) => l['msg'] === 'Home Assistant status ignored: not "online" or "offline"');
    expect(debug.length).toBeGreaterThanOrEqual(4);
    for (const d of debug) expect(d['level']).toBe(20);
    expect(JSON.stringify(debug)).not.toContain('garbage'); // payloads are not logged
    expect(lines.filter((l) => (l['level'] as number) >= 40).length).toBe(warnings);
    expect(telemetry.stats().discoverySends).toBe(sends);
    expect((await retainedConfigs(broker.url)).size).toBe(0);
    // still working: the next real birth is answered
    await haSide.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await until('the configs back', async () => (await retainedConfigs(broker.url)).size === DISCOVERY_METRICS.length);
    expect(transport.state).toBe('online');
  });
});
