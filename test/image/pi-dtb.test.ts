// The SLB9670 overlay (image-build/pi/tpm-slb9670.dts) compiled with the real dtc and merged with
// the real fdtoverlay into a small base tree that mirrors Debian's Pi DTBs where it matters: no
// __symbols__, spi0 at /soc/spi@7e204000 disabled and without pinctrl, the GPIO controller at
// /soc/gpio@7e200000 with phandles already in use. The result is read back with fdtget and
// decompiled with dtc, independently of the code under test. The real DTBs: pi-dtb.image.test.ts.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boardConfigPath, loadBoardConfig } from '../../firmware/board/index.ts';
import { checkSlb9670, compileOverlay, mergeOverlays, overlaySource, piCmdline, piConfigTxt, piDtbs, writePiBootText } from '../../image-build/pi/dtb.ts';
import { packageStanzas, releaseEntry, resolveKernel } from '../../image-build/pi/debian-kernel.ts';
import { PiBuildError } from '../../image-build/pi/errors.ts';

const run = promisify(execFile);
const fdtget = async (...args: string[]): Promise<string> => (await run('fdtget', args)).stdout.trim();

const BASE_DTS = `/dts-v1/;
/ {
	compatible = "raspberrypi,4-model-b", "brcm,bcm2711";
	#address-cells = <2>;
	#size-cells = <1>;
	soc {
		compatible = "simple-bus";
		#address-cells = <1>;
		#size-cells = <1>;
		ranges = <0x7e000000 0x0 0xfe000000 0x1800000>;
		gpio: gpio@7e200000 {
			compatible = "brcm,bcm2711-gpio";
			reg = <0x7e200000 0xb4>;
			gpio-controller;
			#gpio-cells = <2>;
			phandle = <0x06>;
			spi0_gpio7 { brcm,pins = <7 8 9 10 11>; brcm,function = <4>; };
			uart0_pins: uart0-pins { brcm,pins = <14 15>; brcm,function = <4>; phandle = <0x07>; };
		};
		spi@7e204000 {
			compatible = "brcm,bcm2835-spi";
			reg = <0x7e204000 0x200>;
			#address-cells = <1>;
			#size-cells = <0>;
			status = "disabled";
		};
	};
};
`;

