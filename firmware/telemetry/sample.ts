// One telemetry sample, read straight from /proc, /sys and statfs with async fs calls.
// systeminformation's cpuTemperature() runs synchronous shell commands and fsSize() spawns df:
// both block or fork while a seal may be due, so this module never starts a process.
import { readFile, readdir, statfs } from 'node:fs/promises';

export interface Sample {
  readonly at: number;
  readonly load: { readonly avg1: number; readonly avg5: number; readonly avg15: number };
  /** Busy share of all CPUs since the previous sample, 0..100 (null on the first). */
  readonly cpuBusyPercent: number | null;
  /** Hottest thermal zone in °C, null where the board exposes none. */
  readonly temperatureC: number | null;
  readonly memory: { readonly totalMb: number; readonly availableMb: number; readonly usedPercent: number };
  readonly disk: { readonly path: string; readonly totalMb: number; readonly freeMb: number; readonly usedPercent: number } | null;
  readonly uptimeS: number;
  readonly network: { readonly rxBytes: number; readonly txBytes: number };
  /** This process's resident memory. */
  readonly rssMb: number;
}

export interface SamplerOptions {
  /** statfs target: the agent's state directory. */
  readonly diskPath: string;
  /** Root for /proc and /sys (tests). */
  readonly root?: string;
  readonly now?: () => number;
}

const MAX_PROC_FILE = 256 * 1024;

export function createSampler(o: SamplerOptions): () => Promise<Sample> {
  const root = o.root ?? '';
  const now = o.now ?? Date.now;
  let lastCpu: { busy: number; total: number } | null = null;
  const read = async (path: string): Promise<string> => (await readFile(root + path, 'utf8')).slice(0, MAX_PROC_FILE);

  return async () => {
    const [loadavg, stat, meminfo, uptime, netdev, temperatureC, disk] = await Promise.all([
      read('/proc/loadavg'), read('/proc/stat'), read('/proc/meminfo'), read('/proc/uptime'), read('/proc/net/dev').catch(() => ''),
      hottestZone(root), diskOf(o.diskPath),
    ]);
    const [avg1 = 0, avg5 = 0, avg15 = 0] = loadavg.split(/\s+/).slice(0, 3).map(Number);
    const cpu = cpuTimes(stat);
    let cpuBusyPercent: number | null = null;
    if (lastCpu !== null && cpu.total > lastCpu.total) cpuBusyPercent = round1((100 * (cpu.busy - lastCpu.busy)) / (cpu.total - lastCpu.total));
    lastCpu = cpu;
    const mem = meminfoKb(meminfo);
    const totalMb = (mem['MemTotal'] ?? 0) / 1024;
    const availableMb = (mem['MemAvailable'] ?? mem['MemFree'] ?? 0) / 1024;
    return {
      at: now(),
      load: { avg1, avg5, avg15 },
      cpuBusyPercent,
      temperatureC,
      memory: { totalMb: round1(totalMb), availableMb: round1(availableMb), usedPercent: totalMb > 0 ? round1((100 * (totalMb - availableMb)) / totalMb) : 0 },
      disk,
      uptimeS: Math.floor(Number(uptime.split(/\s+/)[0]) || 0),
      network: netBytes(netdev),
      rssMb: round1(process.memoryUsage.rss() / 1024 / 1024),
    };
  };
}

function cpuTimes(stat: string): { busy: number; total: number } {
  const line = stat.split('\n').find((l) => l.startsWith('cpu ')) ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number).filter(Number.isFinite);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

function meminfoKb(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

function netBytes(text: string): { rxBytes: number; txBytes: number } {
  let rxBytes = 0;
  let txBytes = 0;
  for (const line of text.split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (rest === undefined || name === undefined || name.trim() === 'lo') continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rxBytes += f[0] ?? 0;
    txBytes += f[8] ?? 0;
  }
  return { rxBytes, txBytes };
}

async function hottestZone(root: string): Promise<number | null> {
  const base = `${root}/sys/class/thermal`;
  const zones = (await readdir(base).catch(() => [] as string[])).filter((z) => z.startsWith('thermal_zone')).slice(0, 32);
  const temps = await Promise.all(zones.map((z) => readFile(`${base}/${z}/temp`, 'utf8').then((t) => Number(t.trim()) / 1000, () => NaN)));
  const valid = temps.filter((t) => Number.isFinite(t) && t > -50 && t < 200);
  return valid.length === 0 ? null : round1(Math.max(...valid));
}

async function diskOf(path: string): Promise<Sample['disk']> {
  try {
    const s = await statfs(path);
    const totalMb = (s.blocks * s.bsize) / 1024 / 1024;
    const freeMb = (s.bavail * s.bsize) / 1024 / 1024;
    return { path, totalMb: round1(totalMb), freeMb: round1(freeMb), usedPercent: totalMb > 0 ? round1((100 * (totalMb - freeMb)) / totalMb) : 0 };
  } catch {
    return null;
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
