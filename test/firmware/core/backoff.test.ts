import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Backoff, backoffCeiling } from '../../../firmware/core/backoff.ts';

describe('Backoff (capped exponential, full jitter)', () => {
  it('with random()=~1 the delays double from base up to the cap and stay there', () => {
    const b = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0.999999 });
    const delays = Array.from({ length: 7 }, () => b.next());
    expect(delays).toEqual([99, 199, 399, 799, 999, 999, 999]);
    expect(b.attempt).toBe(7);
  });

  it('with random()=0 every delay is 0 (full jitter covers the whole window)', () => {
    const b = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0 });
    expect([b.next(), b.next(), b.next()]).toEqual([0, 0, 0]);
  });

  it('reset() starts again from the base window', () => {
    const b = new Backoff({ baseMs: 100, capMs: 10_000, random: () => 0.5 });
    b.next(); b.next(); b.next();
    expect(b.next()).toBe(400);
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(50);
  });

  it('property: every delay is an integer in [0, min(cap, base*2^n)], even after 5,000 attempts and with a bad random source', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 100_000 }),
      fc.array(fc.double({ min: -2, max: 3, noNaN: true }), { minLength: 1, maxLength: 60 }),
      (base, extra, randoms) => {
        const cap = base + extra;
        let i = 0;
        const b = new Backoff({ baseMs: base, capMs: cap, random: () => randoms[i++ % randoms.length]! });
        for (let n = 0; n < randoms.length; n++) {
          const d = b.next();
          expect(Number.isInteger(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(backoffCeiling(n, base, cap));
        }
      }));
    expect(backoffCeiling(5000, 500, 30_000)).toBe(30_000);
  });

  it('spreads a fleet: 1,000 clients at attempt 5 do not collapse onto a few instants', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const at5 = Array.from({ length: 1000 }, () => {
      const b = new Backoff({ baseMs: 500, capMs: 30_000, random });
      for (let i = 0; i < 5; i++) b.next();
      return b.next();
    });
    // window is [0, 16000): at least 500 distinct millisecond slots
    expect(new Set(at5).size).toBeGreaterThan(500);
  });

  it('rejects nonsense options with a typed error', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 100, capMs: 50 })).toThrow(/capMs/);
    expect(() => new Backoff({ baseMs: Number.NaN })).toThrow(RangeError);
  });
});
