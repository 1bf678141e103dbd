// A whole Raspberry Pi disk image from Debian's packages (Pi 4 arm64; Pi 3 armhf by the same
// code, not measured): debootstrap --foreign of the board's architecture, its second stage run
// through qemu-user-static (binfmt), raspi-firmware (non-free-firmware) for the boot blobs,
// Debian's kernel, Node.js, tpm2-tss and tpm-udev; the agent bundle and its units; the SLB9670
// overlay merged into the installed kernel's own DTBs (dtb.ts); RAUC with the tryboot backend
// (pi-slots.ts); then the A/B disk, no mounts (pi-disk.ts: sfdisk on the file, FAT by mkfs.vfat +
// mtools, ext4 by mke2fs -d).
// Usage (root): node --import tsx image-build/pi/build-pi.ts --board rpi4 [--out DIR] [--boot-files DIR] [--keyring CA.pem] [--reuse-rootfs]
// Slow: 16 min here, 11 of them the kernel's initramfs under qemu-user; not run by CI.
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { boardConfigPath, loadBoardConfig } from '../../firmware/board/index.ts';
import { DEBIAN_MIRROR, defaultBtnNodeTxt, installAgent, SYSTEM_PACKAGES } from '../install-agent.ts';
import { makeDataTree } from '../ab-slots.ts';
import { omitKernelModules } from '../kernel-modules.ts';
import { dropPackageCaches } from '../package-caches.ts';
import { devSigningKeys } from '../signing-keys.ts';
import { buildPiDtbs, compileOverlay, overlaySource, piConfigCustom, piDtbs, writePiBootText, type MergedDtb } from './dtb.ts';
import { PiBuildError } from './errors.ts';
import { makePiDisk, type PiDiskLayout } from './pi-disk.ts';
import { installPiSlots } from './pi-ab-rootfs.ts';
import { autobootTxt, piPartUuid, PI_PART, slotCmdlineWords } from './pi-slots.ts';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const BUILD = resolve(HERE, '..');
const MIB = 1024 * 1024;
const ARCH = {
  arm64: { kernel: 'linux-image-arm64', qemu: 'qemu-aarch64', bundle: 'arm64' },
  armhf: { kernel: 'linux-image-armmp', qemu: 'qemu-arm', bundle: 'arm' },
} as const;
const PACKAGES = [
  ...SYSTEM_PACKAGES, 'raspi-firmware',
  'firmware-brcm80211', // the on-board Wi-Fi's firmware (non-free-firmware): WIFI_SSID in btn-node.txt
  'device-tree-compiler', // fdtoverlay for the kernel hook that re-merges the TPM overlay on kernel updates
  'rauc', 'rauc-service', // A/B updates (bootloader=custom: rauc-tryboot-backend.sh)
];
const BOOT_MIB = 256; // firmware blobs 20 MB, kernel 30 MB, initrd 30-60 MB, room for a second kernel
const CONFIG_MIB = 64; // autoboot.txt and btn-node.txt; FAT32 needs 33 MiB at least

export interface BuiltPiImage {
  readonly image: string;
  readonly layout: PiDiskLayout;
  readonly dtbs: readonly MergedDtb[];
  readonly seconds: number;
  readonly imageBytes: number;
  readonly rootUsedBytes: number;
  readonly bootUsedBytes: number;
}

async function binfmtReady(name: string): Promise<void> {
  const entry = await readFile(`/proc/sys/fs/binfmt_misc/${name}`, 'utf8').catch(() => '');
  if (!entry.startsWith('enabled') || !/^flags: .*F/m.test(entry)) {
    throw new PiBuildError('ERR_PI_TOOL', `binfmt ${name} is not enabled with the F flag (have: ${JSON.stringify(entry.split('\n')[0] ?? '')}): install qemu-user-static binfmt-support, then 'mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc' if needed and 'update-binfmts --enable ${name}'`, { binfmt: name });
  }
}

async function du(dir: string): Promise<number> {
  return Number((await run('du', ['-sb', dir])).stdout.split(/\s/)[0]);
}

/** Kernel hook: after raspi-firmware's z50 hook copied a new kernel, merge its DTBs again. */
function remergeHook(dtbs: readonly MergedDtb[]): string {
  return `#!/bin/sh
# btn-node: Debian's Pi DTBs carry no __symbols__, so the firmware cannot apply the SLB9670
# overlay; merge it into the newest kernel's DTBs, as the image build did (image-build/pi/dtb.ts).
set -e
latest=$(ls -1 /boot/vmlinuz-* 2>/dev/null | grep -E -v '\\.(dpkg-bak|old-dkms)$' | sort -V -r | head -1)
[ -n "$latest" ] || exit 0
lib=/usr/lib/linux-image-\${latest#/boot/vmlinuz-}
for dtb in ${dtbs.map((d) => d.dtb).join(' ')}; do
  src=$lib/broadcom/$dtb; [ -e "$src" ] || src=$lib/$dtb
  [ -e "$src" ] || continue
  fdtoverlay -i "$src" -o "/boot/firmware/btn-tpm-$dtb.new" /usr/lib/btn-node/tpm-slb9670.dtbo
  mv "/boot/firmware/btn-tpm-$dtb.new" "/boot/firmware/btn-tpm-$dtb"
done
`;
}

