// One run of the simulator in a few figures: per-block means of the traffic, time to final, and the
// fairness of the wins.
import { fairnessTest, type FairnessTest } from './fairness.ts';
import { trafficTotal, type BlockRecord, type Design, type SimulationResult } from './network-sim.ts';

export interface RunSummary {
  readonly nodes: number;
  readonly design: Design;
  readonly blocks: number;
  readonly primaries: number;
  readonly sealZeros: number;
  readonly clerkZeros: number;
  readonly quorum: number;
  /** Means per block. */
  readonly perBlock: {
    readonly messagesIn: number;
    readonly messagesOut: number;
    readonly bytesIn: number;
    readonly bytesOut: number;
    readonly seals: number;
    readonly signatures: number;
  };
  /** Messages out of the broker per block and node: the fan-out's constant. */
  readonly fanOutPerNode: number;
  readonly redraws: number;
  readonly msToFinal: { readonly median: number; readonly p95: number; readonly mean: number };
  readonly fairness: FairnessTest | null;
  readonly wallMs: number;
  readonly heapMB: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export function summarize(r: SimulationResult, o: { readonly nodes: number; readonly design: Design; readonly primaries: number; readonly wallMs: number; readonly heapMB: number }): RunSummary {
  const b: readonly BlockRecord[] = r.blocks;
  const times = b.map((x) => x.msToFinal).sort((x, y) => x - y);
  const messagesOut = mean(b.map((x) => trafficTotal(x.messagesOut)));
  return {
    nodes: o.nodes, design: o.design, blocks: b.length, primaries: o.primaries, sealZeros: r.sealZeros, clerkZeros: r.clerkZeros, quorum: r.quorum,
    perBlock: {
      messagesIn: mean(b.map((x) => trafficTotal(x.messagesIn))), messagesOut,
      bytesIn: mean(b.map((x) => x.bytesIn)), bytesOut: mean(b.map((x) => x.bytesOut)),
      seals: mean(b.map((x) => x.seals)), signatures: mean(b.map((x) => x.signatures)),
    },
    fanOutPerNode: messagesOut / o.nodes,
    redraws: b.reduce((a, x) => a + x.attempts - 1, 0),
    msToFinal: { median: quantile(times, 0.5), p95: quantile(times, 0.95), mean: mean(times) },
    fairness: fairnessTest(r.wins, b.length),
    wallMs: o.wallMs, heapMB: o.heapMB,
  };
}
