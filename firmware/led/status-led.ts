// The status LED follows the node's status: the status is read every pollMs (a few field reads),
// and the LED is written only when the pattern changes (patterns.ts), one change at a time, the
// latest wins. The kernel does the blinking.
import type { Logger } from 'pino';
import { patternFor, type LedPattern, type LedStatusInput } from './patterns.ts';
import { openSysfsLed, type SysfsLed } from './sysfs-led.ts';

export interface StatusLedOptions {
  /** statusLed of the board config. */
  readonly led: { readonly path: string; readonly activeHigh: boolean };
  readonly status: () => LedStatusInput;
  readonly logger: Logger;
  /** How often the status is looked at, ms (default 1000; 50..60000). */
  readonly pollMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface StatusLed {
  /** Last pattern written, null before the first. */
  readonly pattern: LedPattern | null;
  /** Looks at the status now instead of at the next poll. */
  refresh(): void;
  /** Resolves when every pattern asked for so far is written. */
  settled(): Promise<void>;
  /** Stops following the status: the LED goes off, or blinks fast when the node stops on a fault. */
  stop(options?: { readonly fault?: boolean }): Promise<void>;
}

/** Starts driving the LED; null (after one warning) when the LED is missing or not writable. */
export async function startStatusLed(o: StatusLedOptions): Promise<StatusLed | null> {
  const pollMs = o.pollMs ?? 1000;
  if (!Number.isInteger(pollMs) || pollMs < 50 || pollMs > 60_000) throw new RangeError(`pollMs must be an integer in 50..60000, got ${String(pollMs)}`);
  const log = o.logger.child({ component: 'status-led' });
  const led: SysfsLed | null = await openSysfsLed({ brightnessPath: o.led.path, activeHigh: o.led.activeHigh, logger: log, ...(o.sleep ? { sleep: o.sleep } : {}) });
  if (led === null) return null;

  let applied: LedPattern | null = null;
  let wanted: LedPattern | null = null;
  let chain: Promise<void> = Promise.resolve();
  let busy = false;
  let stopped = false;

  const drain = async (): Promise<void> => {
    while (wanted !== null && wanted !== applied && led.usable) {
      const next: LedPattern = wanted;
      if (!(await led.apply(next))) return;
      log.debug({ pattern: next }, 'status LED');
      applied = next;
    }
  };
  const kick = (): void => {
    if (busy) return; // the running drain picks up the newest wish
    busy = true;
    chain = drain().finally(() => { busy = false; });
  };
  const look = (): void => {
    if (stopped) return;
    try {
      wanted = patternFor(o.status());
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'status not readable for the LED');
      return;
    }
    if (wanted !== applied) kick();
  };

  look();
  const timer = setInterval(look, pollMs);
  timer.unref();
  return {
    get pattern() {
      return applied;
    },
    refresh: look,
    async settled() {
      for (let c = chain; ; c = chain) {
        await c;
        if (c === chain && !busy) return;
      }
    },
    async stop(options) {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      wanted = options?.fault ? 'fast-blink' : 'off';
      await chain;
      kick();
      await chain;
    },
  };
}
