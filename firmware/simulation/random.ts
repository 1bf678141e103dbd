// Seeded randomness for the simulator: the same seed gives the same run, bit for bit. sfc32 (a
// small, fast generator that passes PractRand to many terabytes) seeded from a string through
// SHA-256, and the two distributions the simulator states its inputs in.
import { createHash } from 'node:crypto';

export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spare: number | null = null;

  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest();
    this.#a = h.readUInt32LE(0);
    this.#b = h.readUInt32LE(4);
    this.#c = h.readUInt32LE(8);
    this.#d = h.readUInt32LE(12) | 1;
    for (let i = 0; i < 16; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.u32() / 4294967296;
  }

  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

/** A positive duration given by its median and 95th percentile (log-normal), in ms. */
export interface DurationDistribution {
  readonly medianMs: number;
  readonly p95Ms: number;
}

/** z of the 95th percentile of the standard normal. */
const Z95 = 1.6448536269514722;

/** A sampler for a log-normal duration with the stated median and p95 (p95 >= median > 0). */
export function logNormal(d: DurationDistribution, rng: Random): () => number {
  if (!(d.medianMs > 0) || !(d.p95Ms >= d.medianMs)) throw new RangeError(`a duration needs 0 < median <= p95, got median ${d.medianMs} ms, p95 ${d.p95Ms} ms`);
  const mu = Math.log(d.medianMs);
  const sigma = Math.log(d.p95Ms / d.medianMs) / Z95;
  return () => Math.exp(mu + sigma * rng.normal());
}
