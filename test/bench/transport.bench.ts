// Transport figures, each against a baseline measured in the same run:
// - QoS 1 seals through a real mosquitto (MQTT 5): MqttTransport publish->handler vs bare mqtt.js.
// - BtnCmd decoding: FrameDecoder over a stream in 1,500-byte reads vs UTF-8 decode + JSON.parse of
//   the same bodies (the work no decoder can skip).
import { connect } from 'mqtt';
import { createMqttTransport, encodeFrame, FrameDecoder } from '../../firmware/transport/index.ts';
import { startMosquitto } from '../firmware/transport/mosquitto.ts';
import { withBaseline, median, type BenchSuite } from './report.ts';

function seal(i: number): { nodeId: string; blockHash: string; round: number; signature: string; expiresAt: number } {
  return { nodeId: 'bench', blockHash: 'ab'.repeat(32), round: i, signature: 'cd'.repeat(256), expiresAt: Date.now() + 600_000 };
}

async function transportRate(url: string, n: number, tag: string): Promise<number> {
  const sub = createMqttTransport({ url, nodeId: `s${tag}`, clientId: `bench-sub-${tag}`, status: false });
  const pub = createMqttTransport({ url, nodeId: `p${tag}`, clientId: `bench-pub-${tag}`, status: false });
  let got = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((r) => { done = r; });
  sub.subscribe(sub.topics.seals(`c${tag}`), () => { if (++got === n) done(); }, { qos: 1 });
  await Promise.all([sub.online(), pub.online()]);
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  // windows of 200 unacknowledged seals: mosquitto's default per-client queue (1,000) would drop the rest
  for (let i = 0; i < n; i += 200) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + 200); j++) batch.push(pub.publishSeal(`c${tag}`, seal(j)));
    await Promise.all(batch);
  }
  await all;
  const ms = performance.now() - t0;
  await Promise.all([sub.close(), pub.close()]);
  return (n / ms) * 1000;
}

async function bareRate(url: string, n: number, tag: string): Promise<number> {
  const sub = connect(url, { protocolVersion: 5, clientId: `bare-sub-${tag}`, reconnectPeriod: 0 });
  const pub = connect(url, { protocolVersion: 5, clientId: `bare-pub-${tag}`, reconnectPeriod: 0 });
  await Promise.all([new Promise((r) => sub.once('connect', r)), new Promise((r) => pub.once('connect', r))]);
  const topic = `btn/v1/seals/b${tag}`;
  let got = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((r) => { done = r; });
  sub.on('message', (_t, payload) => { JSON.parse(payload.toString()); if (++got === n) done(); });
  await sub.subscribeAsync(topic, { qos: 1 });
  const t0 = performance.now();
  for (let i = 0; i < n; i += 200) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + 200); j++) batch.push(pub.publishAsync(topic, JSON.stringify(seal(j)), { qos: 1, properties: { messageExpiryInterval: 600 } }));
    await Promise.all(batch);
  }
  await all;
  const ms = performance.now() - t0;
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  return (n / ms) * 1000;
}

export const run: BenchSuite = async (report, { quick }) => {
  const broker = await startMosquitto();
  try {
    const n = quick ? 500 : 3000;
    const rounds = quick ? 2 : 4;
    const t: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // alternate the order so neither side always runs warm
      if (r % 2 === 0) { b.push(await bareRate(broker.url, n, `${r}`)); t.push(await transportRate(broker.url, n, `${r}`)); }
      else { t.push(await transportRate(broker.url, n, `${r}`)); b.push(await bareRate(broker.url, n, `${r}`)); }
    }
    report(withBaseline('mqtt seals QoS 1 via mosquitto (v5), MqttTransport', Math.round(median(t)), 'msg/s', 'bare mqtt.js', Math.round(median(b))));
  } finally {
    await broker.destroy();
  }

  const frames = Array.from({ length: quick ? 2000 : 20_000 }, (_, i) => encodeFrame('seal', seal(i)));
  const stream = new Uint8Array(frames.reduce((s, f) => s + f.length, 0));
  let o = 0;
  for (const f of frames) { stream.set(f, o); o += f.length; }
  const bodies = frames.map((f) => f.subarray(8 + 4)); // after 'seal'
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const dec: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < 5; r++) {
    let t0 = performance.now();
    for (const s of bodies) JSON.parse(utf8.decode(s));
    base.push(performance.now() - t0);
    t0 = performance.now();
    const d = new FrameDecoder();
    let count = 0;
    for (let i = 0; i < stream.length; i += 1500) count += d.push(stream.subarray(i, i + 1500)).length;
    dec.push(performance.now() - t0);
    if (count !== frames.length) throw new Error(`decoded ${count} of ${frames.length}`);
  }
  const mb = stream.length / 1e6;
  report(withBaseline('btncmd decode, 1500-byte reads', Number((mb / (median(dec) / 1000)).toFixed(1)), 'MB/s', 'UTF-8 decode + JSON.parse of the bodies', Number((mb / (median(base) / 1000)).toFixed(1))));
};
