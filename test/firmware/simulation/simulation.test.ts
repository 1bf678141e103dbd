// The simulator (firmware/simulation): its one substitution has the lottery's distribution, its
// statistics are right on known values, and a run obeys the protocol's rules and the scaling the
// design predicts (traffic into the broker about constant in N, fan-out linear in N).
import { describe, expect, it } from 'vitest';
import { leadingZeroBits } from '../../../firmware/core/bytes.ts';
import { chiSquareSurvival, fairnessTest, logGamma } from '../../../firmware/simulation/fairness.ts';
import { measureMessageSizes } from '../../../firmware/simulation/message-sizes.ts';
import { simulate, trafficTotal, type SimulationOptions } from '../../../firmware/simulation/network-sim.ts';
import { logNormal, Random } from '../../../firmware/simulation/random.ts';
import { standInBytes, standInTicket, standInZeros } from '../../../firmware/simulation/stand-in-ticket.ts';
import { summarize } from '../../../firmware/simulation/summary.ts';
import { simulateCommand } from '../../../firmware/simulation/simulate-command.ts';

const sizes = measureMessageSizes({ txPerBlock: 10, quorum: 5, sealersPerFinal: 4 });
const base: Omit<SimulationOptions, 'nodes' | 'design'> = {
  blocks: 60, primaries: 7, sealZeros: { k: 8 }, spinIntervalMs: 200, maxRounds: 64, sealDeadlineMs: 20_000,
  tpm: { medianMs: 200, p95Ms: 600 }, latency: { medianMs: 40, p95Ms: 150 }, verifyMs: 3, sizes, seed: 'test',
};

describe('stand-in ticket', () => {
  it('zero bits follow the lottery law: a fraction 2^-m of tickets has at least m, counted as the lottery counts them', () => {
    const rng = new Random('keys');
    const out = new Uint32Array(2);
    const atLeast = Array.from({ length: 12 }, () => 0);
    const samples = 200_000;
    for (let i = 0; i < samples; i++) {
      standInTicket(rng.u32(), rng.u32(), 0xdeadbeef, 0x01234567, i % 64, out);
      const z = standInZeros(out[0]!, out[1]!);
      expect(z).toBe(leadingZeroBits(standInBytes(out[0]!, out[1]!)));
      for (let m = 0; m < atLeast.length && m <= z; m++) atLeast[m]!++;
    }
    for (let m = 1; m < 9; m++) {
      const expected = samples * 2 ** -m;
      // Within 5 standard deviations of the binomial count.
      expect(Math.abs(atLeast[m]! - expected), `m=${m}`).toBeLessThan(5 * Math.sqrt(expected));
    }
  });

  it('is fixed by key, hash and round, and changes with each', () => {
    const a = new Uint32Array(2);
    const b = new Uint32Array(2);
    standInTicket(1, 2, 3, 4, 5, a);
    standInTicket(1, 2, 3, 4, 5, b);
    expect([...a]).toEqual([...b]);
    const changed: readonly (readonly [number, number, number, number, number])[] = [[9, 2, 3, 4, 5], [1, 9, 3, 4, 5], [1, 2, 9, 4, 5], [1, 2, 3, 9, 5], [1, 2, 3, 4, 6]];
    for (const [k0, k1, h0, h1, round] of changed) {
      standInTicket(k0, k1, h0, h1, round, b);
      expect([...b]).not.toEqual([...a]);
    }
  });
});

describe('statistics', () => {
  it('chi-square survival matches known values', () => {
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 10);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 10);
    // Tables: P(X >= 3.841 | 1 dof) = 0.05; P(X >= 16.919 | 9) = 0.05; P(X >= 21.666 | 9) = 0.01.
    expect(chiSquareSurvival(3.841, 1)).toBeCloseTo(0.05, 3);
    expect(chiSquareSurvival(16.919, 9)).toBeCloseTo(0.05, 3);
    expect(chiSquareSurvival(21.666, 9)).toBeCloseTo(0.01, 3);
    expect(chiSquareSurvival(0, 4)).toBe(1);
  });

  it('the fairness test passes even wins and fails wins that all go to a few nodes', () => {
    const even = new Uint32Array(100).fill(2);
    expect(fairnessTest(even, 200)!.pValue).toBeGreaterThan(0.99);
    const skewed = new Uint32Array(100);
    skewed[0] = 200;
    expect(fairnessTest(skewed, 200)!.pValue).toBeLessThan(1e-6);
    expect(fairnessTest(new Uint32Array(10), 5)).toBeNull();
  });

  it('a log-normal sampler has the stated median and p95', () => {
    const draw = logNormal({ medianMs: 200, p95Ms: 600 }, new Random('ln'));
    const xs = Array.from({ length: 40_000 }, draw).sort((a, b) => a - b);
    expect(xs[20_000]!).toBeGreaterThan(190);
    expect(xs[20_000]!).toBeLessThan(210);
    expect(xs[38_000]!).toBeGreaterThan(560);
    expect(xs[38_000]!).toBeLessThan(640);
    expect(() => logNormal({ medianMs: 10, p95Ms: 5 }, new Random('x'))).toThrow(/median <= p95/);
  });
});

