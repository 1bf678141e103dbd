// btn-node update install with RAUC scripted: every refusal with its own error and nothing
// installed; update-pending.json written (durably, before `rauc install`) with what status.json
// said; a failed install leaves no pending update; --force passes versions only; --reboot reboots.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { installUpdate, PENDING_FILE, SLOTS_FILE, UpdateError, UpdateFiles } from '../../../firmware/update/index.ts';
import { fakeDevice, raucCalls, type FakeDevice } from './fake-device.ts';

const root = await mkdtemp(join(tmpdir(), 'btn-update-install-'));
let n = 0;
let dir = '';
let bundle = '';
let d: FakeDevice;
afterAll(() => rm(root, { recursive: true, force: true }));
beforeEach(async () => {
  dir = join(root, `t${++n}`);
  await mkdir(dir);
  bundle = join(dir, 'update.raucb');
  await writeFile(bundle, 'bundle bytes');
  d = fakeDevice(join(dir, 'state'));
});

async function refused(o: Partial<Parameters<typeof installUpdate>[1]> = {}): Promise<UpdateError> {
  const err = await installUpdate(d.deps, { file: bundle, ...o }).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpdateError);
  expect(raucCalls(d)).not.toContain('install');
  expect(await readFile(join(dir, 'state', PENDING_FILE)).catch(() => null)).toBeNull();
  return err as UpdateError;
}

describe('update install', () => {
  it('records the node before installing: pending file durable before rauc install, with status.json values', async () => {
    const done = await installUpdate(d.deps, { file: bundle });
    expect(done).toEqual({ target: '0.3.0', from: { version: '0.2.0', slot: 'A' }, forced: [] });
    expect(raucCalls(d)).toEqual(['info', 'status', 'install', 'status']);
    const info = d.calls[0]!.args;
    expect(info).toEqual(['rauc', 'info', '--output-format=json', bundle]); // no --keyring: the system config's keyring checks it
    const expected = {
      version: 1, target: '0.3.0', from: { version: '0.2.0', slot: 'A' }, bootId: 'boot-1', nodeId: 'a1b2c3d4e5f6', activation: 'active',
      journal: { entries: 7, highestHeight: 42, finalizedHeight: 40 }, at: d.clock.now(),
    };
    expect(d.calls.find((c) => c.args[1] === 'install')!.pending).toEqual(expected); // on disk when rauc install ran
    // After rauc install returned, the record says so (a power cut before then reads as an install that did not finish).
    expect(await new UpdateFiles(join(dir, 'state')).readPending()).toEqual({ ...expected, installed: true });
    expect(await new UpdateFiles(join(dir, 'state')).readSlots()).toMatchObject({ booted: { slot: 'A', version: '0.2.0' }, other: { slot: 'B', version: '0.3.0' } });
    expect(d.reboots).toEqual([]);
  });

  it('--reboot reboots after the install; no status.json yet records nulls', async () => {
    d.status = null;
    await installUpdate(d.deps, { file: bundle, reboot: true });
    expect(d.reboots).toHaveLength(1);
    expect(await new UpdateFiles(join(dir, 'state')).readPending()).toMatchObject({ nodeId: null, activation: null, journal: null });
  });

  it('refuses a missing file, a directory and an oversized file before asking RAUC', async () => {
    expect((await refused({ file: join(dir, 'nope.raucb') })).message).toMatch(/nope\.raucb: no such file/);
    expect((await refused({ file: dir })).message).toMatch(/is not a regular file/);
    const big = await refused({ maxBytes: 4 });
    expect(big.code).toBe('ERR_UPDATE_FILE');
    expect(big.message).toMatch(/12 bytes, more than a bundle may be \(4\)/);
    expect(d.calls).toEqual([]);
  });

  it('passes RAUC refusal through (signature), installing nothing', async () => {
    d.info = { stderr: "rauc-Message: 17:01:02.123: Reading bundle: /x.raucb\nFailed to verify bundle: signature verification failed: unable to get local issuer certificate\n" };
    const err = await refused();
    expect(err.code).toBe('ERR_UPDATE_BUNDLE_REFUSED');
    expect(err.message).toContain('signature verification failed: unable to get local issuer certificate');
  });

  it('refuses a bundle for another board, even with --force', async () => {
    d.info = { json: { compatible: 'btn-node-rpi4', version: '0.3.0' } };
    const err = await refused({ force: true });
    expect(err.code).toBe('ERR_UPDATE_WRONG_BOARD');
    expect(err.message).toMatch(/is for "btn-node-rpi4", this system is "btn-node-qemu-x86_64"/);
  });

  it('refuses a version older than the running one unless forced', async () => {
    d.info = { json: { compatible: 'btn-node-qemu-x86_64', version: '0.1.9' } };
    const err = await refused();
    expect(err.code).toBe('ERR_UPDATE_DOWNGRADE');
    expect(err.message).toMatch(/holds version 0\.1\.9, older than the running 0\.2\.0/);
    expect(await installUpdate(d.deps, { file: bundle, force: true })).toMatchObject({ target: '0.1.9', forced: ['downgrade'] });
  });

  it('refuses a version below the downgrade floor unless forced (the running version may be lower after a forced downgrade)', async () => {
    await new UpdateFiles(join(dir, 'state')).writeFloor('0.5.0');
    d.running = '0.1.0';
    const err = await refused();
    expect(err.code).toBe('ERR_UPDATE_BELOW_FLOOR');
    expect(err.message).toMatch(/holds version 0\.3\.0, older than 0\.5\.0, the oldest version this device accepts/);
    expect(await installUpdate(d.deps, { file: bundle, force: true })).toMatchObject({ forced: ['floor'] });
  });

  it('the same version installs again (a repair), a bundle without a version does not', async () => {
    d.running = '0.3.0';
    await installUpdate(d.deps, { file: bundle });
    d.info = { json: { compatible: 'btn-node-qemu-x86_64' } };
    expect((await installUpdate(d.deps, { file: bundle }).then(() => null, (e: UpdateError) => e))?.message).toMatch(/names no version/);
  });

  it('a failed install removes the pending file and passes RAUC message on', async () => {
    d.installFails = 'Installation error: Failed to mount bundle: Failed to load dm table: Invalid argument';
    const err = await installUpdate(d.deps, { file: bundle, reboot: true }).then(() => null, (e: UpdateError) => e);
    expect(err?.code).toBe('ERR_UPDATE_BUNDLE_REFUSED');
    expect(err?.message).toContain('Failed to load dm table');
    expect(d.calls.find((c) => c.args[1] === 'install')!.pending).not.toBeNull();
    expect(await readFile(join(dir, 'state', PENDING_FILE)).catch(() => null)).toBeNull();
    expect(await readFile(join(dir, 'state', SLOTS_FILE)).catch(() => null)).toBeNull();
    expect(d.reboots).toEqual([]);
  });

  it('refuses RAUC answers it cannot read', async () => {
    d.info = { json: { compatible: 5 } };
    expect((await installUpdate(d.deps, { file: bundle }).then(() => null, (e: UpdateError) => e))?.message).toMatch(/rauc info answered something unexpected: .*compatible/);
  });
});

