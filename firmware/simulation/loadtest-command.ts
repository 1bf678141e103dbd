// btn-node loadtest --agents M --seconds S [--rate R] [--broker mosquitto|aedes] [--json]
// M simulated agents (real MQTT connections, software keys) on a broker started here on
// 127.0.0.1, a driver publishing candidates at R per second; reports the candidates' fan-out
// latency (p50, p99), the broker's throughput, and the CPU and memory of the broker and of the
// agents' process. Bounded in count and time; it never connects anywhere but this machine.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { boundedInt, parse, UsageError } from '../core/cli-args.ts';
import { openDevnetBroker } from '../devnet/devnet-broker.ts';
import { runLoad } from './load-agents.ts';
import { sampleMessages } from './message-sizes.ts';
import { processUsage, type ProcessUsage } from './process-usage.ts';

const USAGE = `usage: btn-node loadtest [--agents M] [--seconds S] [--rate R] [--broker mosquitto|aedes] [--txs T] [--json]
  --agents M      MQTT connections, one per simulated agent (1..10000, default 1000)
  --seconds S     how long the driver publishes candidates (1..600, default 30)
  --rate R        candidates per second (1..50, default 1)
  --broker B      mosquitto (default: mosquitto 2 with TLS and dynamic security, each agent its own
                  account, as a network runs it) or aedes (in this process, MQTT 3.1.1)
  --txs T         transactions in each candidate (0..10000, default 100: 13,700 bytes)
  --k K           target qualifiers per candidate, m = floor(log2(M/K)) (default 8)
  --json          one JSON object instead of the lines
Agents follow the candidates and every seal, as nodes do, and publish a seal of the protocol's
size when their keyed-hash ticket qualifies. Everything runs on 127.0.0.1.`;

const OPTIONS = {
  agents: { type: 'string' },
  seconds: { type: 'string' },
  rate: { type: 'string' },
  broker: { type: 'string' },
  txs: { type: 'string' },
  k: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function loadtestCommand(argv: readonly string[], deps: { readonly out?: (line: string) => void; readonly progress?: (line: string) => void } = {}): Promise<number> {
  const v = parse(argv, OPTIONS, USAGE);
  const out = deps.out ?? ((line: string) => void process.stdout.write(line + '\n'));
  if (v.help) {
    out(USAGE);
    return 0;
  }
  const agents = boundedInt(v.agents, 'agents', { min: 1, max: 10_000, fallback: 1000 }, USAGE);
  const seconds = boundedInt(v.seconds, 'seconds', { min: 1, max: 600, fallback: 30 }, USAGE);
  const rate = boundedInt(v.rate, 'rate', { min: 1, max: 50, fallback: 1 }, USAGE);
  const txs = boundedInt(v.txs, 'txs', { min: 0, max: 10_000, fallback: 100 }, USAGE);
  const k = boundedInt(v.k, 'k', { min: 1, max: 10_000, fallback: 8 }, USAGE);
  const kind = v.broker ?? 'mosquitto';
  if (kind !== 'mosquitto' && kind !== 'aedes') throw new UsageError(`--broker must be mosquitto or aedes, got ${JSON.stringify(kind.slice(0, 40))}\n${USAGE}`);
  const progress = deps.progress ?? (process.stderr.isTTY ? (line: string) => void process.stderr.write(`\rloadtest: ${line}\x1b[K`) : undefined);
  const dir = await mkdtemp(join(tmpdir(), 'btn-loadtest-'));
  const prefix = 'btn/loadtest';
  const broker = await openDevnetBroker(kind === 'aedes' ? { kind: 'in-process' } : { kind: 'mosquitto' }, { dir, prefix, logger: pino({ level: 'silent' }) });
  try {
    const messages = sampleMessages({ txPerBlock: txs, quorum: 15, sealersPerFinal: 8 });
    const before = await usageOf(broker.pid);
    const selfBefore = { cpu: process.cpuUsage(), wall: performance.now() };
    let selfPeakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => { selfPeakRss = Math.max(selfPeakRss, process.memoryUsage().rss); }, 250);
    let result;
    try {
      result = await runLoad({ broker, prefix, agents, seconds, rate, candidate: messages.candidate, seal: messages.seal, k, seed: 'btn-loadtest', ...(progress === undefined ? {} : { onProgress: progress }) });
    } finally {
      clearInterval(sampler);
    }
    const wallMs = performance.now() - selfBefore.wall;
    const self = process.cpuUsage(selfBefore.cpu);
    const after = await usageOf(broker.pid);
    progress?.('');
    const report = {
      ...result, broker: kind, candidateBytes: messages.candidate.length, sealBytes: messages.seal.length,
      brokerProcess: before === null || after === null ? null : {
        cpuPercentOfOneCore: (100 * (after.cpuMs - before.cpuMs)) / wallMs, rssMB: after.rssBytes / 1e6, peakRssMB: after.peakRssBytes / 1e6,
      },
      agentsProcess: { cpuPercentOfOneCore: (100 * (self.user + self.system) / 1000) / wallMs, peakRssMB: selfPeakRss / 1e6 },
    };
    if (v.json) out(JSON.stringify(report));
    else {
      const f = (x: number, d = 0): string => x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
      out(`loadtest: ${agents} agents on ${kind === 'aedes' ? 'aedes (in this process)' : 'mosquitto 2 (TLS, an account per agent)'}, ${result.candidates} candidates of ${f(messages.candidate.length)} bytes at ${rate}/s, connected in ${f(result.msToConnectAll / 1000, 1)} s`);
      out(`fan-out: ${f(result.deliveries)} deliveries (${result.missing} missing), latency p50 ${f(result.fanOutMs.p50, 1)} ms, p99 ${f(result.fanOutMs.p99, 1)} ms, max ${f(result.fanOutMs.max, 1)} ms`);
      out(`seals: ${result.sealsPublished} published, ${f(result.sealDeliveries)} delivered to agents; broker out ${f(result.brokerOut.messagesPerSecond)} msg/s, ${f(result.brokerOut.bytesPerSecond / 1e6, 1)} MB/s`);
      if (report.brokerProcess !== null) out(`broker process: ${f(report.brokerProcess.cpuPercentOfOneCore, 1)} % of a core, RSS ${f(report.brokerProcess.rssMB, 1)} MB (peak ${f(report.brokerProcess.peakRssMB, 1)} MB)`);
      out(`agents' process${kind === 'aedes' ? ' (with the broker)' : ''}: ${f(report.agentsProcess.cpuPercentOfOneCore, 1)} % of a core, peak RSS ${f(report.agentsProcess.peakRssMB, 1)} MB`);
    }
    return result.missing === 0 ? 0 : 1;
  } finally {
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function usageOf(pid: number | undefined): Promise<ProcessUsage | null> {
  return pid === undefined || pid === 0 ? null : processUsage(pid);
}
