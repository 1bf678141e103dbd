// Builds a bootable image for an emulated or Debian-based board from Debian's packages:
//   debootstrap (minbase) of the board's Debian architecture with Node.js, tpm2-tss, systemd,
//   a kernel and tpm-udev; the agent bundle + koffi; the hardened unit and first boot; a
//   service user in group tss; DHCP on the first NIC. Then one disk image made without
//   mounting anything (disk.ts): a FAT boot partition the household can edit on any computer
//   (btn-node.txt, mounted at /boot/firmware), root slots A (the system) and B (empty until an
//   update) and the data partition; plus the kernel and initrd for direct kernel boot; the disk
//   also boots by itself on UEFI (GRUB picks the slot, see writeEfiBootloader and ab-slots.ts).
// Usage: node --import tsx image-build/build.ts --board qemu-x86_64 [--out DIR] [--boot-files DIR] [--keyring CA.pem]
//   --boot-files: files copied onto the boot partition (btn-node.txt, btn-node-primaries.pem,
//   btn-node-genesis.hex); they can also be written later with disk.ts writeBootFile (mtools).
//   --keyring: the update CA's certificate(s) RAUC accepts bundles from (default: the
//   development CA of signing-keys.ts).
// Needs root (debootstrap) and: debootstrap, e2fsprogs, dosfstools, mtools, fdisk (sfdisk),
// grub-efi-amd64-bin (the boot loader: UEFI, GRUB at EFI/BOOT/BOOTX64.EFI), grub-common. Only
// amd64 images are built and booted here; Raspberry Pi images: image-build/pi.
import { execFile } from 'node:child_process';
import { cp, lstat, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { loadBoardConfig, boardConfigPath } from '../firmware/board/index.ts';
import { GRUBENV, grubSlotConfig, installSlots, makeDataTree, VERSION_FILE, writeInitialGrubenv } from './ab-slots.ts';
import { omitKernelModules } from './kernel-modules.ts';
import { dropPackageCaches } from './package-caches.ts';
import { BOOT_LABEL, makeDisk, type DiskLayout } from './disk.ts';
import { DEBIAN_MIRROR, defaultBtnNodeTxt, installAgent, SYSTEM_PACKAGES } from './install-agent.ts';
import { devSigningKeys } from './signing-keys.ts';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
// rauc + rauc-service: the updater and its D-Bus service; grub-common: grub-editenv, RAUC's grub backend.
const PACKAGES = [...SYSTEM_PACKAGES, 'linux-image-amd64', 'rauc', 'rauc-service', 'grub-common'];
/**
 * Boot partition: GRUB and the boot files; each root slot: a system (918 MB used, room to grow);
 * data: the agent's state and /etc/btn-node (the seal journal grows by a few hundred bytes a seal).
 */
export const X86_LAYOUT: DiskLayout = { bootMiB: 64, rootMiB: 1536, dataMiB: 256 };

export interface BuiltImage {
  readonly image: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly layout: DiskLayout;
  readonly seconds: number;
  readonly imageBytes: number;
  readonly usedBytes: number;
}

export async function buildImage(o: { board: string; out: string; bootFiles?: string; keyring?: string; log?: (line: string) => void }): Promise<BuiltImage> {
  const log = o.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const started = Date.now();
  const board = await loadBoardConfig(boardConfigPath(o.board));
  if (board.debianArch !== 'amd64') throw new Error(`board ${board.name}: build.ts builds amd64 images; Raspberry Pi boards go through pi/build-pi.ts (npm run image picks it), others are not built (${board.debianArch ?? 'not a Debian system'})`);
  const out = resolve(o.out);
  const rootfs = join(out, 'rootfs');
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });

  log(`debootstrap bookworm ${board.debianArch} (minbase + ${PACKAGES.length} packages) into ${rootfs}`);
  await run('debootstrap', ['--variant=minbase', `--arch=${board.debianArch}`, `--include=${PACKAGES.join(',')}`, 'bookworm', rootfs, DEBIAN_MIRROR], { maxBuffer: 64 * 1024 * 1024 });

  log('agent bundle and koffi, service user, units, network');
  await installAgent(rootfs, board, 'x64');
  const keyring = o.keyring ?? (await devSigningKeys(log)).caCert;
  log(`update slots: RAUC system.conf, keyring ${keyring}`);
  await installSlots(rootfs, board, keyring);
  const dropped = await dropPackageCaches(rootfs);
  log(`package caches and lists left by debootstrap: ${dropped.length} files removed`);
  const omitted = await omitKernelModules(rootfs, board.omitKernelModules);
  if (omitted.bytes > 0) log(`kernel modules for hardware ${board.name} cannot have: ${(omitted.bytes / 1e6).toFixed(0)} MB removed (${board.omitKernelModules.join(', ')})`);
  const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  await writeFile(join(rootfs, VERSION_FILE.slice(1)), `${version}\n`);
  // What the tree was when built: update-bundle names it in the bundle's manifest.
  const commit = await run('git', ['-C', ROOT, 'describe', '--always', '--dirty']).then((r) => r.stdout.trim(), () => 'unknown');
  await writeFile(join(out, 'build-info'), `${version} ${commit}\n`);

  const bootEntries = await readdir(join(rootfs, 'boot'));
  const kernelName = bootEntries.find((f) => f.startsWith('vmlinuz-'));
  const initrdName = bootEntries.find((f) => f.startsWith('initrd.img-'));
  if (!kernelName || !initrdName) throw new Error(`no kernel/initrd in ${rootfs}/boot: ${bootEntries.join(', ')}`);
  const kernel = join(out, 'vmlinuz');
  const initrd = join(out, 'initrd.img');
  await cp(join(rootfs, 'boot', kernelName), kernel);
  await cp(join(rootfs, 'boot', initrdName), initrd);
  // GRUB loads the kernel from the slot it boots (an update brings its own kernel): the names
  // Debian's kernel hooks keep pointing at the current one, made here if the chroot made none.
  for (const [link, target] of [['vmlinuz', kernelName], ['initrd.img', initrdName]] as const) {
    if (!(await lstat(join(rootfs, link)).then(() => true, () => false))) await symlink(`boot/${target}`, join(rootfs, link));
  }

  const bootPart = join(out, 'boot-partition');
  await mkdir(bootPart);
  await writeFile(join(bootPart, 'btn-node.txt'), defaultBtnNodeTxt(board.name));
  await writeEfiBootloader(bootPart);
  await writeInitialGrubenv(join(bootPart, GRUBENV));
  if (o.bootFiles) await cp(o.bootFiles, bootPart, { recursive: true });
  const dataDir = join(out, 'data-partition');
  await makeDataTree(dataDir);

  const layout = X86_LAYOUT;
  log(`disk image: FAT boot ${layout.bootMiB} MiB + ext4 root slots A and B ${layout.rootMiB} MiB each (B empty) + ext4 data ${layout.dataMiB} MiB (sfdisk, mkfs.vfat, mtools, mke2fs -d; no mounts)`);
  const image = join(out, `btn-node-${board.name}.img`);
  await makeDisk({ out: image, layout, bootDir: bootPart, rootDir: rootfs, dataDir });
  const { stdout } = await run('du', ['-sb', rootfs]);
  await rm(rootfs, { recursive: true, force: true });
  await rm(bootPart, { recursive: true, force: true });
  await rm(dataDir, { recursive: true, force: true });
  const seconds = Math.round((Date.now() - started) / 1000);
  const built = { image, kernel, initrd, layout, seconds, imageBytes: (await stat(image)).size, usedBytes: Number(stdout.split(/\s/)[0]) };
  const { stdout: allocated } = await run('du', ['-B1', image]);
  log(`built ${image} in ${seconds} s: root file system ${(built.usedBytes / 1e6).toFixed(0)} MB in a ${(built.imageBytes / 2 ** 30).toFixed(2)} GiB disk (${(Number(allocated.split(/\s/)[0]) / 1e6).toFixed(0)} MB allocated)`);
  return built;
}