describe('a simulated network', () => {
  it('every block is final, won by a seal the lottery allows, and the same seed gives the same run', () => {
    const a = simulate({ ...base, nodes: 2000, design: 'full' });
    const b = simulate({ ...base, nodes: 2000, design: 'full' });
    expect(a.blocks.map((x) => x.winner)).toEqual(b.blocks.map((x) => x.winner));
    expect(a.sealZeros).toBe(Math.floor(Math.log2(2000 / 8)));
    expect(a.quorum).toBe(5);
    for (const block of a.blocks) {
      expect(block.sealsAccepted).toBeGreaterThanOrEqual(1);
      expect(block.sealsAccepted).toBeLessThanOrEqual(block.seals);
      expect(block.winner).toBeGreaterThanOrEqual(0);
      expect(block.winner).toBeLessThan(2000);
      // Every node signs round 0 at least; nobody signs more rounds than the schedule allows.
      expect(block.signatures).toBeGreaterThanOrEqual(2000);
      // The committee votes once per attempt that had a valid seal: at least once, 7 votes each time.
      expect(block.messagesIn.votes % 7).toBe(0);
      expect(block.messagesIn.votes).toBeGreaterThanOrEqual(7);
      expect(block.msToFinal).toBeGreaterThan(0);
    }
    expect([...a.wins].reduce((x, y) => x + y, 0)).toBe(60);
  });

  it('traffic into the broker stays about constant in N; the fan-out grows linearly; header-first sends bodies only to qualifiers', () => {
    const small = summarize(simulate({ ...base, nodes: 1000, design: 'full' }), { nodes: 1000, design: 'full', primaries: 7, wallMs: 0, heapMB: 0 });
    const large = summarize(simulate({ ...base, nodes: 16_000, design: 'full' }), { nodes: 16_000, design: 'full', primaries: 7, wallMs: 0, heapMB: 0 });
    // k = 8: between k and 2k qualifiers per round 0 whatever N is.
    expect(large.perBlock.messagesIn / small.perBlock.messagesIn).toBeGreaterThan(0.6);
    expect(large.perBlock.messagesIn / small.perBlock.messagesIn).toBeLessThan(1.6);
    const perNode = large.fanOutPerNode / small.fanOutPerNode;
    expect(perNode).toBeGreaterThan(0.6);
    expect(perNode).toBeLessThan(1.6);
    expect(large.fairness!.pValue).toBeGreaterThan(0.001);
    const header = simulate({ ...base, nodes: 16_000, design: 'header-first' });
    const candidateBytes = (r: typeof header): number => r.blocks.reduce((s, x) => s + x.messagesOut.candidate, 0);
    expect(candidateBytes(header)).toBe(candidateBytes(simulate({ ...base, nodes: 16_000, design: 'full' })));
    expect(header.blocks.every((x) => x.messagesOut.body >= 1 && x.messagesOut.body < 16_000)).toBe(true);
    expect(header.blocks.every((x) => trafficTotal(x.messagesIn) > 0)).toBe(true);
  });

  it('the command prints a table, or one JSON line per block and a summary; bad arguments are named', async () => {
    const lines: string[] = [];
    expect(await simulateCommand(['--nodes', '500', '--blocks', '20', '--design', 'full', '--txs', '10'], { out: (l) => lines.push(l), progress: () => undefined })).toBe(0);
    expect(lines[0]).toMatch(/^message sizes \(bytes, real encoders, 10 tx per block\): candidate \d+, header \d+/);
    expect(lines.some((l) => /^\|\s+500 \|\s+full \|/.test(l))).toBe(true);
    const json: string[] = [];
    await simulateCommand(['--nodes', '500', '--blocks', '20', '--design', 'header-first', '--json'], { out: (l) => json.push(l), progress: () => undefined });
    expect(json).toHaveLength(21);
    expect(JSON.parse(json[0]!)).toMatchObject({ nodes: 500, design: 'header-first', height: 1 });
    expect(JSON.parse(json[20]!).summary).toMatchObject({ nodes: 500, blocks: 20 });
    await expect(simulateCommand(['--nodes', '0'])).rejects.toThrow(/--nodes must be in 1\.\.2000000, got 0/);
    await expect(simulateCommand(['--nodes', '10', '--tpm', '600,200'])).rejects.toThrow(/--tpm must be MEDIAN,P95/);
    await expect(simulateCommand(['--nodes', '10', '--k', '2', '--zeros', '3'])).rejects.toThrow(/exclude each other/);
  });
});
