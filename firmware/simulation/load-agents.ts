// The load test's agents: M real MQTT connections to one broker, each a light stand-in for a
// secondary node with a software key. Each follows the candidates and every seal (as a node does),
// draws its ticket with the simulator's keyed hash, and publishes a seal of the protocol's size when
// its ticket qualifies. A driver with the clerk's account publishes candidates (a real binary frame
// of the chosen size, tagged with a sequence number in its last 4 bytes) and times each delivery.
import { createHash } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { thresholdFor } from '../protocol/chain/lottery.ts';
import { topicsFor } from '../protocol/topics.ts';
import { qualifies } from '../protocol/chain/lottery.ts';
import type { DevnetBroker } from '../devnet/devnet-broker.ts';
import { Random } from './random.ts';
import { hashWords, standInTicket, standInZeros } from './stand-in-ticket.ts';

export interface LoadOptions {
  readonly broker: DevnetBroker;
  readonly prefix: string;
  readonly agents: number;
  readonly seconds: number;
  /** Candidates per second from the driver. */
  readonly rate: number;
  /** A candidate as the clerk would send it (binary frame). */
  readonly candidate: Uint8Array;
  /** A seal as a node sends it (JSON, with its registration). */
  readonly seal: Uint8Array;
  /** Target qualifiers per candidate: m = floor(log2(agents / k)). */
  readonly k: number;
  readonly seed: string;
  /** Connections opened at once while connecting. */
  readonly connectBatch?: number;
  readonly onProgress?: (line: string) => void;
}

export interface LoadResult {
  readonly agents: number;
  readonly candidates: number;
  readonly deliveries: number;
  readonly missing: number;
  readonly sealsPublished: number;
  readonly sealDeliveries: number;
  readonly fanOutMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Messages and bytes out of the broker per second of the run (candidates and seals to every subscriber). */
  readonly brokerOut: { readonly messagesPerSecond: number; readonly bytesPerSecond: number };
  readonly msToConnectAll: number;
  readonly seconds: number;
}

const SEQ_BYTES = 4;

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const t = topicsFor(o.prefix);
  const rng = new Random(o.seed);
  const m = thresholdFor(o.agents, o.k);
  const protocol = o.broker.protocol === 4 ? 4 : 5;
  const tls = o.broker.ca === undefined ? {} : { ca: o.broker.ca };
  const expected = Math.max(1, Math.round(o.seconds * o.rate));
  const sentAt = new Float64Array(expected);
  const latencies = new Float64Array(expected * o.agents);
  let deliveries = 0;
  let sealDeliveries = 0;
  let sealsPublished = 0;
  let bytesOut = 0;
  const clients: MqttClient[] = [];
  const started = performance.now();
  try {
    const batch = o.connectBatch ?? 50;
    for (let first = 0; first < o.agents; first += batch) {
      const ids = Array.from({ length: Math.min(batch, o.agents - first) }, (_, j) => `load-${first + j}`);
      await Promise.all(ids.map(async (id) => {
        const creds = (await o.broker.nodeCredentials?.(id)) ?? {};
        const c = await mqtt.connectAsync(o.broker.url, { ...tls, ...creds, clientId: id, protocolVersion: protocol, reconnectPeriod: 0, connectTimeout: 30_000 });
        const k0 = rng.u32();
        const k1 = rng.u32();
        c.on('message', (topic, payload) => {
          if (topic !== t.candidates) {
            sealDeliveries++;
            bytesOut += payload.length;
            return;
          }
          const now = performance.now();
          const seq = payload.readUInt32BE(payload.length - SEQ_BYTES);
          if (seq < expected) latencies[deliveries++] = now - sentAt[seq]!;
          bytesOut += payload.length;
          const [h0, h1] = hashWords(createHash('sha256').update(payload).digest());
          standInTicket(k0, k1, h0, h1, 0, tick);
          if (qualifies(standInZeros(tick[0]!, tick[1]!), m)) {
            sealsPublished++;
            c.publish(t.sealFrom('load-clerk', id), Buffer.from(o.seal), { qos: 1 });
          }
        });
        await c.subscribeAsync([t.candidates, t.allSeals], { qos: 1 });
        clients.push(c);
      }));
      o.onProgress?.(`connected ${clients.length}/${o.agents}`);
    }
    const msToConnectAll = performance.now() - started;
    const driver = await mqtt.connectAsync(o.broker.url, { ...tls, ...o.broker.primary, clientId: 'load-driver', protocolVersion: protocol, reconnectPeriod: 0 });
    try {
      const frame = Buffer.concat([Buffer.from(o.candidate), Buffer.alloc(SEQ_BYTES)]);
      const t0 = performance.now();
      for (let seq = 0; seq < expected; seq++) {
        const due = t0 + (seq * 1000) / o.rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const payload = Buffer.from(frame);
        payload.writeUInt32BE(seq, payload.length - SEQ_BYTES);
        sentAt[seq] = performance.now();
        await driver.publishAsync(t.candidates, payload, { qos: 1 });
        if (seq % Math.max(1, Math.round(o.rate)) === 0) o.onProgress?.(`candidate ${seq + 1}/${expected}, ${deliveries.toLocaleString('en')} deliveries`);
      }
      // Let the last deliveries land (bounded: at most 10 s more).
      const end = performance.now() + 10_000;
      while (deliveries < expected * o.agents && performance.now() < end) await new Promise((r) => setTimeout(r, 50));
      const seconds = (performance.now() - t0) / 1000;
      const sorted = latencies.slice(0, deliveries).sort();
      return {
        agents: o.agents, candidates: expected, deliveries, missing: expected * o.agents - deliveries, sealsPublished, sealDeliveries,
        fanOutMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]! },
        brokerOut: { messagesPerSecond: (deliveries + sealDeliveries) / seconds, bytesPerSecond: bytesOut / seconds },
        msToConnectAll, seconds,
      };
    } finally {
      await driver.endAsync(true);
    }
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  }
}

const tick = new Uint32Array(2);
