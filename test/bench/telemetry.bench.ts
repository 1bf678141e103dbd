// Cost of one telemetry sample (issue 5): the project's /proc + /sys + statfs sampler against the
// baseline of systeminformation's cpuTemperature() + fsSize() + currentLoad() + mem(), measured in
// the same run: wall time per sample and the longest event-loop stall while sampling (what a
// seal due at that moment would wait).
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import si from 'systeminformation';
import { createSampler } from '../../firmware/telemetry/sample.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

async function measure(rounds: number, once: () => Promise<unknown>): Promise<{ ms: number; maxStallMs: number }> {
  await once(); // warm-up
  const times: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  h.disable();
  return { ms: median(times), maxStallMs: h.max / 1e6 };
}

export const run: BenchSuite = async (report, { quick }) => {
  const rounds = quick ? 10 : 40;
  const sample = createSampler({ diskPath: tmpdir() });
  const ours = await measure(rounds, sample);
  const theirs = await measure(rounds, () => Promise.all([si.cpuTemperature(), si.fsSize(), si.currentLoad(), si.mem()]));
  report(withBaseline('telemetry sample (/proc, /sys, statfs)', Number(ours.ms.toFixed(3)), 'ms', 'systeminformation cpuTemperature+fsSize+currentLoad+mem', Number(theirs.ms.toFixed(3))));
  report(withBaseline('telemetry longest event-loop stall while sampling', Number(ours.maxStallMs.toFixed(2)), 'ms', 'systeminformation', Number(theirs.maxStallMs.toFixed(2))));
};
