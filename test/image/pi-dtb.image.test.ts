// The SLB9670 overlay against the REAL device trees of Debian 12's kernels: linux-image-arm64
// (Pi 4: bcm2711-rpi-4-b.dtb) and linux-image-armmp (Pi 3, armhf as board-configs/rpi3.json:
// bcm2837-rpi-3-b*.dtb), fetched from deb.debian.org through the signed InRelease chain. Shows
// why the merge is needed (no __symbols__, spi0 disabled), that it works (fdtget, dtc read the
// merged DTB back), and that the same kernel package carries the drivers that bind the merged
// nodes. Needs network to deb.debian.org, gpgv, debian-archive-keyring, device-tree-compiler.
// BTN_PI_CACHE keeps the downloads between runs (about 100 MB).
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { boardConfigPath, loadBoardConfig } from '../../firmware/board/index.ts';
import { fetchDebianKernel, moduleAliases, verifyInRelease, type DebianKernel, type PiDebianArch } from '../../image-build/pi/debian-kernel.ts';
import { buildPiDtbs, findDebianDtb, writePiBootText } from '../../image-build/pi/dtb.ts';
import { PiBuildError } from '../../image-build/pi/errors.ts';

const run = promisify(execFile);
const fdtget = async (...args: string[]): Promise<string> => (await run('fdtget', args)).stdout.trim();
const fdtgetFails = (...args: string[]): Promise<boolean> => run('fdtget', args).then(() => false, () => true);

let work = '';
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function kernelFor(arch: PiDebianArch): Promise<DebianKernel> {
  work ||= await mkdtemp(join(tmpdir(), 'btn-pi-real-'));
  return fetchDebianKernel({ arch, cacheDir: process.env['BTN_PI_CACHE'] ?? join(work, 'cache'), log: (l) => console.log(l) });
}

async function abi(k: DebianKernel): Promise<string> {
  const [v] = await readdir(join(k.root, 'lib/modules'));
  if (v === undefined) throw new Error(`no lib/modules in ${k.root}`);
  return v;
}

describe.each([
  { board: 'rpi4', arch: 'arm64' as const, dtbs: ['bcm2711-rpi-4-b.dtb'] },
  { board: 'rpi3', arch: 'armhf' as const, dtbs: ['bcm2837-rpi-3-b.dtb', 'bcm2837-rpi-3-b-plus.dtb'] },
])('$board: Debian bookworm $arch kernel DTBs', ({ board: name, arch, dtbs }) => {
  it('merges the SLB9670 onto the real spi0; the kernel package has the drivers that bind it', { timeout: 180_000 }, async () => {
    const k = await kernelFor(arch);
    const board = await loadBoardConfig(boardConfigPath(name));
    const out = join(work, `boot-${name}`);
    const merged = await buildPiDtbs({ board, kernelRoot: k.root, outDir: out, workDir: join(work, `dtbo-${name}`) });
    expect(merged.map((m) => m.dtb)).toEqual(dtbs);

    for (const m of merged) {
      const stock = await findDebianDtb(k.root, m.dtb);
      // The premise: labels cannot resolve (no __symbols__), spi0 is off, nothing on it.
      expect(await fdtgetFails(stock, '/__symbols__', 'spi0')).toBe(true);
      expect(await fdtget('-t', 's', stock, '/soc/spi@7e204000', 'status')).toBe('disabled');
      expect(await fdtget('-l', stock, '/soc/spi@7e204000')).toBe('');

      expect(await fdtget('-l', m.path, '/soc/spi@7e204000')).toBe('tpm@1');
      expect(await fdtget('-t', 's', m.path, '/soc/spi@7e204000/tpm@1', 'compatible')).toBe('infineon,slb9670 tcg,tpm_tis-spi');
      expect(await fdtget('-t', 'u', m.path, '/soc/spi@7e204000/tpm@1', 'reg')).toBe('1');
      expect(await fdtget('-t', 's', m.path, '/soc/spi@7e204000', 'status')).toBe('okay');
      const pins = await fdtget('-t', 'u', m.path, '/soc/spi@7e204000', 'pinctrl-0');
      expect(await fdtget('-t', 'u', m.path, '/soc/gpio@7e200000/tpm-spi0-pins', 'phandle')).toBe(pins);
      // Everything else of the board's tree is still there: the merge added, it did not replace.
      expect(await fdtget('-t', 's', m.path, '/', 'compatible')).toBe(await fdtget('-t', 's', stock, '/', 'compatible'));
      expect(await fdtget('-l', m.path, '/soc')).toBe(await fdtget('-l', stock, '/soc'));

      // dtc reads the whole merged tree back; every phandle is unique.
      const dts = (await run('dtc', ['-q', '-I', 'dtb', '-O', 'dts', m.path], { maxBuffer: 16 * 1024 * 1024 })).stdout;
      const phandles = [...dts.matchAll(/phandle = <(0x[0-9a-f]+)>;/g)].map((x) => x[1]);
      expect(new Set(phandles).size).toBe(phandles.length);
    }

    // The same kernel binds those nodes: tpm_tis_spi by the overlay's compatible, spi-bcm2835 by spi0's.
    const mods = join(k.root, 'lib/modules', await abi(k), 'kernel/drivers');
    expect(await moduleAliases(join(mods, 'char/tpm/tpm_tis_spi.ko'))).toEqual(expect.arrayContaining(['of:N*T*Cinfineon,slb9670', 'spi:slb9670']));
    expect(await moduleAliases(join(mods, 'spi/spi-bcm2835.ko'))).toContain('of:N*T*Cbrcm,bcm2835-spi');
    const config = await readFile(join(k.root, 'boot', `config-${await abi(k)}`), 'utf8');
    expect(config).toMatch(/^CONFIG_TCG_TIS_SPI=[ym]$/m);
    expect(config).toMatch(/^CONFIG_SPI_BCM2835=[ym]$/m);

    const { configTxt } = await writePiBootText(out, board, { kernel: 'vmlinuz', initrd: 'initrd.img', dtbs: merged });
    for (const m of merged) expect(configTxt).toContain(`[${m.filter}]\ndevice_tree=${m.merged}\n`);
    console.log(`${name}: ${k.package} ${k.version}${k.cached ? ' (cached)' : ''}; merged ${merged.map((m) => m.merged).join(', ')}`);
  });
});

describe('the download chain', () => {
  it('a second fetch uses the cached package; a tampered InRelease does not verify', { timeout: 120_000 }, async () => {
    const again = await kernelFor('arm64');
    expect(again.cached).toBe(true);
    const signed = join(work, 'InRelease.tampered');
    await copyFile(join(process.env['BTN_PI_CACHE'] ?? join(work, 'cache'), 'arm64', 'InRelease'), signed);
    const text = await readFile(signed, 'utf8');
    await writeFile(signed, text.replace(/^(Codename: )bookworm$/m, '$1bookwork'));
    const err = await verifyInRelease(signed).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PiBuildError);
    expect((err as PiBuildError).code).toBe('ERR_PI_SIGNATURE');
  });
});
