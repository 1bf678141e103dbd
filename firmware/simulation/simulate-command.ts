// btn-node simulate --nodes N[,N...] --blocks K [--json] [--design full|header-first|both] ...
// The protocol at scale, in simulated time (docs/simulation.md): per block the messages and bytes
// into and out of the broker by kind, TPM signatures, seals, redraws and time to final; over the
// run, the fairness of the wins (chi-square, p-value). Several N make a sweep; --plot FILE draws it.
import { writeFile } from 'node:fs/promises';
import { boundedInt, parse, UsageError } from '../core/cli-args.ts';
import { measureMessageSizes } from './message-sizes.ts';
import { MAX_SIM_BLOCKS, MAX_SIM_NODES, simulate, trafficTotal, type BlockRecord, type Design } from './network-sim.ts';
import { plotSweep } from './plot.ts';
import { summarize, type RunSummary } from './summary.ts';

const USAGE = `usage: btn-node simulate --nodes N[,N,...] [--blocks K] [--json] [--design full|header-first|both] [--plot FILE]
  --nodes N,...   secondary nodes (1..${MAX_SIM_NODES.toLocaleString('en')}); several make a sweep
  --blocks K      final blocks per run (1..${MAX_SIM_BLOCKS.toLocaleString('en')}, default 200)
  --primaries P   committee members, who are also the clerks (1..1024, default 21; quorum floor(2P/3)+1)
  --k K           target qualifiers per block: seal threshold m = floor(log2(N/K)) (default 8)
  --zeros M       a fixed seal threshold instead (0..64)
  --design D      full (the block to every node), header-first (the header to every node, the
                  body to the nodes whose ticket qualified), or both (default)
  --txs T         transactions per block, for the message sizes (0..10000, default 100)
  --tpm MEDIAN,P95       one TPM signature, ms (default 200,600: real TPMs)
  --latency MEDIAN,P95   one way between a client and the broker, ms (default 40,150)
  --spin MS       spin interval (default 200); --rounds R max rounds (default 64); --deadline MS (default 20000)
  --seed S        the run's seed (default btn-simulate): the same seed gives the same figures
  --json          one JSON object per block, then one per run ({ summary }); otherwise a table
  --plot FILE     write an SVG of the sweep: traffic and time to final against N
The one substitution: a node's TPM signature and its SHA-256 are replaced by a keyed hash with
the same output distribution; the lottery's zero bits, thresholds, priority order, spinning
schedule, seal check and committee quorum are the protocol's own.`;

const OPTIONS = {
  nodes: { type: 'string' },
  blocks: { type: 'string' },
  primaries: { type: 'string' },
  k: { type: 'string' },
  zeros: { type: 'string' },
  design: { type: 'string' },
  txs: { type: 'string' },
  tpm: { type: 'string' },
  latency: { type: 'string' },
  spin: { type: 'string' },
  rounds: { type: 'string' },
  deadline: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
  plot: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function pair(v: string | undefined, name: string, dflt: { medianMs: number; p95Ms: number }): { medianMs: number; p95Ms: number } {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)$/.exec(v);
  const median = Number(m?.[1]);
  const p95 = Number(m?.[2]);
  if (m === null || !(median > 0) || !(p95 >= median) || p95 > 600_000) throw new UsageError(`--${name} must be MEDIAN,P95 in ms with 0 < MEDIAN <= P95, got ${JSON.stringify(v.slice(0, 40))}\n${USAGE}`);
  return { medianMs: median, p95Ms: p95 };
}

