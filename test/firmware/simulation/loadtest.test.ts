// btn-node loadtest on real brokers (mosquitto with TLS and an account per agent; aedes): every
// candidate reaches every agent, qualifying agents publish seals that reach the others, and the
// report carries the broker's and the agents' CPU and memory.
import { describe, expect, it } from 'vitest';
import { loadtestCommand } from '../../../firmware/simulation/loadtest-command.ts';
import { processUsage } from '../../../firmware/simulation/process-usage.ts';

interface Report {
  agents: number;
  candidates: number;
  deliveries: number;
  missing: number;
  sealsPublished: number;
  sealDeliveries: number;
  fanOutMs: { p50: number; p99: number };
  brokerProcess: { cpuPercentOfOneCore: number; rssMB: number } | null;
  agentsProcess: { peakRssMB: number };
}

async function run(args: string[]): Promise<Report> {
  const lines: string[] = [];
  const code = await loadtestCommand([...args, '--json'], { out: (l) => lines.push(l), progress: () => undefined });
  const report = JSON.parse(lines[0]!) as Report;
  expect(code).toBe(report.missing === 0 ? 0 : 1);
  return report;
}

describe('btn-node loadtest', () => {
  it('mosquitto (TLS, an account per agent): every candidate to every agent, seals fanned out, broker usage read from /proc', { timeout: 60_000 }, async () => {
    const r = await run(['--agents', '40', '--seconds', '2', '--rate', '2']);
    expect(r).toMatchObject({ agents: 40, candidates: 4, deliveries: 160, missing: 0 });
    // m = floor(log2(40 / 8)) = 2: about 10 qualifiers per candidate.
    expect(r.sealsPublished).toBeGreaterThan(0);
    expect(r.sealDeliveries).toBeGreaterThan(0);
    expect(r.fanOutMs.p99).toBeGreaterThanOrEqual(r.fanOutMs.p50);
    expect(r.brokerProcess).not.toBeNull();
    expect(r.brokerProcess!.rssMB).toBeGreaterThan(1);
    expect(r.agentsProcess.peakRssMB).toBeGreaterThan(10);
  });

  it('aedes in this process: the same deliveries, no separate broker process', { timeout: 60_000 }, async () => {
    const r = await run(['--agents', '20', '--seconds', '1', '--rate', '3', '--broker', 'aedes']);
    expect(r).toMatchObject({ agents: 20, candidates: 3, deliveries: 60, missing: 0, brokerProcess: null });
  });

  it('bounds its arguments and reads /proc of a real process', async () => {
    await expect(loadtestCommand(['--agents', '10001'])).rejects.toThrow(/--agents must be in 1\.\.10000/);
    await expect(loadtestCommand(['--broker', 'example.com:1883'])).rejects.toThrow(/--broker must be mosquitto or aedes/);
    const me = await processUsage(process.pid);
    expect(me.rssBytes).toBeGreaterThan(1e6);
    expect(me.peakRssBytes).toBeGreaterThanOrEqual(me.rssBytes);
    expect(me.cpuMs).toBeGreaterThan(0);
    await expect(processUsage(-1)).rejects.toThrow(/not a pid/);
  });
});
