// Board configs: every committed file validates; a broken one names each wrong field.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBoardConfig, validateBoardConfig } from '../../firmware/board/index.ts';
import { configCommand } from '../../firmware/cli/config-command.ts';

const BOARDS = new URL('../../board-configs/', import.meta.url).pathname;
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'btn-board-')); });
afterAll(async () => rm(dir, { recursive: true, force: true }));

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  return configCommand(argv, { out: (t) => (out += t), err: (t) => (err += t) }).then((code) => ({ code, out, err }));
}

describe('board-configs/', () => {
  it('has the boards the product ships for, each valid, named like its file', async () => {
    const files = (await readdir(BOARDS)).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(['generic-arm64-stb.json', 'openwrt-arm.json', 'qemu-arm64.json', 'qemu-x86_64.json', 'rpi3.json', 'rpi4.json', 'rpi5.json']);
    for (const f of files) {
      const c = await loadBoardConfig(join(BOARDS, f));
      expect(`${c.name}.json`).toBe(f);
    }
  });

  it('Pi boards load the SLB9670 overlay; OpenWrt uses procd on musl; the QEMU x86 board has tpm-tis', async () => {
    for (const name of ['rpi3', 'rpi4', 'rpi5']) expect((await loadBoardConfig(join(BOARDS, `${name}.json`))).boot.configTxt).toContain('dtoverlay=tpm-slb9670');
    const wrt = await loadBoardConfig(join(BOARDS, 'openwrt-arm.json'));
    expect([wrt.libc, wrt.serviceManager]).toEqual(['musl', 'procd']);
    expect((await loadBoardConfig(join(BOARDS, 'qemu-x86_64.json'))).boot.qemuTpmDevice).toBe('tpm-tis');
    for (const name of ['rpi3', 'rpi4']) expect((await loadBoardConfig(join(BOARDS, `${name}.json`))).boot.mergeOverlays).toEqual(['tpm-slb9670']);
    // Debian 12's arm64 kernel has no CONFIG_TCG_TIS: the emulated arm64 board says its TPM path needs a kernel driver
    const arm = await loadBoardConfig(join(BOARDS, 'qemu-arm64.json'));
    expect([arm.tpmPath, arm.boot.qemuTpmDevice]).toEqual(['needs-kernel-driver', 'tpm-tis-device']);
    expect(arm.boot.notes).toContain('CONFIG_TCG_TIS');
  });
});

describe('rules between fields', () => {
  it('are checked once every field is right, each named', async () => {
    const base = (await loadBoardConfig(join(BOARDS, 'rpi4.json'))) as unknown as Record<string, unknown>;
    expect(validateBoardConfig({ ...base, nodeMaxOldSpaceMb: 100, memoryMaxMb: 120, libc: 'musl', serviceManager: 'systemd', arch: 'x64', debianArch: 'arm64' })).toEqual({
      ok: false,
      errors: [
        { field: 'memoryMaxMb', message: 'must leave at least 48 MiB above nodeMaxOldSpaceMb (V8 code, native buffers, koffi)' },
        { field: 'serviceManager', message: 'musl boards (OpenWrt) use procd' },
        { field: 'debianArch', message: 'must be amd64 for arch x64' },
      ],
    });
    expect(validateBoardConfig({ ...base, description: 'two\nlines' })).toEqual({ ok: false, errors: [{ field: 'description', message: 'expected a description of 1..200 characters' }] });
  });
});

describe('statusLed', () => {
  it('takes an LED class brightness file (class or device path), nothing else', async () => {
    const base = (await loadBoardConfig(join(BOARDS, 'rpi4.json'))) as unknown as Record<string, unknown>;
    const check = (path: unknown): boolean => validateBoardConfig({ ...base, statusLed: { path, activeHigh: true } }).ok;
    for (const ok of ['/sys/class/leds/ACT/brightness', '/sys/devices/platform/leds/leds/led0/brightness', '/sys/class/leds/mmc0::/brightness', '/tmp/btn-run-x/leds/ACT/brightness']) expect(check(ok), ok).toBe(true);
    for (const bad of ['/etc/shadow', 'sys/class/leds/ACT/brightness', '/sys/class/leds/ACT/trigger', '/sys/class/leds/../../../etc/leds/x/brightness', '/sys/class/leds/ACT/../brightness', '/sys/class/leds//brightness', 7, '/sys/class/leds/a b/brightness']) expect(check(bad), String(bad)).toBe(false);
  });
});

describe('btn-node config check', () => {
  it('passes a committed board with a summary, exit 0', async () => {
    const r = await run(['check', join(BOARDS, 'rpi4.json')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('board rpi4 (arm64, glibc, systemd)');
  });

  it('names every wrong field at once, exit 1', async () => {
    const base = JSON.parse(await (await import('node:fs/promises')).readFile(join(BOARDS, 'rpi4.json'), 'utf8'));
    const broken = {
      ...base, arch: 'sparc', tcti: 'device:/etc/passwd', nodeMaxOldSpaceMb: 'lots', memoryMaxMb: 10, telemetryIntervalS: 0,
      statusLed: { path: '/etc/shadow', activeHigh: 'yes' }, serviceManager: 'upstart', extra: true, tpmPath: 'maybe',
      boot: { ...base.boot, qemuTpmDevice: 'tpm-crb', unknown: 1 },
    };
    const file = join(dir, 'broken.json');
    await writeFile(file, JSON.stringify(broken));
    const r = await run(['check', file]);
    expect(r.code).toBe(1);
    for (const field of ['arch', 'tpmPath', 'tcti', 'nodeMaxOldSpaceMb', 'memoryMaxMb', 'telemetryIntervalS', 'statusLed.path', 'statusLed.activeHigh', 'serviceManager', 'extra', 'boot.qemuTpmDevice', 'boot.unknown']) {
      expect(r.err, field).toMatch(new RegExp(`^  ${field.replace('.', '\\.')}: `, 'm'));
    }
  });

  it('refuses non-JSON, oversize, missing files and non-objects clearly', async () => {
    await writeFile(join(dir, 'garbage.json'), '{ nope');
    expect((await run(['check', join(dir, 'garbage.json')])).err).toContain('not valid JSON');
    await writeFile(join(dir, 'huge.json'), ' '.repeat(70 * 1024));
    expect((await run(['check', join(dir, 'huge.json')])).err).toContain('at most 65536');
    expect((await run(['check', join(dir, 'missing.json')])).err).toContain('cannot read');
    expect(validateBoardConfig([1, 2])).toEqual({ ok: false, errors: [{ field: '(root)', message: 'must be a JSON object' }] });
    await expect(run(['bogus'])).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });
});
