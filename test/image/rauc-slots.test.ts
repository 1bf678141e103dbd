// The image's RAUC system.conf and fresh grubenv (image-build/ab-slots.ts) under the real RAUC
// service and its grub backend, on this host: a private D-Bus session bus, the slots as files
// instead of the disk's partitions, the grubenv as a file instead of the one on the FAT. Shows
// that RAUC reads the config, sees slot A booted and good and slot B bad, and that what it
// writes when it activates, condemns or approves a slot is what GRUB's script reads.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grubSlotConfig, raucSystemConf, writeInitialGrubenv } from '../../image-build/ab-slots.ts';
import { partUuid } from '../../image-build/disk.ts';
import { makeSigningKeys } from '../../image-build/signing-keys.ts';
import { until } from '../until.ts';

const run = promisify(execFile);
let dir = '';
let grubenv = '';
let env: NodeJS.ProcessEnv = {};
const children: ChildProcess[] = [];

async function grubVars(): Promise<Record<string, string>> {
  const { stdout } = await run('grub-editenv', [grubenv, 'list']);
  return Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

async function rauc(...args: string[]): Promise<string> {
  return (await run('rauc', args, { env })).stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-rauc-slots-'));
  const keys = await makeSigningKeys(join(dir, 'keys'), 'test vendor');
  grubenv = join(dir, 'grubenv');
  await writeInitialGrubenv(grubenv);
  for (const f of ['a.img', 'b.img']) await run('truncate', ['-s', '8M', join(dir, f)]);
  await mkdir(join(dir, 'data'));
  const conf = raucSystemConf('qemu-x86_64')
    .replace(`/dev/disk/by-partuuid/${partUuid(2)}`, join(dir, 'a.img'))
    .replace(`/dev/disk/by-partuuid/${partUuid(3)}`, join(dir, 'b.img'))
    .replace('/boot/firmware/grubenv', grubenv)
    .replace('/data/rauc', join(dir, 'data'))
    .replace('/etc/rauc/keyring.pem', keys.caCert);
  await writeFile(join(dir, 'system.conf'), conf);

  const bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(bus);
  let address = '';
  bus.stdout!.on('data', (d: Buffer) => { address += d.toString(); });
  await until('the session bus address', () => address.includes('\n'), 10_000);
  // DBUS_STARTER_BUS_TYPE=session: the rauc service and CLI use the session bus instead of the system's.
  env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: address.trim(), DBUS_STARTER_BUS_TYPE: 'session' };
  // The booted slot: what rauc.slot=A on the kernel's command line tells it on a device.
  children.push(spawn('rauc', ['service', `--conf=${join(dir, 'system.conf')}`, '--override-boot-slot=A'], { env, stdio: 'ignore' }));
  await until('the rauc service', () => rauc('status').then(() => true, () => false), 15_000, 200);
});
afterAll(async () => {
  for (const c of children.reverse()) c.kill('SIGTERM');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('RAUC slots of the image', () => {
  it('reads the image config: compatible, slot A booted and good, slot B bad (nothing written to it yet)', async () => {
    const status = JSON.parse(await rauc('status', '--output-format=json')) as { compatible: string; booted: string; slots: Record<string, { bootname: string; boot_status: string }>[] };
    expect(status.compatible).toBe('btn-node-qemu-x86_64');
    expect(status.booted).toBe('A');
    const slots = Object.assign({}, ...status.slots) as Record<string, { bootname: string; boot_status: string }>;
    expect(slots['rootfs.0']).toMatchObject({ bootname: 'A', boot_status: 'good' });
    expect(slots['rootfs.1']).toMatchObject({ bootname: 'B', boot_status: 'bad' });
  });

  it('what RAUC writes is what GRUB reads: activate B (end of an install), mark it bad, mark A good', async () => {
    const script = grubSlotConfig({ bootLabel: 'BTNBOOT', cmdline: 'rw' });
    for (const v of ['ORDER', 'A_OK', 'A_TRY', 'B_OK', 'B_TRY']) expect(script).toContain(`$${v}`);

    await rauc('status', 'mark-active', 'other');
    expect(await grubVars()).toMatchObject({ ORDER: 'B A', B_OK: '1', B_TRY: '0' }); // GRUB tries B next, 3 times

    await run('grub-editenv', [grubenv, 'set', 'B_TRY=3', 'A_TRY=2']); // as GRUB leaves it after B used its tries
    await rauc('status', 'mark-bad', 'other');
    expect(await grubVars()).toMatchObject({ B_OK: '0', B_TRY: '0' });
    await rauc('status', 'mark-good', 'booted');
    expect(await grubVars()).toMatchObject({ A_OK: '1', A_TRY: '0' }); // A's count starts again once it is good
  });
});
