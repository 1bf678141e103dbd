// btn-node update install and check-health against the real `rauc service` (test/image/rauc-harness.ts:
// the image's system.conf on a session bus, slots as files, the grubenv a file) and real signed
// bundles (image-build/update-bundle.ts, a test CA). RAUC itself judges signatures through the
// system config's keyring; the command refuses another key (RAUC's message), another board and
// an older version, and a failed install (this host has no dm-verity to mount a verity bundle)
// leaves no pending update. The health check then moves the real grubenv as GRUB would read it:
// a healthy new slot marked good, an unhealthy one marked bad (and a reboot asked for), and the
// old slot booted again with an update pending reported as "did not boot".
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { updateCommand } from '../../../firmware/cli/update-command.ts';
import { writeStatusFile } from '../../../firmware/status/index.ts';
import { execRunner, PENDING_FILE, type CommandRunner, systemUpdateDeps, UpdateError, UpdateFiles, type HealthDeps, type PendingUpdate } from '../../../firmware/update/index.ts';
import { makeSigningKeys } from '../../../image-build/signing-keys.ts';
import { makeBundle } from '../../../image-build/update-bundle.ts';
import { startRaucHarness, type RaucHarness } from '../../image/rauc-harness.ts';
import { healthyStatus } from './fake-device.ts';

const run = promisify(execFile);
let dir = '';
let h: RaucHarness;
let stateDir = '';
let versionFile = '';
const bundles: Record<string, string> = {};
const reboots: string[] = [];
let files: UpdateFiles;

/** update-pending.json as it was on disk when `rauc install` was called. */
const pendingAtInstall: unknown[] = [];

function deps(): HealthDeps {
  const real = execRunner(h.env);
  const run: CommandRunner = async (file, args, o) => {
    if (args[0] === 'install') pendingAtInstall.push(await readFile(join(stateDir, PENDING_FILE), 'utf8').then((t) => JSON.parse(t) as unknown, () => null));
    return real(file, args, o);
  };
  const d = systemUpdateDeps({ stateDir, raucConf: h.conf, versionFile, run });
  return { ...d, reboot: async () => void reboots.push('reboot') };
}

async function update(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await updateCommand(argv, { out: (t) => void (out += t), deps: () => deps() });
  return { code, out };
}

