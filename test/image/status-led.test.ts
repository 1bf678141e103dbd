// What the image grants the agent for its board's status LED (image-build/status-led.ts): a udev
// rule, a unit drop-in that systemd accepts, the trigger modules; nothing for a board without LED.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { boardConfigPath, loadBoardConfig } from '../../firmware/board/index.ts';
import { installStatusLed, statusLedFiles } from '../../image-build/status-led.ts';

const run = promisify(execFile);
const IMAGE = new URL('../../image-build/', import.meta.url).pathname;
let dir = '';
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('status LED in the image', () => {
  it('a Pi 4 gets the udev rule for ACT, a drop-in systemd accepts, and the trigger modules', async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-led-img-'));
    const rootfs = join(dir, 'rootfs');
    const written = await installStatusLed(rootfs, await loadBoardConfig(boardConfigPath('rpi4')));
    expect([...written].sort()).toEqual(['etc/modules-load.d/btn-node-led.conf', 'etc/systemd/system/btn-node.service.d/status-led.conf', 'etc/udev/rules.d/70-btn-node-led.rules']);
    const rule = await readFile(join(rootfs, 'etc/udev/rules.d/70-btn-node-led.rules'), 'utf8');
    expect(rule).toMatch(/ACTION=="add\|change", SUBSYSTEM=="leds", KERNEL=="ACT"/);
    expect(rule).toContain('chgrp btn-node trigger brightness delay_on delay_off invert');
    expect(await readFile(join(rootfs, 'etc/modules-load.d/btn-node-led.conf'), 'utf8')).toMatch(/^ledtrig-timer$/m);

    // The unit with its drop-in beside it, as systemd-analyze verify loads them.
    const units = join(dir, 'units');
    await mkdir(join(units, 'btn-node.service.d'), { recursive: true });
    await copyFile(join(IMAGE, 'systemd/btn-node.service'), join(units, 'btn-node.service'));
    await copyFile(join(rootfs, 'etc/systemd/system/btn-node.service.d/status-led.conf'), join(units, 'btn-node.service.d/status-led.conf'));
    const { stderr } = (await run('systemd-analyze', ['verify', join(units, 'btn-node.service')]).catch((e: { stderr: string }) => e)) as { stderr: string };
    const problems = stderr.split('\n').filter((l) => l.trim() && !/is not executable|No such file|not found/.test(l));
    expect(problems).toEqual([]);
    expect(await readFile(join(units, 'btn-node.service.d/status-led.conf'), 'utf8')).toContain('ReadWritePaths=-/sys/class/leds/ACT/');
  });

  it('a board without a status LED gets nothing; an LED outside /sys is refused', async () => {
    expect(statusLedFiles(await loadBoardConfig(boardConfigPath('qemu-x86_64')))).toEqual({});
    expect(() => statusLedFiles({ name: 'x', statusLed: { path: '/tmp/leds/x/brightness', activeHigh: true } })).toThrow(/sysfs LED/);
  });
});
