// Facts about processes that lock files and status reports rely on.
import { readFileSync } from 'node:fs';

/** Whether a process with this pid exists on this host (EPERM: it exists, it is someone else's). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let cachedBootId: string | undefined;

/** This boot's id (Linux); a pid recorded under another boot id names a process long gone. Empty elsewhere. */
export function bootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 64);
    } catch {
      cachedBootId = '';
    }
  }
  return cachedBootId;
}
