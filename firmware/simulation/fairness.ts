// Is the lottery fair over a run? Each block has one winner; with N equal nodes each should win
// about blocks / N times. Pearson's chi-square test of the wins against that, over groups of nodes
// (by index) large enough that each group expects at least 10 wins, with its p-value: a small
// p-value (under 0.01) says the wins are not spread as the lottery promises.

export interface FairnessTest {
  /** Groups of consecutive node indexes; each node when blocks allow it. */
  readonly groups: number;
  readonly expectedPerGroup: number;
  readonly chiSquare: number;
  readonly degreesOfFreedom: number;
  readonly pValue: number;
}

/** Wins per node (index = node); blocks = the number of winners counted. */
export function fairnessTest(wins: Uint32Array, blocks: number): FairnessTest | null {
  const n = wins.length;
  const groups = Math.min(n, Math.floor(blocks / 10));
  if (groups < 2) return null;
  const counts = new Float64Array(groups);
  const size = new Float64Array(groups);
  for (let i = 0; i < n; i++) {
    const g = Math.floor((i * groups) / n);
    counts[g]! += wins[i]!;
    size[g]! += 1;
  }
  let chi = 0;
  for (let g = 0; g < groups; g++) {
    const expected = (blocks * size[g]!) / n;
    const d = counts[g]! - expected;
    chi += (d * d) / expected;
  }
  const dof = groups - 1;
  return { groups, expectedPerGroup: blocks / groups, chiSquare: chi, degreesOfFreedom: dof, pValue: chiSquareSurvival(chi, dof) };
}

/** P(X >= x) for X chi-square with k degrees of freedom: the regularized upper gamma Q(k/2, x/2). */
export function chiSquareSurvival(x: number, k: number): number {
  if (x <= 0) return 1;
  return upperGammaQ(k / 2, x / 2);
}

function upperGammaQ(a: number, x: number): number {
  if (x < a + 1) return 1 - lowerSeries(a, x);
  return upperContinuedFraction(a, x);
}

/** P(a, x) by its series (converges fast for x < a + 1). */
function lowerSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < 10_000; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Q(a, x) by Lentz's continued fraction (for x >= a + 1). */
function upperContinuedFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** ln Γ(z) for z > 0 (Lanczos, g = 7, 9 terms). */
export function logGamma(z: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  const zz = z - 1;
  let s = c[0]!;
  for (let i = 1; i < 9; i++) s += c[i]! / (zz + i);
  const t = zz + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (zz + 0.5) * Math.log(t) - t + Math.log(s);
}
