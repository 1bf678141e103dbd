// A Clock whose time moves only when told: tests run spinning rounds, vote windows and backoff
// in virtual time, in milliseconds of real time. Two styles, as a test needs:
// - `advance(ms)` moves time in steps and lets the event loop run between them, so code that
//   sleeps wakes as it would (the agent suite);
// - `autoAdvance: true` makes every sleep() move time itself and return at once, for code that
//   is driven by its own waits (the spinning engine suite).
import type { Clock } from './clock.ts';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

export interface ManualClockOptions {
  /** sleep(ms) moves time forward by ms itself and resolves without waiting for advance(). */
  readonly autoAdvance?: boolean;
}

export class ManualClock implements Clock {
  #t: number;
  #seq = 0;
  #timers: Timer[] = [];
  readonly #auto: boolean;

  constructor(start = 0, options: ManualClockOptions = {}) {
    this.#t = start;
    this.#auto = options.autoAdvance ?? false;
  }

  readonly now = (): number => this.#t;

  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    if (signal?.aborted) return Promise.resolve();
    if (this.#auto) {
      this.tick(Math.max(0, ms));
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const cancel = this.setTimer(done, ms);
      function done(): void {
        cancel();
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  };

  readonly setTimer = (fn: () => void, ms: number): (() => void) => {
    const timer: Timer = { at: this.#t + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  };

  /** Timers and sleeps not yet due. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms` at once, running the timers that fall due, earliest first. */
  tick(ms: number): void {
    const to = this.#t + Math.max(0, ms);
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= to).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#t = Math.max(this.#t, due.at);
      due.fn();
    }
    this.#t = to;
  }

  /** Moves time forward by `ms` in steps of `step`, letting the event loop run after each. */
  async advance(ms: number, step = 10): Promise<void> {
    if (!(step > 0)) throw new RangeError(`ManualClock.advance step must be > 0, got ${step}`);
    for (let done = 0; done < ms; done += step) {
      this.tick(Math.min(step, ms - done));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
