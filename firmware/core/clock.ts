// Time, injected everywhere it is read or waited on, so tests run spinning rounds, vote windows
// and backoff in virtual time. One interface; a component takes the part it uses
// (`Pick<Clock, 'now' | 'sleep'>`), so a fake clock implements only what its test needs.
export interface Clock {
  /** Milliseconds since the epoch. A function property, as sleep: callers may pass it on unbound. */
  readonly now: () => number;
  /** Resolves after `ms` (never rejects); early when `signal` aborts. A function property, not a method: it never uses `this`, so callers may pass it on unbound. */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Runs fn after `ms`; returns the cancel function. */
  readonly setTimer: (fn: () => void, ms: number) => () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  }),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};
