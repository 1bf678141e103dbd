// Seeded randomness for tests that kill processes at random moments: the seed is printed, and
// BTN_TEST_SEED=<n> replays a failing run's sequence of delays.
export function seededRandom(label: string): { readonly seed: number; next(): number } {
  const fromEnv = Number(process.env['BTN_TEST_SEED']);
  const seed = Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
  console.log(`${label}: BTN_TEST_SEED=${seed}`);
  // mulberry32: small, fast, and the same sequence for the same seed on every platform
  let a = seed >>> 0;
  return {
    seed,
    next(): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
