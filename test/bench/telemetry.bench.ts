// Cost of one telemetry sample: the project's /proc + /sys + statfs sampler against the
// baseline systeminformation cpuTemperature() + fsSize() + currentLoad(), measured in the same
// run: median wall time per sample and the longest event-loop stall while sampling (what a seal
// due at that moment would wait). The sampler reuses the previous /proc/stat read for CPU busy %,
// as the telemetry loop does; currentLoad() does the same with its own previous call.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import si from 'systeminformation';
import { startStatusLed } from '../../firmware/led/index.ts';
import { createSampler, readStaticFacts } from '../../firmware/telemetry/index.ts';
import { snapshot } from '../firmware/status/fixtures.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

async function measure(rounds: number, once: () => Promise<unknown>): Promise<{ ms: number; maxStallMs: number }> {
  await once(); // warm-up (first /proc/stat window, module caches)
  const times: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5)); // let the histogram see the loop between samples
  }
  h.disable();
  return { ms: median(times), maxStallMs: h.max / 1e6 };
}

export const run: BenchSuite = async (report, { quick }) => {
  const rounds = quick ? 10 : 40;
  const sampler = createSampler({ nodeId: 'bench', diskPath: tmpdir(), cpuWindowMs: 50 });
  const ours = await measure(rounds, () => sampler.sample());
  const theirs = await measure(rounds, () => Promise.all([si.cpuTemperature(), si.fsSize(), si.currentLoad()]));
  const base = 'systeminformation cpuTemperature+fsSize+currentLoad';
  report(withBaseline('telemetry sample (/proc, /sys, statfs)', Number(ours.ms.toFixed(3)), 'ms', base, Number(theirs.ms.toFixed(3))));
  // static facts read once at start: our device-tree/DMI read vs systeminformation's system()
  const once = async (f: () => Promise<unknown>): Promise<number> => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    await f();
    await new Promise((r) => setTimeout(r, 5));
    h.disable();
    return h.max / 1e6;
  };
  const ourFacts = await once(() => readStaticFacts());
  const sys = await once(() => si.system());
  report(withBaseline('telemetry static facts (device tree / DMI) max event-loop delay', Number(ourFacts.toFixed(2)), 'ms', 'si.system()', Number(sys.toFixed(2))));
  report(withBaseline('telemetry max event-loop delay while sampling', Number(ours.maxStallMs.toFixed(2)), 'ms', base, Number(theirs.maxStallMs.toFixed(2))));
  await statusLed(report, rounds);
};

/**
 * Status LED (firmware/led) on a sysfs-shaped temp directory: the event loop's busy time per
 * second while following the status at the real rate (a status read once a second, no write while
 * the pattern holds), against the baseline of blinking from JavaScript at 5 Hz (a brightness write
 * every 100 ms), both measured as event-loop utilization over the same window; and the wall time
 * of one pattern change.
 */
async function statusLed(report: Parameters<BenchSuite>[0], rounds: number): Promise<void> {
  const dir = join(await mkdtemp(join(tmpdir(), 'btn-led-bench-')), 'leds', 'ACT');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'trigger'), 'none [mmc0] timer heartbeat\n');
  for (const f of ['brightness', 'delay_on', 'delay_off', 'max_brightness']) await writeFile(join(dir, f), '0\n');
  let current = snapshot();
  // a fresh object each call, as the agent's status() builds one
  const status = (): ReturnType<typeof snapshot> => ({ ...current, seals: { ...current.seals }, lastErrors: [...current.lastErrors] });
  const windowMs = rounds * 100;
  const busyMsPerS = async (during: () => Promise<() => Promise<void>>): Promise<number> => {
    const end = await during();
    const e0 = performance.eventLoopUtilization();
    await new Promise((r) => setTimeout(r, windowMs));
    const e = performance.eventLoopUtilization(e0);
    await end();
    return (e.active / windowMs) * 1000;
  };
  const idle = await busyMsPerS(async () => async () => undefined);
  const following = await busyMsPerS(async () => {
    const led = (await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: true }, status, logger: pino({ level: 'silent' }) }))!;
    await led.settled();
    return () => led.stop();
  });
  const blinking = await busyMsPerS(async () => {
    let on = false;
    const t = setInterval(() => {
      on = !on;
      void writeFile(join(dir, 'brightness'), on ? '255' : '0');
    }, 100);
    return async () => clearInterval(t);
  });
  const led = (await startStatusLed({ led: { path: join(dir, 'brightness'), activeHigh: true }, status, logger: pino({ level: 'silent' }), pollMs: 60_000 }))!;
  await led.settled();
  const changes: number[] = [];
  for (let i = 0; i < rounds; i++) {
    current = snapshot({ activation: { state: i % 2 === 0 ? 'revoked' : 'active' } });
    const t0 = performance.now();
    led.refresh();
    await led.settled();
    changes.push(performance.now() - t0);
  }
  await led.stop();
  await rm(join(dir, '..', '..'), { recursive: true, force: true });
  report(withBaseline('status LED: event-loop busy, steady (kernel blinks)', Number(following.toFixed(3)), 'ms/s', 'JS 5 Hz blink', Number(blinking.toFixed(3))));
  report({ name: 'status LED: event-loop busy, idle process (floor)', value: Number(idle.toFixed(3)), unit: 'ms/s' });
  report({ name: 'status LED: one pattern change, wall (trigger [+ delays])', value: Number(median(changes).toFixed(3)), unit: 'ms' });
}