export async function simulateCommand(argv: readonly string[], deps: { readonly out?: (line: string) => void; readonly progress?: (line: string) => void } = {}): Promise<number> {
  const v = parse(argv, OPTIONS, USAGE);
  const out = deps.out ?? ((line: string) => void process.stdout.write(line + '\n'));
  if (v.help) {
    out(USAGE);
    return 0;
  }
  if (v.nodes === undefined) throw new UsageError(`--nodes is required\n${USAGE}`);
  const sweep = v.nodes.split(',').slice(0, 16).map((x) => boundedInt(x, 'nodes', { min: 1, max: MAX_SIM_NODES, fallback: 0 }, USAGE));
  const blocks = boundedInt(v.blocks, 'blocks', { min: 1, max: MAX_SIM_BLOCKS, fallback: 200 }, USAGE);
  const primaries = boundedInt(v.primaries, 'primaries', { min: 1, max: 1024, fallback: 21 }, USAGE);
  if (v.k !== undefined && v.zeros !== undefined) throw new UsageError(`--k and --zeros exclude each other\n${USAGE}`);
  const sealZeros = v.zeros !== undefined ? { fixed: boundedInt(v.zeros, 'zeros', { min: 0, max: 64, fallback: 0 }, USAGE) } : { k: boundedInt(v.k, 'k', { min: 1, max: 1_000_000, fallback: 8 }, USAGE) };
  const design = v.design ?? 'both';
  if (design !== 'full' && design !== 'header-first' && design !== 'both') throw new UsageError(`--design must be full, header-first or both\n${USAGE}`);
  const designs: Design[] = design === 'both' ? ['full', 'header-first'] : [design];
  const txs = boundedInt(v.txs, 'txs', { min: 0, max: 10_000, fallback: 100 }, USAGE);
  const quorum = Math.floor((2 * primaries) / 3) + 1;
  const sizes = measureMessageSizes({ txPerBlock: txs, quorum, sealersPerFinal: 8 });
  const base = {
    blocks, primaries, sealZeros,
    spinIntervalMs: boundedInt(v.spin, 'spin', { min: 1, max: 60_000, fallback: 200 }, USAGE), maxRounds: boundedInt(v.rounds, 'rounds', { min: 1, max: 4096, fallback: 64 }, USAGE), sealDeadlineMs: boundedInt(v.deadline, 'deadline', { min: 1, max: 3_600_000, fallback: 20_000 }, USAGE),
    tpm: pair(v.tpm, 'tpm', { medianMs: 200, p95Ms: 600 }), latency: pair(v.latency, 'latency', { medianMs: 40, p95Ms: 150 }),
    // What a node spends testing a full candidate: about 0.1 ms per transaction plus the header's checks.
    verifyMs: 2 + 0.1 * txs, sizes, seed: v.seed ?? 'btn-simulate',
  };
  const progress = deps.progress ?? (process.stderr.isTTY ? (line: string) => void process.stderr.write(`\r${line}\x1b[K`) : undefined);
  const summaries: RunSummary[] = [];
  for (const nodes of sweep) {
    for (const d of designs) {
      const t0 = performance.now();
      const result = simulate({
        ...base, nodes, design: d,
        onBlock: (b: BlockRecord) => {
          if (v.json) out(JSON.stringify({ nodes, design: d, ...b, messagesInTotal: trafficTotal(b.messagesIn), messagesOutTotal: trafficTotal(b.messagesOut) }));
          if (progress !== undefined && (b.height % 10 === 0 || b.height === blocks)) progress(`simulate N=${nodes.toLocaleString('en')} ${d}: block ${b.height}/${blocks} ${bar(b.height / blocks)}`);
        },
      });
      const s = summarize(result, { nodes, design: d, primaries, wallMs: Math.round(performance.now() - t0), heapMB: Math.round(process.memoryUsage().rss / 1e6) });
      summaries.push(s);
      if (v.json) out(JSON.stringify({ summary: s }));
    }
  }
  if (progress !== undefined) progress('');
  if (!v.json) {
    out(`message sizes (bytes, real encoders, ${txs} tx per block): candidate ${sizes.candidate}, header ${sizes.header}, body ${sizes.body}, seal ${sizes.seal}, vote ${sizes.vote}, final ${sizes.final}`);
    for (const line of table(summaries)) out(line);
  }
  if (v.plot !== undefined) {
    await writeFile(v.plot, plotSweep(summaries));
    if (!v.json) out(`plot: ${v.plot}`);
  }
  const unfair = summaries.filter((s) => s.fairness !== null && s.fairness.pValue < 0.001);
  return unfair.length === 0 ? 0 : 1;
}

function bar(f: number): string {
  const n = Math.round(f * 20);
  return `[${'#'.repeat(n)}${'.'.repeat(20 - n)}]`;
}

const num = (x: number, digits = 0): string => x.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function table(runs: readonly RunSummary[]): string[] {
  const head = ['N', 'design', 'm', 'msgs in/block', 'msgs out/block', 'out/node', 'MB out/block', 'sigs/block', 'seals/block', 'redraws', 'final ms p50', 'p95', 'fairness p', 'wall s'];
  const rows = runs.map((s) => [
    num(s.nodes), s.design, String(s.sealZeros), num(s.perBlock.messagesIn, 1), num(s.perBlock.messagesOut), num(s.fanOutPerNode, 2),
    num(s.perBlock.bytesOut / 1e6, 2), num(s.perBlock.signatures), num(s.perBlock.seals, 1), String(s.redraws),
    num(s.msToFinal.median), num(s.msToFinal.p95), s.fairness === null ? 'n/a' : s.fairness.pValue.toFixed(3), num(s.wallMs / 1000, 1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
}
