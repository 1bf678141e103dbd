// Polls `probe` until it returns something other than undefined; fails naming what it waited for.
// For tests that wait on real processes (a VM, an agent, a broker); never a measure of time.
export async function until<T>(what: string, ms: number, probe: () => T | undefined | Promise<T | undefined>, everyMs = 250): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
