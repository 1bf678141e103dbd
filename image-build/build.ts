// Builds a bootable image for an emulated or Debian-based board from Debian's packages:
//   debootstrap (minbase) of the board's Debian architecture with Node.js, tpm2-tss, systemd,
//   a kernel and tpm-udev; the agent bundle + koffi; the hardened unit and first boot; a
//   service user in group tss; DHCP on the first NIC. Then one disk image made without
//   mounting anything (disk.ts): a FAT boot partition the household can edit on any computer
//   (btn-node.txt, mounted at /boot/firmware) and the ext4 root; plus the kernel and initrd for
//   direct kernel boot; the disk also boots by itself on UEFI (GRUB, see writeEfiBootloader).
// Usage: node --import tsx image-build/build.ts --board qemu-x86_64 [--out DIR] [--boot-files DIR]
//   --boot-files: files copied onto the boot partition (btn-node.txt, btn-node-primaries.pem,
//   btn-node-genesis.hex); they can also be written later with disk.ts writeBootFile (mtools).
// Needs root (debootstrap) and: debootstrap, e2fsprogs, dosfstools, mtools, fdisk (sfdisk),
// grub-efi-amd64-bin (the boot loader: UEFI, GRUB at EFI/BOOT/BOOTX64.EFI). Only
// amd64 images are built and booted here; Raspberry Pi images: image-build/pi.
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { loadBoardConfig, boardConfigPath } from '../firmware/board/index.ts';
import { BOOT_LABEL, makeDisk, ROOT_LABEL, type DiskLayout } from './disk.ts';
import { DEBIAN_MIRROR, defaultBtnNodeTxt, installAgent, SYSTEM_PACKAGES } from './install-agent.ts';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const PACKAGES = [...SYSTEM_PACKAGES, 'linux-image-amd64'];
/** Boot partition: boot files (and kernel + initrd, so that a boot loader can find them); root: the system. */
export const X86_LAYOUT: DiskLayout = { bootMiB: 128, rootMiB: 1536 };

export interface BuiltImage {
  readonly image: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly layout: DiskLayout;
  readonly seconds: number;
  readonly imageBytes: number;
  readonly usedBytes: number;
}

export async function buildImage(o: { board: string; out: string; bootFiles?: string; log?: (line: string) => void }): Promise<BuiltImage> {
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

  const bootEntries = await readdir(join(rootfs, 'boot'));
  const kernelName = bootEntries.find((f) => f.startsWith('vmlinuz-'));
  const initrdName = bootEntries.find((f) => f.startsWith('initrd.img-'));
  if (!kernelName || !initrdName) throw new Error(`no kernel/initrd in ${rootfs}/boot: ${bootEntries.join(', ')}`);
  const kernel = join(out, 'vmlinuz');
  const initrd = join(out, 'initrd.img');
  await cp(join(rootfs, 'boot', kernelName), kernel);
  await cp(join(rootfs, 'boot', initrdName), initrd);

  const bootPart = join(out, 'boot-partition');
  await mkdir(bootPart);
  await cp(kernel, join(bootPart, 'vmlinuz'));
  await cp(initrd, join(bootPart, 'initrd.img'));
  await writeFile(join(bootPart, 'btn-node.txt'), defaultBtnNodeTxt(board.name));
  await writeEfiBootloader(bootPart);
  if (o.bootFiles) await cp(o.bootFiles, bootPart, { recursive: true });

  const layout = X86_LAYOUT;
  log(`disk image: FAT boot ${layout.bootMiB} MiB + ext4 root ${layout.rootMiB} MiB (sfdisk, mkfs.vfat, mtools, mke2fs -d; no mounts)`);
  const image = join(out, `btn-node-${board.name}.img`);
  await makeDisk({ out: image, layout, bootDir: bootPart, rootDir: rootfs });
  const { stdout } = await run('du', ['-sb', rootfs]);
  await rm(rootfs, { recursive: true, force: true });
  await rm(bootPart, { recursive: true, force: true });
  const seconds = Math.round((Date.now() - started) / 1000);
  const built = { image, kernel, initrd, layout, seconds, imageBytes: (await stat(image)).size, usedBytes: Number(stdout.split(/\s/)[0]) };
  log(`built ${image} in ${seconds} s: root file system ${(built.usedBytes / 1e6).toFixed(0)} MB in a ${((layout.bootMiB + layout.rootMiB + 1) / 1024).toFixed(2)} GiB disk`);
  return built;
}

/**
 * The boot loader: GRUB as a standalone EFI program at the removable-media path
 * (EFI/BOOT/BOOTX64.EFI), so that any UEFI PC, and QEMU with OVMF, boots the disk with no NVRAM
 * entry. Its built-in config finds the boot partition by label and boots the kernel and initrd
 * beside it. Made with grub-mkstandalone (grub-efi-amd64-bin): no grub-install, no mounts.
 */
async function writeEfiBootloader(bootPart: string): Promise<void> {
  const cfg = join(bootPart, 'grub-embedded.cfg');
  await writeFile(cfg, [
    'set timeout=0',
    // Modules in the memdisk are not loaded by themselves: the partition table and FAT must be for search.
    'insmod part_msdos', 'insmod fat',
    `search --no-floppy --label ${BOOT_LABEL} --set=root`,
    // ttyS0 last: the console systemd and the boot test read; tty0 for a screen on a real PC.
    `linux /vmlinuz root=LABEL=${ROOT_LABEL} rw console=tty0 console=ttyS0 quiet`,
    'initrd /initrd.img',
    'boot', '',
  ].join('\n'));
  await mkdir(join(bootPart, 'EFI/BOOT'), { recursive: true });
  await run('grub-mkstandalone', ['-O', 'x86_64-efi', '-o', join(bootPart, 'EFI/BOOT/BOOTX64.EFI'), '--modules=part_msdos fat search search_label linux normal', '--locales=', '--themes=', '--fonts=', `boot/grub/grub.cfg=${cfg}`]);
  await rm(cfg);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { board: { type: 'string' }, out: { type: 'string' }, 'boot-files': { type: 'string' } } });
  if (!values.board) throw new Error('usage: npm run image -- --board BOARD [--out DIR] [--boot-files DIR]');
  const options = { board: values.board, out: values.out ?? join(ROOT, 'image-build/out', values.board), ...(values['boot-files'] ? { bootFiles: values['boot-files'] } : {}) };
  // Raspberry Pi boards: another bootstrap (qemu-user second stage) and boot partition (firmware, merged DTBs).
  const board = await loadBoardConfig(boardConfigPath(values.board));
  if (board.name.startsWith('rpi')) await (await import('./pi/build-pi.ts')).buildPiImage(options);
  else await buildImage(options);
}
