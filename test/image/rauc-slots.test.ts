// The image's RAUC system.conf and fresh grubenv (image-build/ab-slots.ts) under the real RAUC
// service and its grub backend, on this host (rauc-harness.ts): a private D-Bus session bus, the slots as files
// instead of the disk's partitions, the grubenv as a file instead of the one on the FAT. Shows
// that RAUC reads the config, sees slot A booted and good and slot B bad, and that what it
// writes when it activates, condemns or approves a slot is what GRUB's script reads.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grubSlotConfig } from '../../image-build/ab-slots.ts';
import { startRaucHarness, type RaucHarness } from './rauc-harness.ts';

const run = promisify(execFile);
let dir = '';
let h: RaucHarness | undefined;
const grubVars = (): Promise<Record<string, string>> => h!.grubVars();
const rauc = (...args: string[]): Promise<string> => h!.rauc(...args);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-rauc-slots-'));
  h = await startRaucHarness(dir, 'A');
});
afterAll(async () => {
  await h?.close();
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

    await run('grub-editenv', [h!.grubenv, 'set', 'B_TRY=3', 'A_TRY=2']); // as GRUB leaves it after B used its tries
    await rauc('status', 'mark-bad', 'other');
    expect(await grubVars()).toMatchObject({ B_OK: '0', B_TRY: '0' });
    await rauc('status', 'mark-good', 'booted');
    expect(await grubVars()).toMatchObject({ A_OK: '1', A_TRY: '0' }); // A's count starts again once it is good
  });
});
