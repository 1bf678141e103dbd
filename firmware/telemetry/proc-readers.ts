// Parsers for /proc and /sys files. Everything here is read with node:fs/promises: nothing may
// block the event loop while a seal is due (systeminformation's cpuTemperature() runs synchronous
// shell commands and fsSize() spawns df, so neither is used).
import { readdir, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';

/** Enough for any /proc file read here (/proc/net/dev of a router with many interfaces included). */
const MAX_PROC_BYTES = 256 * 1024;

export async function readSmall(path: string): Promise<string | null> {
  try {
    const bytes = await readFile(path);
    return bytes.subarray(0, MAX_PROC_BYTES).toString('utf8');
  } catch {
    return null;
  }
}

export interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** First line of /proc/stat: user nice system idle iowait irq softirq steal (guest is inside user). */
export function parseProcStat(text: string): CpuTimes | null {
  const line = text.split('\n', 1)[0] ?? '';
  const parts = line.trim().split(/\s+/);
  if (parts[0] !== 'cpu') return null;
  const n = parts.slice(1, 9).map(Number);
  if (n.length < 4 || n.some((x) => !Number.isFinite(x))) return null;
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export function busyPercent(a: CpuTimes, b: CpuTimes): number | null {
  const dt = b.total - a.total;
  if (dt <= 0) return null;
  return round1((100 * (b.busy - a.busy)) / dt);
}

export function parseLoadavg(text: string): [number, number, number] | null {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if (a === undefined || b === undefined || c === undefined || ![a, b, c].every(Number.isFinite)) return null;
  return [a, b, c];
}

export interface MemInfo {
  readonly totalBytes: number;
  readonly availableBytes: number;
  readonly usedPercent: number;
}

export function parseMeminfo(text: string): MemInfo | null {
  const kb = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb('MemTotal');
  // MemAvailable exists since Linux 3.14; older kernels: free + buffers + cached
  const available = kb('MemAvailable') ?? ((kb('MemFree') ?? 0) + (kb('Buffers') ?? 0) + (kb('Cached') ?? 0));
  if (total === undefined || total === 0) return null;
  return { totalBytes: total, availableBytes: available, usedPercent: round1((100 * (total - available)) / total) };
}

export function parseUptime(text: string): number | null {
  const s = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(s) ? Math.floor(s) : null;
}

export interface NetTotals {
  readonly rxBytes: number;
  readonly txBytes: number;
}

/** Sums every interface but loopback. */
export function parseNetDev(text: string): NetTotals | null {
  let rx = 0;
  let tx = 0;
  let seen = false;
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 9 || !Number.isFinite(f[0]) || !Number.isFinite(f[8])) continue;
    rx += f[0]!;
    tx += f[8]!;
    seen = true;
  }
  return seen ? { rxBytes: rx, txBytes: tx } : { rxBytes: 0, txBytes: 0 };
}

/** Highest /sys/class/thermal/thermal_zone*\/temp in °C; null when the board exposes none. */
export async function readMaxTemperature(sysRoot: string): Promise<number | null> {
  const base = join(sysRoot, 'class/thermal');
  let entries: string[];
  try {
    entries = (await readdir(base)).filter((e) => /^thermal_zone\d+$/.test(e)).slice(0, 64);
  } catch {
    return null;
  }
  const temps = await Promise.all(entries.map(async (e) => {
    const t = await readSmall(join(base, e, 'temp'));
    const milli = t === null ? NaN : Number(t.trim());
    // millidegrees Celsius (Documentation/ABI/testing/sysfs-class-thermal); drop absurd values
    return Number.isFinite(milli) && milli > -50_000 && milli < 200_000 ? milli / 1000 : null;
  }));
  const valid = temps.filter((t): t is number => t !== null);
  return valid.length > 0 ? round1(Math.max(...valid)) : null;
}

export interface DiskInfo {
  readonly path: string;
  readonly totalBytes: number;
  readonly freeBytes: number;
  readonly usedPercent: number;
}

/** fs.statfs (Node >= 18.15) on the state directory: no df child process. */
export async function readDisk(path: string): Promise<DiskInfo | null> {
  try {
    const s = await statfs(path);
    const total = s.blocks * s.bsize;
    const free = s.bavail * s.bsize;
    return { path, totalBytes: total, freeBytes: free, usedPercent: total > 0 ? round1((100 * (total - free)) / total) : 0 };
  } catch {
    return null;
  }
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
