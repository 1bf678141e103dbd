// Cost of one telemetry sample (issue 5): the project's /proc + /sys + statfs sampler against the
// baseline systeminformation cpuTemperature() + fsSize() + currentLoad(), measured in the same
// run: median wall time per sample and the longest event-loop stall while sampling (what a seal
// due at that moment would wait). The sampler reuses the previous /proc/stat read for CPU busy %,
// as the telemetry loop does; currentLoad() does the same with its own previous call.
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import si from 'systeminformation';
import { createSampler, readStaticFacts } from '../../firmware/telemetry/index.ts';
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
};
