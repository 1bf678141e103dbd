// CPU time and memory of a process by its pid, from Linux's /proc (the load test reads the
// broker's this way while the agents run in this process).
import { readFile } from 'node:fs/promises';

export interface ProcessUsage {
  /** User + system CPU time so far, ms. */
  readonly cpuMs: number;
  /** Resident set now, and its peak (VmHWM), bytes. */
  readonly rssBytes: number;
  readonly peakRssBytes: number;
}

/** Clock ticks per second of /proc/<pid>/stat's times: 100 on every Linux build Node runs on. */
const CLK_TCK = 100;

export async function processUsage(pid: number): Promise<ProcessUsage> {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`not a pid: ${pid}`);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { cpuMs: (ticks * 1000) / CLK_TCK, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}
