// `btn-node update install`: check a bundle, record what is true now, then let RAUC install it.
// Checked in this order, each refusal with its own error: the file (exists, regular, bounded),
// RAUC's verdict on its signature (against the system config's keyring), its board, its version
// against the running one and the downgrade floor (a signature proves a bundle genuine, not
// current; --force overrides only the versions). Then, check and record before the irreversible
// act: update-pending.json is written durably before `rauc install` runs.
import { stat } from 'node:fs/promises';
import type { NodeStatus } from '../status/index.ts';
import { UpdateError } from './errors.ts';
import type { Rauc, SystemInfo } from './rauc.ts';
import type { PendingUpdate, SlotsRecord, UpdateFiles } from './state-files.ts';
import { checkVersion, compareVersions } from './version.ts';

/** A bundle is a root file system (squashfs) and its hash tree; no slot of ours is larger. */
export const MAX_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024;

export interface UpdateDeps {
  readonly rauc: Rauc;
  readonly files: UpdateFiles;
  /** The running slot's version (/usr/lib/btn-node/version). */
  readonly runningVersion: () => Promise<string>;
  /** status.json as the agent last wrote it (null: none). */
  readonly readStatus: () => Promise<NodeStatus | null>;
  readonly reboot: () => Promise<void>;
  readonly now: () => number;
  readonly bootId: () => string;
}

export interface InstallOptions {
  readonly file: string;
  readonly force?: boolean;
  readonly reboot?: boolean;
  readonly maxBytes?: number;
}

export interface Installed {
  readonly target: string;
  readonly from: { readonly version: string; readonly slot: string };
  /** What --force let through ('downgrade', 'floor'), for the household to read. */
  readonly forced: readonly string[];
}

export async function installUpdate(deps: UpdateDeps, o: InstallOptions): Promise<Installed> {
  await checkFile(o.file, o.maxBytes ?? MAX_BUNDLE_BYTES);
  const info = await deps.rauc.info(o.file);
  const system = await deps.rauc.status();
  if (info.compatible !== system.compatible) {
    throw new UpdateError('ERR_UPDATE_WRONG_BOARD', `${o.file} is for "${info.compatible.slice(0, 80)}", this system is "${system.compatible}": not installed`, { bundle: info.compatible, system: system.compatible });
  }
  if (info.version === null) throw new UpdateError('ERR_UPDATE_VERSION', `${o.file} names no version in its manifest: not installed`, { file: o.file });
  const target = checkVersion(info.version, `the version of ${o.file}`);
  const running = checkVersion(await deps.runningVersion(), 'the running version');
  const floor = await deps.files.readFloor();
  const forced: string[] = [];
  if (compareVersions(target, running) < 0) {
    if (!o.force) throw new UpdateError('ERR_UPDATE_DOWNGRADE', `${o.file} holds version ${target}, older than the running ${running}: not installed (--force installs it anyway)`, { target, running });
    forced.push('downgrade');
  }
  if (floor !== null && compareVersions(target, floor) < 0) {
    if (!o.force) throw new UpdateError('ERR_UPDATE_BELOW_FLOOR', `${o.file} holds version ${target}, older than ${floor}, the oldest version this device accepts since it ran ${floor} healthy: not installed (--force installs it anyway)`, { target, floor });
    forced.push('floor');
  }
  if (system.booted === null) throw new UpdateError('ERR_UPDATE_RAUC', 'RAUC cannot tell which slot is booted (no rauc.slot= on the kernel command line?): not installed', {});

  const status = await deps.readStatus();
  const pending: PendingUpdate = {
    version: 1, target, from: { version: running, slot: system.booted }, bootId: deps.bootId(),
    nodeId: status?.nodeId ?? null, activation: status?.activation.state ?? null,
    journal: status?.journal === undefined ? null : { entries: status.journal.entries, highestHeight: status.journal.highestHeight, finalizedHeight: status.chain.finalizedHeight },
    at: deps.now(),
  };
  await deps.files.writePending(pending);
  try {
    await deps.rauc.install(o.file);
  } catch (err) {
    // Nothing was activated: a pending file left behind would read as "did not boot" later.
    await deps.files.removePending();
    throw err;
  }
  // Durably before the restart: the health check tells an install that ended from one a power cut stopped.
  await deps.files.writePending({ ...pending, installed: true });
  await deps.files.writeSlots(slotsRecord(await deps.rauc.status().catch(() => system), running, deps.now()));
  if (o.reboot) await deps.reboot();
  return { target, from: pending.from, forced };
}

async function checkFile(file: string, maxBytes: number): Promise<void> {
  let s;
  try {
    s = await stat(file);
  } catch (err) {
    throw new UpdateError('ERR_UPDATE_FILE', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { file }, { cause: err });
  }
  if (!s.isFile()) throw new UpdateError('ERR_UPDATE_FILE', `${file} is not a regular file`, { file });
  if (s.size > maxBytes) throw new UpdateError('ERR_UPDATE_FILE', `${file} is ${s.size} bytes, more than a bundle may be (${maxBytes})`, { file, bytes: s.size, maxBytes });
}

/** What the slots hold, for `btn-node status` and the page: the booted one and the other. */
export function slotsRecord(system: SystemInfo, runningVersion: string, now: number): SlotsRecord {
  const other = system.slots.find((s) => s.bootname !== null && s.bootname !== system.booted) ?? null;
  return {
    version: 1,
    booted: { slot: system.booted, version: runningVersion },
    other: other === null ? null : { slot: other.bootname, version: other.version, bootStatus: other.bootStatus },
    at: now,
  };
}
