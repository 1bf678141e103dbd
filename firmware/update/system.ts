// The update module's side effects on a real device: rauc through execFile, the running version
// from the slot's version file, status.json from the state directory, systemctl reboot.
import { systemClock } from '../core/clock.ts';
import { bootId } from '../core/process.ts';
import { readStatusFile } from '../status/index.ts';
import type { HealthDeps } from './health.ts';
import { execRunner, Rauc, type CommandRunner } from './rauc.ts';
import { UpdateFiles } from './state-files.ts';
import { readVersionFile, VERSION_FILE } from './version.ts';
import { readFile } from 'node:fs/promises';

export const RAUC_SYSTEM_CONF = '/etc/rauc/system.conf';

/** RAUC's compatible string from its system config (btn-node-<board>); null without one (not an A/B image). */
export async function systemCompatible(conf: string = RAUC_SYSTEM_CONF): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(conf, 'utf8');
  } catch {
    return null;
  }
  const m = /^compatible=([A-Za-z0-9._+-]{1,128})\s*$/m.exec(text.slice(0, 64 * 1024));
  return m === null ? null : m[1]!;
}

export interface SystemUpdateOptions {
  readonly stateDir: string;
  /** RAUC's system config (default: RAUC's own, /etc/rauc/system.conf). */
  readonly raucConf?: string;
  readonly versionFile?: string;
  readonly run?: CommandRunner;
}

export function systemUpdateDeps(o: SystemUpdateOptions): HealthDeps {
  const run = o.run ?? execRunner();
  return {
    rauc: new Rauc({ run, ...(o.raucConf === undefined ? {} : { conf: o.raucConf }) }),
    files: new UpdateFiles(o.stateDir),
    runningVersion: () => readVersionFile(o.versionFile ?? VERSION_FILE),
    readStatus: () => readStatusFile(o.stateDir),
    reboot: async () => {
      await run('systemctl', ['reboot']);
    },
    now: () => Date.now(),
    bootId,
    clock: systemClock,
  };
}
