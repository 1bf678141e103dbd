// Capped exponential backoff with "full jitter" (AWS Architecture Blog, "Exponential Backoff
// And Jitter", 2015): delay = random() * min(cap, base * 2^attempt). Full jitter spreads a fleet
// that lost its broker at the same instant over the whole window instead of mqtt.js's fixed 1 s.

export interface BackoffOptions {
  /** First window in ms (attempt 0). */
  readonly baseMs?: number;
  /** Largest window in ms. */
  readonly capMs?: number;
  /** Uniform [0, 1) source; injected in tests. */
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF = { baseMs: 500, capMs: 30_000 } as const;

/** Upper bound of the window for a given attempt (0-based): min(cap, base * 2^attempt). */
export function backoffCeiling(attempt: number, baseMs: number, capMs: number): number {
  // 2^attempt overflows to Infinity past ~1024; min() keeps it at cap.
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
}

export class Backoff {
  readonly #base: number;
  readonly #cap: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    const base = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
    const cap = options.capMs ?? DEFAULT_BACKOFF.capMs;
    if (!Number.isFinite(base) || base <= 0) throw new RangeError(`backoff.baseMs must be > 0, got ${base}`);
    if (!Number.isFinite(cap) || cap < base) throw new RangeError(`backoff.capMs must be >= baseMs, got ${cap}`);
    this.#base = base;
    this.#cap = cap;
    this.#random = options.random ?? Math.random;
  }

  /** Attempts made since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** Delay before the next attempt, in whole ms in [0, ceiling]; advances the attempt counter. */
  next(): number {
    const ceiling = backoffCeiling(this.#attempt, this.#base, this.#cap);
    this.#attempt++;
    // Clamp: a bad random source must not produce negative or over-cap delays.
    const r = Math.min(Math.max(this.#random(), 0), 1);
    return Math.floor(r * ceiling);
  }

  /** Call after a successful connection. */
  reset(): void {
    this.#attempt = 0;
  }
}