async function refusal(...argv: string[]): Promise<UpdateError> {
  const err = await update(...argv).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpdateError);
  expect(await readFile(join(stateDir, PENDING_FILE)).catch(() => null)).toBeNull();
  return err as UpdateError;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-rauc-update-'));
  h = await startRaucHarness(dir, 'A');
  stateDir = join(dir, 'state');
  await mkdir(stateDir);
  files = new UpdateFiles(stateDir);
  versionFile = join(dir, 'version');
  await writeFile(versionFile, '0.2.0\n');
  // A small root file system (rauc wants a payload above 4 KiB), bundled as the vendor and as someone else.
  await mkdir(join(dir, 'root/usr/lib/btn-node'), { recursive: true });
  await writeFile(join(dir, 'root/usr/lib/btn-node/btn-node.mjs'), randomBytes(65536));
  const rootfs = join(dir, 'rootfs.ext4');
  await run('truncate', ['-s', '16M', rootfs]);
  await run('mke2fs', ['-q', '-t', 'ext4', '-d', join(dir, 'root'), rootfs]);
  const other = await makeSigningKeys(join(dir, 'other'), 'someone else');
  const vendor = h.keys;
  const make = async (name: string, board: string, version: string, k = vendor): Promise<void> => {
    bundles[name] = (await makeBundle({ board, out: join(dir, name), rootfs, version, key: k.key, cert: k.cert })).bundle;
  };
  await make('good', 'qemu-x86_64', '0.3.0');
  await make('older', 'qemu-x86_64', '0.1.0');
  await make('rpi4', 'rpi4', '0.3.0');
  await make('stranger', 'qemu-x86_64', '0.3.0', other);
}, 120_000);
afterAll(async () => {
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('btn-node update install, real rauc', () => {
  it('refuses a bundle signed by another key with RAUC message (the system config keyring)', async () => {
    const err = await refusal('install', bundles['stranger']!);
    expect(err.code).toBe('ERR_UPDATE_BUNDLE_REFUSED');
    expect(err.message).toMatch(/^RAUC refused .*: .*signature verification failed.*unable to get local issuer certificate/);
  });

  it('refuses a bundle for another board, and an older version unless forced', async () => {
    expect((await refusal('install', bundles['rpi4']!)).message).toMatch(/is for "btn-node-rpi4", this system is "btn-node-qemu-x86_64"/);
    expect((await refusal('install', bundles['older']!)).code).toBe('ERR_UPDATE_DOWNGRADE');
  });

  // This host has no device mapper to mount a verity bundle: RAUC's own failure is passed on.
  it.skipIf(existsSync('/dev/mapper/control'))('a genuine bundle reaches rauc install with the pending file on disk; RAUC failing leaves none, with its reason', async () => {
    const err = await update('install', bundles['good']!).then(() => null, (e: unknown) => e as UpdateError);
    expect(pendingAtInstall).toEqual([expect.objectContaining({ target: '0.3.0', from: { version: '0.2.0', slot: 'A' }, nodeId: null })]);
    expect(err?.code).toBe('ERR_UPDATE_BUNDLE_REFUSED');
    expect(err?.message).toMatch(/^RAUC did not install .*0\.3\.0\.raucb: Installing `.*` failed; LastError: Failed mounting bundle: Failed to open \/dev\/mapper\/control/);
    expect(err?.message).not.toContain('rauc-Message');
    expect(await files.readPending()).toBeNull();
    expect(await h.grubVars()).toMatchObject({ ORDER: 'A B', A_OK: '1', B_OK: '0' }); // nothing activated
  });
});

describe('btn-node update check-health, real rauc', () => {
  const pending = (from: 'A' | 'B', target: string, fromVersion: string): PendingUpdate => ({
    version: 1, target, from: { version: fromVersion, slot: from }, bootId: 'an earlier boot', nodeId: 'a1b2c3d4e5f6', activation: 'active',
    journal: { entries: 7, highestHeight: 42, finalizedHeight: 40 }, at: 1,
  });
  /** The agent of this boot rewrites its status every 200 ms, as the real one does every few seconds, until the check ends. */
  let writer: NodeJS.Timeout | undefined;
  const agentWrites = (s = healthyStatus()): void => {
    let n = 0;
    writer = setInterval(() => void writeStatusFile(stateDir, { ...s, updatedAt: Date.now() + ++n }), 200);
  };
  afterEach(() => clearInterval(writer));

  it('a healthy new slot is marked good in the grubenv, the floor raised, "updated to 0.3.0"', async () => {
    await h.rauc('status', 'mark-active', 'other'); // where `rauc install` ends: B next
    await files.writePending(pending('A', '0.3.0', '0.2.0'));
    await h.restartService('B'); // the reboot into B
    await writeFile(versionFile, '0.3.0\n');
    await rm(join(stateDir, 'status.json'), { force: true });
    agentWrites();
    const r = await update('check-health', '--deadline', '30');
    expect(r).toEqual({ code: 0, out: 'healthy: slot marked good; updated to 0.3.0\n' });
    expect(await h.grubVars()).toMatchObject({ ORDER: 'B A', B_OK: '1', B_TRY: '0' });
    expect(await files.readFloor()).toBe('0.3.0');
    expect(await files.readPending()).toBeNull();
    expect(await files.readSlots()).toMatchObject({ booted: { slot: 'B', version: '0.3.0' }, other: { slot: 'A' } });
    expect(reboots).toEqual([]);
  });

  it('an unhealthy new slot is marked bad (GRUB skips it) and a reboot asked for, with the reason', async () => {
    await h.rauc('status', 'mark-active', 'other'); // A next, holding "0.4.0"
    await files.writePending(pending('B', '0.4.0', '0.3.0'));
    await h.restartService('A');
    await writeFile(versionFile, '0.4.0\n');
    agentWrites(healthyStatus({ broker: { connected: false, state: 'reconnecting', refusal: 'not authorized' } }));
    const r = await update('check-health', '--deadline', '3');
    expect(r.code).toBe(1);
    expect(r.out).toBe('rolled back from 0.4.0: the broker is not connected (reconnecting: not authorized) (after 3 s); slot marked bad, restarting into the other one\n');
    expect(await h.grubVars()).toMatchObject({ A_OK: '0', B_OK: '1' }); // GRUB boots B
    expect(reboots).toEqual(['reboot']);
    expect(await files.readOutcome()).toMatchObject({ kind: 'rolled-back', target: '0.4.0', from: '0.3.0' });
  });

  it('back in the old slot with an update pending: "did not boot", and the old slot is marked good', async () => {
    await files.writePending({ ...pending('B', '0.4.0', '0.3.0'), installed: true });
    await h.restartService('B');
    await writeFile(versionFile, '0.3.0\n');
    await run('grub-editenv', [h.grubenv, 'set', 'B_TRY=2']); // GRUB counted B's boots
    agentWrites();
    const r = await update('check-health', '--deadline', '30');
    expect(r).toEqual({ code: 0, out: 'healthy: slot marked good; rolled back from 0.4.0: did not boot\n' });
    expect(await h.grubVars()).toMatchObject({ B_OK: '1', B_TRY: '0' });
    expect(await files.readOutcome()).toMatchObject({ text: 'rolled back from 0.4.0: did not boot' });
    expect(await files.readPending()).toBeNull();
  });
});