describe('btn-node update (CLI)', () => {
  it('--help documents both commands; usage errors name the flag; install prints what it did', async () => {
    const { settingDeadlineMs, updateCommand } = await import('../../../firmware/cli/update-command.ts');
    let out = '';
    expect(await updateCommand(['--help'], { out: (t) => (out += t) })).toBe(0);
    expect(out).toMatch(/btn-node update install FILE\|URL \[--force\] \[--reboot\]/);
    expect(out).toMatch(/btn-node update check-health \[--deadline SECONDS\]/);
    await expect(updateCommand(['check-health', '--deadline', '0'], { deps: () => d.deps })).rejects.toThrow(/--deadline must be whole seconds in 1\.\.3600/);
    // The device's setting (UPDATE_HEALTH_SECONDS in btn-node.txt, through the unit's environment).
    expect(settingDeadlineMs(undefined)).toBe(300_000);
    expect(settingDeadlineMs('45')).toBe(45_000);
    for (const wrong of ['29', '3601', '4.5', ' 60', '1e3']) expect(() => settingDeadlineMs(wrong)).toThrow(/^BTN_UPDATE_HEALTH_SECONDS \(UPDATE_HEALTH_SECONDS in btn-node\.txt\) must be whole seconds in 30\.\.3600, got/);
    await expect(updateCommand(['install'], { deps: () => d.deps })).rejects.toThrow(/FILE is required/);
    await expect(updateCommand(['rollback'], { deps: () => d.deps })).rejects.toThrow(/unknown update command "rollback"/);
    out = '';
    expect(await updateCommand(['install', bundle, '--reboot'], { out: (t) => (out += t), deps: () => d.deps })).toBe(0);
    expect(out).toBe('installed 0.3.0 into the other slot; slot A runs 0.2.0 until the restart now\n');
    expect(d.reboots).toHaveLength(1);
  });
});