/**
 * The boot loader: GRUB as a standalone EFI program at the removable-media path
 * (EFI/BOOT/BOOTX64.EFI), so that any UEFI PC, and QEMU with OVMF, boots the disk with no NVRAM
 * entry. Its built-in config (ab-slots.ts) finds the boot partition by label, picks a root slot
 * from the grubenv there and boots that slot's kernel and initrd. Built in, not a file on the
 * FAT: what a household edits there cannot break the slot selection. Made with
 * grub-mkstandalone (grub-efi-amd64-bin): no grub-install, no mounts.
 */
async function writeEfiBootloader(bootPart: string): Promise<void> {
  const cfg = join(bootPart, 'grub-embedded.cfg');
  // ttyS0 last: the console systemd and the boot test read; tty0 for a screen on a real PC.
  // no_timer_check: under an emulator a slow start can fail the kernel's IO-APIC timer check and
  // panic ("IO-APIC + timer doesn't work!", seen once in six boots under TCG on a loaded host);
  // virtual machines' images skip it, and a real PC's timer does not need it checked.
  await writeFile(cfg, grubSlotConfig({ bootLabel: BOOT_LABEL, cmdline: 'rw console=tty0 console=ttyS0 quiet no_timer_check' }));
  await mkdir(join(bootPart, 'EFI/BOOT'), { recursive: true });
  await run('grub-mkstandalone', ['-O', 'x86_64-efi', '-o', join(bootPart, 'EFI/BOOT/BOOTX64.EFI'), '--modules=part_msdos fat ext2 search search_label linux normal loadenv test regexp reboot echo', '--locales=', '--themes=', '--fonts=', `boot/grub/grub.cfg=${cfg}`]);
  await rm(cfg);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { board: { type: 'string' }, out: { type: 'string' }, 'boot-files': { type: 'string' }, keyring: { type: 'string' } } });
  if (!values.board) throw new Error('usage: npm run image -- --board BOARD [--out DIR] [--boot-files DIR] [--keyring CA.pem]');
  const options = { board: values.board, out: values.out ?? join(ROOT, 'image-build/out', values.board), ...(values['boot-files'] ? { bootFiles: values['boot-files'] } : {}), ...(values.keyring ? { keyring: values.keyring } : {}) };
  // Raspberry Pi boards: another bootstrap (qemu-user second stage) and boot partition (firmware, merged DTBs).
  const board = await loadBoardConfig(boardConfigPath(values.board));
  if (board.name.startsWith('rpi')) await (await import('./pi/build-pi.ts')).buildPiImage(options);
  else await buildImage(options);
}
