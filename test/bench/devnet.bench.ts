// Devnet figures for 3 nodes, against a baseline measured in the same run with the same network
// parameters: the reference primary with 3 software-key stand-in secondaries on the in-process
// broker (no TPM, no candidate validation, no journal). Rounds are paced by time and the round
// that qualifies is random, so "ms to final" is mostly lottery; "overhead" subtracts the pacing
// ((draw round + best seal round + 1 vote window) x spinIntervalMs) and shows what the TPMs,
// agents and broker add.
import { generateKeyPairSync } from 'node:crypto';
import { runDevnet, DEVNET_PARAMS } from '../../firmware/devnet/devnet.ts';
import { realAgentFactory } from '../../firmware/devnet/agent-factory.ts';
import { createClerks } from '../../firmware/devnet/clerks.ts';
import { genesisTip, PrimaryNode, type FinalBlockRecord } from '../../firmware/devnet/primary.ts';
import { StaticSealAuthority } from '../../firmware/protocol/seal-check.ts';
import { TxGenerator } from '../../firmware/devnet/tx-generator.ts';
import { createMqttTransport, startBroker, topicsFor } from '../../firmware/transport/index.ts';
import { startStandIn } from '../firmware/devnet/stand-in-secondary.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

const NODES = 3;

function figures(blocks: readonly FinalBlockRecord[]): { perMinute: number; msToFinal: number; overhead: number } {
  const final = blocks.filter((b) => b.final);
  const total = final.reduce((a, b) => a + b.msToFinal, 0);
  const spin = DEVNET_PARAMS.spinIntervalMs;
  const overheads = final.filter((b) => b.attempts === 1).map((b) => b.msToFinal - (b.drawRound + (b.seals[0]?.round ?? 0) + 1) * spin);
  return { perMinute: (final.length / total) * 60_000, msToFinal: median(final.map((b) => b.msToFinal)), overhead: median(overheads) };
}

async function baseline(blocks: number): Promise<FinalBlockRecord[]> {
  const broker = await startBroker();
  const prefix = 'bench/devnet-baseline';
  const topics = topicsFor(prefix);
  const keys = Array.from({ length: NODES }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }));
  const standIns = await Promise.all(keys.map((k, i) => startStandIn({ url: broker.url, nodeId: `node-${i + 1}`, key: k.privateKey, topics, params: DEVNET_PARAMS })));
  const transport = createMqttTransport({ url: broker.url, nodeId: 'primary', clientId: 'bench-primary', prefix, protocol: 4, status: false });
  transport.start();
  await transport.online();
  try {
    const primary = new PrimaryNode({
      transport, topics, params: DEVNET_PARAMS, clerks: createClerks(3), transactions: new TxGenerator(),
      authority: new StaticSealAuthority(keys.map((k, i) => [`node-${i + 1}`, k.publicKey] as const)), genesis: genesisTip('bench', Date.now()),
    });
    const out = await primary.produce(blocks);
    await primary.stop();
    return out;
  } finally {
    for (const s of standIns) await s.close();
    await transport.close();
    await broker.close();
  }
}

export const run: BenchSuite = async (report, { quick }) => {
  const blocks = quick ? 5 : 20;
  const base = figures(await baseline(blocks));
  const t0 = performance.now();
  const result = await runDevnet({ nodes: NODES, blocks, agentFactory: realAgentFactory, handleSignals: false });
  const wall = performance.now() - t0;
  const dev = figures(result.blocks);
  const label = `devnet ${NODES} nodes (agents, swtpm)`;
  report(withBaseline(`${label} blocks per minute`, Number(dev.perMinute.toFixed(1)), 'blocks/min', 'software stand-ins, no TPM', Number(base.perMinute.toFixed(1))));
  report(withBaseline(`${label} ms to final (median)`, dev.msToFinal, 'ms', 'software stand-ins, no TPM', base.msToFinal));
  report(withBaseline(`${label} ms beyond round pacing (median)`, dev.overhead, 'ms', 'software stand-ins, no TPM', base.overhead));
  report({ name: `${label} wall time for ${blocks} blocks incl. ${NODES} swtpm starts`, value: Math.round(wall), unit: 'ms' });
};
