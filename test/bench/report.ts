// One benchmark figure. With --json each figure is one JSON line; otherwise a readable table row.
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** Name of the figure this one is compared against, measured in the same run. */
  readonly baseline?: string;
  readonly baselineValue?: number;
  /** value / baselineValue. */
  readonly ratio?: number;
}

export type Report = (result: BenchResult) => void;

/** A benchmark suite: test/bench/<area>.bench.ts exports `run`. */
export type BenchSuite = (report: Report, options: { readonly quick: boolean }) => Promise<void>;

export function withBaseline(name: string, value: number, unit: string, baseline: string, baselineValue: number): BenchResult {
  return { name, value, unit, baseline, baselineValue, ratio: Number((value / baselineValue).toFixed(3)) };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