let work = '';
let base = '';
let dtbo = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'btn-pi-dtb-'));
  await writeFile(join(work, 'base.dts'), BASE_DTS);
  base = join(work, 'base.dtb');
  await run('dtc', ['-q', '-I', 'dts', '-O', 'dtb', '-o', base, join(work, 'base.dts')]);
  dtbo = await compileOverlay(overlaySource('tpm-slb9670'), join(work, 'tpm-slb9670.dtbo'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<PiBuildError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(PiBuildError);
  return err as PiBuildError;
}

describe('tpm-slb9670 overlay merged into a Pi-like base DTB', () => {
  it('puts tpm@1 (infineon,slb9670, CE1) under /soc/spi@7e204000 and enables spi0 with its own pins', async () => {
    const out = await mergeOverlays(base, [dtbo], join(work, 'merged.dtb'));
    expect(await fdtget('-l', out, '/soc/spi@7e204000')).toBe('tpm@1');
    expect((await fdtget('-t', 's', out, '/soc/spi@7e204000/tpm@1', 'compatible')).split(' ')).toEqual(['infineon,slb9670', 'tcg,tpm_tis-spi']);
    expect(await fdtget('-t', 'u', out, '/soc/spi@7e204000/tpm@1', 'reg')).toBe('1');
    expect(Number(await fdtget('-t', 'u', out, '/soc/spi@7e204000/tpm@1', 'spi-max-frequency'))).toBeGreaterThan(0);
    expect(await fdtget('-t', 's', out, '/soc/spi@7e204000', 'status')).toBe('okay');
    expect(await fdtget('-t', 's', base, '/soc/spi@7e204000', 'status')).toBe('disabled');

    // pinctrl-0 resolves (through the overlay's local fixup) to the new pin group under the GPIO
    // controller, which takes a phandle no base node has.
    const pinPhandle = await fdtget('-t', 'u', out, '/soc/spi@7e204000', 'pinctrl-0');
    expect(await fdtget('-t', 'u', out, '/soc/gpio@7e200000/tpm-spi0-pins', 'phandle')).toBe(pinPhandle);
    expect(['6', '7']).not.toContain(pinPhandle);
    expect(await fdtget('-t', 'u', out, '/soc/gpio@7e200000/tpm-spi0-pins', 'brcm,pins')).toBe('7 9 10 11');
    expect(await fdtget('-t', 'u', out, '/soc/gpio@7e200000/tpm-spi0-pins', 'brcm,function')).toBe('4');

    // dtc reads the result back as a whole tree (a duplicated phandle would be an ERROR here).
    const dts = (await run('dtc', ['-q', '-I', 'dtb', '-O', 'dts', out])).stdout;
    expect(dts).toMatch(/tpm@1 \{[^}]*compatible = "infineon,slb9670\\0tcg,tpm_tis-spi";/);
    expect((await checkSlb9670(out)).spiStatus).toBe('okay');
  });

  it('the unmerged base fails the SLB9670 check', async () => {
    expect((await rejection(checkSlb9670(base))).code).toBe('ERR_PI_CHECK');
  });

  it('a broken overlay gives ERR_PI_OVERLAY with dtc\'s own message', async () => {
    const bad = join(work, 'broken.dts');
    await writeFile(bad, '/dts-v1/;\n/plugin/;\n/ { fragment@0 { target-path = "/soc"; __overlay__ { x = <1 ; }; }; };\n');
    const err = await rejection(compileOverlay(bad, join(work, 'broken.dtbo')));
    expect(err.code).toBe('ERR_PI_OVERLAY');
    expect(err.message).toMatch(/dtc refused the overlay .*broken\.dts: .*syntax error/s);
    expect((await rejection(compileOverlay(join(work, 'absent.dts'), join(work, 'x.dtbo')))).code).toBe('ERR_PI_OVERLAY');
    expect((await rejection(Promise.resolve().then(() => overlaySource('../etc/passwd')))).code).toBe('ERR_PI_OVERLAY');
  });

  it('a missing or non-DTB base gives ERR_PI_DTB; a base without spi0 gives ERR_PI_MERGE', async () => {
    const missing = await rejection(mergeOverlays(join(work, 'absent.dtb'), [dtbo], join(work, 'o1.dtb')));
    expect(missing.code).toBe('ERR_PI_DTB');
    expect(missing.message).toContain('absent.dtb cannot be read');
    await writeFile(join(work, 'text.dtb'), 'this is not a device tree blob at all, just text\n');
    expect((await rejection(mergeOverlays(join(work, 'text.dtb'), [dtbo], join(work, 'o2.dtb')))).message).toMatch(/is not a device tree blob/);

    await writeFile(join(work, 'nospi.dts'), '/dts-v1/;\n/ { soc { gpio@7e200000 { }; }; };\n');
    await run('dtc', ['-q', '-I', 'dts', '-O', 'dtb', '-o', join(work, 'nospi.dtb'), join(work, 'nospi.dts')]);
    const nospi = await rejection(mergeOverlays(join(work, 'nospi.dtb'), [dtbo], join(work, 'o3.dtb')));
    expect(nospi.code).toBe('ERR_PI_MERGE');
    expect(nospi.message).toMatch(/fdtoverlay could not apply tpm-slb9670\.dtbo.*FDT_ERR_NOTFOUND/s);
  });
});

describe('Pi boot partition text from the board configs', () => {
  it('rpi4: 64-bit, the merged DTB by device_tree=, spi on, no dtoverlay for what is merged', async () => {
    const board = await loadBoardConfig(boardConfigPath('rpi4'));
    const dtbs = piDtbs(board).map((d) => ({ ...d, merged: `btn-tpm-${d.dtb}` }));
    const dir = join(work, 'boot-rpi4');
    const { configTxt, cmdlineTxt } = await writePiBootText(dir, board, { kernel: 'vmlinuz', initrd: 'initrd.img', dtbs });
    const lines = configTxt.split('\n');
    expect(lines).toEqual(expect.arrayContaining(['arm_64bit=1', 'kernel=vmlinuz', 'initramfs initrd.img followkernel', 'dtparam=spi=on', '[pi4]', 'device_tree=btn-tpm-bcm2711-rpi-4-b.dtb', '[all]']));
    expect(lines).not.toContain('dtoverlay=tpm-slb9670');
    expect(cmdlineTxt).toBe('console=tty0 console=ttyS1,115200 root=LABEL=btnroot rootfstype=ext4 rootwait fsck.repair=yes\n');
    expect((await run('cat', [join(dir, 'config.txt')])).stdout).toBe(configTxt);
  });

  it('rpi3: 32-bit, Pi 3 B then 3 B+ sections (the later section wins on a B+)', async () => {
    const board = await loadBoardConfig(boardConfigPath('rpi3'));
    const txt = piConfigTxt(board, { kernel: 'vmlinuz', initrd: 'initrd.img', dtbs: piDtbs(board).map((d) => ({ ...d, merged: `btn-tpm-${d.dtb}` })) });
    expect(txt).not.toContain('arm_64bit');
    expect(txt).toContain('[pi3]\ndevice_tree=btn-tpm-bcm2837-rpi-3-b.dtb\n[pi3+]\ndevice_tree=btn-tpm-bcm2837-rpi-3-b-plus.dtb\n[all]\n');
  });

  it('rpi5 and bad names are refused with a reason', async () => {
    const rpi5 = await loadBoardConfig(boardConfigPath('rpi5'));
    expect(() => piDtbs(rpi5)).toThrow(/rpi5: no Debian device tree/);
    const rpi4 = await loadBoardConfig(boardConfigPath('rpi4'));
    expect(() => piConfigTxt(rpi4, { kernel: 'vmlinuz\nkernel=evil', initrd: 'initrd.img', dtbs: [] })).toThrow(PiBuildError);
    expect(() => piCmdline({ rootLabel: 'root label with spaces' })).toThrow(/not an ext4 label/);
    expect(() => piCmdline({ consoles: ['ttyS1 init=/bin/sh'] })).toThrow(/not a console name/);
  });
});

describe('Debian index parsing', () => {
  const index = [
    'Package: linux-image-arm64\nVersion: 6.1.176-1\nDepends: linux-image-6.1.0-50-arm64 (= 6.1.176-1)\nFilename: pool/main/l/linux-signed-arm64/linux-image-arm64_6.1.176-1_arm64.deb',
    'Package: linux-image-6.1.0-50-arm64\nVersion: 6.1.176-1\nFilename: pool/main/l/linux-signed-arm64/linux-image-6.1.0-50-arm64_6.1.176-1_arm64.deb\nSize: 59515068\nSHA256: 914f75b57a8e165d85fb910c3e2dcc7000a05a9fea3f42f90b26e8dd590d5f06',
    'Package: zsh\nVersion: 5.9-4',
  ].join('\n\n');

  it('follows the metapackage to the versioned kernel and its hash', () => {
    expect(resolveKernel(index, 'arm64')).toEqual({
      package: 'linux-image-6.1.0-50-arm64', version: '6.1.176-1', size: 59515068,
      filename: 'pool/main/l/linux-signed-arm64/linux-image-6.1.0-50-arm64_6.1.176-1_arm64.deb',
      sha256: '914f75b57a8e165d85fb910c3e2dcc7000a05a9fea3f42f90b26e8dd590d5f06',
    });
    expect(packageStanzas(index, (n) => n === 'zsh')).toHaveLength(1);
    expect(() => resolveKernel(index, 'armhf')).toThrow(/linux-image-armmp: no 'Depends/);
  });

  it('refuses a pool path that climbs out of the mirror, and a Release without the index', () => {
    expect(() => resolveKernel(index.replace('pool/main/l/linux-signed-arm64/linux-image-6', 'pool/main/../../etc/linux-image-6'), 'arm64')).toThrow(/no usable Filename/);
    const release = 'Codename: bookworm\nSHA256:\n aee1ed47a695b38ecc6283e3952e8c3e18682cf7b2558ec62460a95c6d0b193b 11940185 main/binary-arm64/Packages.gz\n';
    expect(releaseEntry(release, 'main/binary-arm64/Packages.gz')).toEqual({ sha256: 'aee1ed47a695b38ecc6283e3952e8c3e18682cf7b2558ec62460a95c6d0b193b', size: 11940185 });
    expect(() => releaseEntry(release, 'main/binary-armhf/Packages.gz')).toThrow(/names no SHA256/);
  });
});
