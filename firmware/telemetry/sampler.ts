// One telemetry sample from /proc and /sys, read asynchronously (no child processes, no
// synchronous file reads): load, CPU busy %, temperature, memory, disk, uptime, network bytes.
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import {
  busyPercent, parseLoadavg, parseMeminfo, parseNetDev, parseProcStat, parseUptime, readDisk, readMaxTemperature, readSmall,
  type CpuTimes, type DiskInfo, type MemInfo, type NetTotals,
} from './proc-readers.ts';

export interface Sample {
  readonly v: 1;
  readonly nodeId: string;
  /** ms since epoch. */
  readonly at: number;
  readonly cpu: { readonly load1: number | null; readonly load5: number | null; readonly load15: number | null; readonly busyPercent: number | null };
  /** Highest thermal zone, °C; null when the board has none (VMs, many set-top boxes). */
  readonly temperatureC: number | null;
  readonly memory: MemInfo | null;
  readonly disk: DiskInfo | null;
  readonly uptimeS: number | null;
  readonly network: NetTotals | null;
}

export interface SamplerOptions {
  readonly nodeId: string;
  /** Directory whose filesystem is reported as disk (the node's state directory). */
  readonly diskPath?: string;
  readonly procRoot?: string;
  readonly sysRoot?: string;
  readonly clock?: () => number;
  /** Gap between the two /proc/stat reads of the very first sample, ms. */
  readonly cpuWindowMs?: number;
}

export interface Sampler {
  sample(): Promise<Sample>;
}

export function createSampler(options: SamplerOptions): Sampler {
  const proc = options.procRoot ?? '/proc';
  const sys = options.sysRoot ?? '/sys';
  const clock = options.clock ?? Date.now;
  const diskPath = options.diskPath ?? '/';
  const windowMs = options.cpuWindowMs ?? 250;
  let previous: CpuTimes | null = null;

  const readStat = async (): Promise<CpuTimes | null> => {
    const t = await readSmall(join(proc, 'stat'));
    return t === null ? null : parseProcStat(t);
  };

  return {
    async sample(): Promise<Sample> {
      // busy % needs two /proc/stat reads: the previous sample's, or a short window the first time
      if (previous === null) {
        previous = await readStat();
        await sleep(windowMs);
      }
      const [stat, loadText, memText, upText, netText, temperatureC, disk] = await Promise.all([
        readStat(), readSmall(join(proc, 'loadavg')), readSmall(join(proc, 'meminfo')), readSmall(join(proc, 'uptime')),
        readSmall(join(proc, 'net/dev')), readMaxTemperature(sys), readDisk(diskPath),
      ]);
      const busy = previous !== null && stat !== null ? busyPercent(previous, stat) : null;
      if (stat !== null) previous = stat;
      const load = loadText === null ? null : parseLoadavg(loadText);
      return {
        v: 1,
        nodeId: options.nodeId,
        at: clock(),
        cpu: { load1: load?.[0] ?? null, load5: load?.[1] ?? null, load15: load?.[2] ?? null, busyPercent: busy },
        temperatureC,
        memory: memText === null ? null : parseMeminfo(memText),
        disk,
        uptimeS: upText === null ? null : parseUptime(upText),
        network: netText === null ? null : parseNetDev(netText),
      };
    },
  };
}
