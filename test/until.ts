// Test helper: polls until fn gives a truthy value (returned) or the time is up (throws naming
// what it waited for, and what it last saw). For tests that wait on real processes (a VM, an
// agent, a broker); never a measure of time. The one copy: tests import it from here.
export interface UntilOptions {
  readonly ms?: number;
  readonly everyMs?: number;
  /** Shown in the timeout message: the last value the probe saw, or anything that helps. */
  readonly lastSeen?: () => unknown;
  /** A reason to give up at once (a child process that exited), or null to go on. */
  readonly stopIf?: () => string | null;
}

export async function until<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, msOrOptions: number | UntilOptions = 30_000, everyMs = 50): Promise<T> {
  const o: UntilOptions = typeof msOrOptions === 'number' ? { ms: msOrOptions, everyMs } : msOrOptions;
  const ms = o.ms ?? 30_000;
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    const stop = o.stopIf?.() ?? null;
    if (stop !== null) throw new Error(`${stop} while waiting for ${what}`);
    if (Date.now() > end) {
      const last = o.lastSeen === undefined ? '' : `; last seen: ${JSON.stringify(o.lastSeen())?.slice(0, 2000)}`;
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last}`);
    }
    await new Promise((r) => setTimeout(r, o.everyMs ?? 50));
  }
}
