// GRUB's slot selection on the real image under QEMU (`npm run test:image`): the grubenv says
// slot B was activated (ORDER="B A", B good, no try used), as RAUC leaves it after an install,
// but slot B holds no system (as if its writing was damaged). GRUB must not stop at a prompt: it
// uses up B's tries, restarts the machine and boots slot A, which comes up to a login prompt.
// The grubenv afterwards: B's tries used up, A's first try counted. No TPM or network is needed.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BOOT_TRIES, GRUBENV } from '../../image-build/ab-slots.ts';
import { X86_LAYOUT } from '../../image-build/build.ts';
import { partitions, writeBootFile } from '../../image-build/disk.ts';
import { devSigningKeys } from '../../image-build/signing-keys.ts';
import { until } from '../until.ts';
import { builtImageDir, readAbDisk } from './ab-disk.ts';

const run = promisify(execFile);
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const children: ChildProcess[] = [];
let work = '';
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (work) await rm(work, { recursive: true, force: true });
});

describe('qemu-x86_64 image, slot selection', () => {
  it('an activated slot B with no system in it: GRUB uses up its tries and boots slot A by itself', { timeout: 900_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), 'btn-fallback-'));
    const dir = await builtImageDir((await devSigningKeys(() => undefined)).caCert);
    const image = join(work, 'disk.img');
    await run('cp', ['--sparse=always', join(dir, 'btn-node-qemu-x86_64.img'), image]);
    // What RAUC's grub backend writes when an install activates slot B (rauc-slots.test.ts).
    const env = join(work, GRUBENV);
    await run('mcopy', ['-i', `${image}@@${partitions(X86_LAYOUT).boot.startBytes}`, `::/${GRUBENV}`, env], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    await run('grub-editenv', [env, 'set', 'ORDER=B A', 'B_OK=1', 'B_TRY=0']);
    await writeBootFile(image, X86_LAYOUT, env, GRUBENV);

    const vars = join(work, 'OVMF_VARS.fd');
    await copyFile(OVMF_VARS, vars);
    const console_ = join(work, 'console.log');
    const qemu = spawn('qemu-system-x86_64', [
      '-machine', 'q35', '-accel', 'tcg', '-m', '1024', '-smp', '2',
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`,
      '-drive', `file=${image},format=raw,if=virtio`, '-nic', 'none',
      '-display', 'none', '-monitor', 'none', '-serial', `file:${console_}`,
    ], { stdio: 'ignore' });
    children.push(qemu);
    const t0 = Date.now();
    const log = (): Promise<string> => readFile(console_, 'latin1').catch(() => '');
    try {
      await until('slot A to come up to a login prompt', async () => {
        const text = await log();
        const stuck = /grub> |Kernel panic|emergency mode/.exec(text);
        if (stuck) throw new Error(`the guest's boot stopped: "${stuck[0]}"`);
        return / login: /.test(text);
      }, 600_000, 500);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- guest console (tail) ---\n${(await log()).slice(-4000)}`);
    }
    console.log(`slot A up ${((Date.now() - t0) / 1000).toFixed(1)} s after QEMU started, through a restart from slot B`);
    expect(await log()).toContain('slot B: no kernel to boot; restarting');
    qemu.kill('SIGKILL');
    await until('QEMU to stop', () => qemu.exitCode !== null || qemu.signalCode !== null, 10_000);
    const disk = await readAbDisk(image, X86_LAYOUT, work);
    expect(disk.grubenv).toMatchObject({ ORDER: 'B A', B_OK: '1', B_TRY: String(BOOT_TRIES), A_OK: '1', A_TRY: '1' });
  });
});
