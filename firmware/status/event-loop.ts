// How late the agent's event loop runs: what a flood, a big candidate or a slow disk costs every
// other task (answering the broker, the TPM queue, the status page). Measured by Node's own
// histogram in 10 s windows; the status gives the worst of the last six windows (a minute), so a
// spike stays visible for a minute and then goes.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopDelay {
  /** The highest of the windows' 99th percentiles over the last minute (ms). */
  readonly p99Ms: number;
  /** The longest single delay over the last minute (ms). */
  readonly maxMs: number;
}

const WINDOW_MS = 10_000;
const WINDOWS = 6;

export class EventLoopWatch {
  readonly #h: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  readonly #done: EventLoopDelay[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#h.enable();
    this.#timer = setInterval(() => {
      this.#done.push(this.#current());
      if (this.#done.length > WINDOWS - 1) this.#done.shift();
      this.#h.reset();
    }, WINDOW_MS);
    this.#timer.unref();
  }

  /** The last minute's delays (the open window included); zeros before anything was measured. */
  snapshot(): EventLoopDelay {
    const all = [...this.#done, this.#current()];
    return { p99Ms: Math.max(...all.map((w) => w.p99Ms)), maxMs: Math.max(...all.map((w) => w.maxMs)) };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#h.disable();
  }

  #current(): EventLoopDelay {
    if (this.#h.count === 0) return { p99Ms: 0, maxMs: 0 };
    // The histogram counts nanoseconds; resolution 10 ms means the floor is about 10 ms of sampling.
    return { p99Ms: round(this.#h.percentile(99) / 1e6), maxMs: round(this.#h.max / 1e6) };
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
