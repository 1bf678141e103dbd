// What the household sees of updates (`btn-node status`, the status page): the running version
// and slot, the other slot's version as RAUC last told the health check or the install, and the
// last update's outcome. For display only: a file that cannot be read shows as unknown.
import type { Software } from '../status/index.ts';
import { UpdateFiles } from './state-files.ts';
import { readVersionFile, VERSION_FILE } from './version.ts';

export async function readSoftware(stateDir: string, versionFile = VERSION_FILE): Promise<Software> {
  const files = new UpdateFiles(stateDir);
  const [version, slots, outcome] = await Promise.all([
    readVersionFile(versionFile).catch(() => null),
    files.readSlots().catch(() => null),
    files.readOutcome().catch(() => null),
  ]);
  return {
    version,
    slot: slots?.booted.slot ?? null,
    other: slots?.other == null ? null : { slot: slots.other.slot, version: slots.other.version },
    lastUpdate: outcome === null ? null : { text: outcome.text, at: outcome.at },
  };
}

/** Whether there is anything to show: a development machine has no version file and no update. */
export function softwareKnown(s: Software): boolean {
  return s.version !== null || s.lastUpdate !== null || s.other !== null;
}

/** The change comes at most once per boot (install, health check): read now and then, never per request. */
const REFRESH_MS = 30_000;

/** A synchronous view for the status page, refreshed in the background at most every 30 s. */
export function softwareView(stateDir: string, now: () => number = Date.now): () => Software | undefined {
  let value: Software | undefined;
  let readAt = -Infinity;
  let reading = false;
  return () => {
    if (!reading && now() - readAt >= REFRESH_MS) {
      reading = true;
      readAt = now();
      void readSoftware(stateDir).then((s) => {
        value = softwareKnown(s) ? s : undefined;
      }).finally(() => {
        reading = false;
      });
    }
    return value;
  };
}
