// The update module's side effects on a real device: rauc through execFile, the running version
// from the slot's version file, status.json from the state directory, systemctl reboot.
import { systemClock } from '../core/clock.ts';
import { bootId } from '../core/process.ts';
import { readStatusFile } from '../status/index.ts';
import type { HealthDeps } from './health.ts';
import { execRunner, Rauc, type CommandRunner } from './rauc.ts';
import { UpdateFiles } from './state-files.ts';
import { readVersionFile, VERSION_FILE } from './version.ts';

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