/**
 * debootstrap of everything but the kernel, then the kernel alone through apt: its postinst builds
 * the initramfs once (kernel in --include built it twice here, 25 min, as later packages fired
 * initramfs-tools' trigger again). unshare --mount-proc gives the chroot a /proc in a mount
 * namespace of its own (gone when apt exits; raspi-firmware's hook needs ischroot to work).
 */
async function bootstrap(rootfs: string, arch: keyof typeof ARCH, log: (line: string) => void): Promise<void> {
  log(`debootstrap --foreign bookworm ${arch} (minbase + ${PACKAGES.length} packages, main + non-free-firmware)`);
  await run('debootstrap', ['--foreign', '--variant=minbase', `--arch=${arch}`, '--components=main,non-free-firmware', `--include=${PACKAGES.join(',')}`, 'bookworm', rootfs, DEBIAN_MIRROR], { maxBuffer: 64 * MIB });
  log(`second stage under ${ARCH[arch].qemu} (binfmt)`);
  await run('chroot', [rootfs, '/debootstrap/debootstrap', '--second-stage'], { maxBuffer: 64 * MIB });
  log(`${ARCH[arch].kernel} through apt in the chroot: the initramfs under qemu-user is the slow part`);
  const inChroot = (...args: string[]): Promise<unknown> => run('unshare', ['--mount-proc=' + join(rootfs, 'proc'), 'chroot', rootfs, ...args], { maxBuffer: 64 * MIB, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  await inChroot('apt-get', 'update', '-q');
  await inChroot('apt-get', 'install', '-y', '-q', '--no-install-recommends', ARCH[arch].kernel);
  await dropPackageCaches(rootfs);
}

export async function buildPiImage(o: { board: string; out: string; bootFiles?: string; keyring?: string; reuseRootfs?: boolean; log?: (line: string) => void }): Promise<BuiltPiImage> {
  const log = o.log ?? ((l: string) => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`));
  const started = Date.now();
  const board = await loadBoardConfig(boardConfigPath(o.board));
  piDtbs(board); // refuses the Pi 5 (no Debian DTB) before any download
  const arch = board.debianArch;
  if (arch !== 'arm64' && arch !== 'armhf') throw new PiBuildError('ERR_PI_BOARD', `board ${board.name}: debianArch ${String(arch)} is not a Pi architecture`, { board: board.name });
  await binfmtReady(ARCH[arch].qemu);
  const out = resolve(o.out);
  const rootfs = join(out, 'rootfs');
  const bootPart = join(out, 'boot-partition');
  if (o.reuseRootfs) {
    // The bootstrap left by a run that stopped before the agent step: redo only the rest (seconds).
    if (!(await stat(join(rootfs, 'boot/firmware/start4.elf')).then(() => true, () => false))) throw new PiBuildError('ERR_PI_CHECK', `--reuse-rootfs: ${rootfs} holds no finished bootstrap`, { rootfs });
    await rm(bootPart, { recursive: true, force: true });
  } else {
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    await bootstrap(rootfs, arch, log);
    await omitKernelModules(rootfs, board.omitKernelModules);
  }

  log('agent bundle, units, service user, network');
  await installAgent(rootfs, board, ARCH[arch].bundle);
  // The kernel hook re-merges the TPM overlay into the DTBs of every new kernel (remergeHook).
  await compileOverlay(overlaySource('tpm-slb9670'), join(rootfs, 'usr/lib/btn-node/tpm-slb9670.dtbo'));
  const keyring = o.keyring ?? (await devSigningKeys(log)).caCert;
  log(`update slots: RAUC system.conf (bootloader=custom, tryboot), keyring ${keyring}`);
  const version = (JSON.parse(await readFile(join(BUILD, '..', 'package.json'), 'utf8')) as { version: string }).version;
  await installPiSlots(rootfs, board, { keyring, version });

  log('boot slot A: firmware, kernel, initrd, merged DTBs, config.txt, cmdline.txt');
  // raspi-firmware's hooks filled /boot/firmware in the chroot (blobs, kernel, initrd, stock DTBs).
  await cp(join(rootfs, 'boot/firmware'), bootPart, { recursive: true });
  const entries = await readdir(bootPart);
  const kernel = entries.find((f) => f.startsWith('vmlinuz-'));
  const initrd = entries.find((f) => f.startsWith('initrd.img-'));
  if (!kernel || !initrd || !entries.includes('start4.elf')) throw new PiBuildError('ERR_PI_CHECK', `raspi-firmware left no kernel/initrd/firmware in /boot/firmware: ${entries.join(', ')}`, { entries });
  const dtbs = await buildPiDtbs({ board, kernelRoot: rootfs, outDir: bootPart, workDir: join(out, 'dtbo') });
  await writePiBootText(bootPart, board, { kernel, initrd, dtbs, slotWords: slotCmdlineWords('A') });
  // The config partition: the firmware's A/B selection and what a household edits.
  const configPart = join(out, 'config-partition');
  await rm(configPart, { recursive: true, force: true });
  await mkdir(configPart);
  await writeFile(join(configPart, 'autoboot.txt'), autobootTxt('A'));
  await writeFile(join(configPart, 'btn-node.txt'), defaultBtnNodeTxt(board.name));
  if (o.bootFiles) await cp(o.bootFiles, configPart, { recursive: true });
  // What raspi-firmware's hook rebuilds config.txt/cmdline.txt from on a kernel update.
  await writeFile(join(rootfs, 'etc/default/raspi-firmware'), `${await readFile(join(rootfs, 'etc/default/raspi-firmware'), 'utf8')}\n# btn-node image\nROOTPART="PARTUUID=${piPartUuid(PI_PART.rootA)}"\nCONSOLES="tty0 ttyS1,115200"\n`);
  await writeFile(join(rootfs, 'etc/default/raspi-firmware-custom'), piConfigCustom(board, dtbs));
  await writeFile(join(rootfs, 'etc/kernel/postinst.d/z60-btn-node-tpm-dtb'), remergeHook(dtbs), { mode: 0o755 });
  await rm(join(rootfs, 'boot/firmware'), { recursive: true });
  await mkdir(join(rootfs, 'boot/firmware'));

  const rootUsedBytes = await du(rootfs);
  const bootUsedBytes = await du(bootPart);
  if (bootUsedBytes > (BOOT_MIB - 16) * MIB) throw new PiBuildError('ERR_PI_CHECK', `boot files take ${bootUsedBytes} bytes, more than the ${BOOT_MIB} MiB partition holds with room to spare`, { bootUsedBytes });
  const layout: PiDiskLayout = { configMiB: CONFIG_MIB, bootMiB: BOOT_MIB, rootMiB: Math.max(1024, Math.ceil((rootUsedBytes * 1.25) / MIB) + 256), dataMiB: 256 };
  const image = join(out, `btn-node-${board.name}.img`);
  log(`disk: FAT config ${layout.configMiB} MiB, FAT boot A and B ${layout.bootMiB} MiB each, ext4 root A and B ${layout.rootMiB} MiB each (B empty), ext4 data ${layout.dataMiB} MiB (sfdisk, mkfs.vfat, mtools, mke2fs -d; no mounts)`);
  const dataDir = join(out, 'data-partition');
  const emptyDir = join(out, 'empty');
  await makeDataTree(dataDir);
  await mkdir(emptyDir, { recursive: true });
  await makePiDisk({ out: image, layout, configDir: configPart, bootDir: bootPart, emptyDir, rootDir: rootfs, dataDir });
  for (const d of [dataDir, emptyDir, configPart]) await rm(d, { recursive: true, force: true });
  await rm(rootfs, { recursive: true, force: true });
  await rm(bootPart, { recursive: true, force: true });
  const seconds = Math.round((Date.now() - started) / 1000);
  const built = { image, layout, dtbs, seconds, imageBytes: (await stat(image)).size, rootUsedBytes, bootUsedBytes };
  log(`built ${image} in ${seconds} s: root ${(rootUsedBytes / 1e6).toFixed(0)} MB, boot ${(bootUsedBytes / 1e6).toFixed(0)} MB, disk ${(built.imageBytes / 2 ** 30).toFixed(2)} GiB`);
  return built;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { board: { type: 'string' }, out: { type: 'string' }, 'boot-files': { type: 'string' }, keyring: { type: 'string' }, 'reuse-rootfs': { type: 'boolean' } } });
  if (!values.board) throw new Error('usage: node --import tsx image-build/pi/build-pi.ts --board rpi4 [--out DIR] [--boot-files DIR] [--keyring CA.pem] [--reuse-rootfs]');
  await buildPiImage({ board: values.board, out: values.out ?? join(BUILD, 'out', values.board), reuseRootfs: values['reuse-rootfs'] === true, ...(values['boot-files'] ? { bootFiles: values['boot-files'] } : {}), ...(values.keyring ? { keyring: values.keyring } : {}) });
}
