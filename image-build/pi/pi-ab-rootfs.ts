// The root file system's part of the Pi's A/B slots: RAUC's config for the tryboot backend, the
// two handlers, the keyring, fstab's data partition (7 on this disk), the version a bundle will
// be compared against, and what keeps a trial from hanging or apt from filling the config partition.
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BoardConfig } from '../../firmware/board/index.ts';
import { installSlots, VERSION_FILE } from '../ab-slots.ts';
import { PI_POST_INSTALL_PATH, PI_POST_INSTALL_SOURCE, piFstab, piRaucSystemConf, TRYBOOT_BACKEND_PATH, TRYBOOT_BACKEND_SOURCE } from './pi-slots.ts';

/** After installAgent (which wrote fstab): everything A/B needs inside the root file system. */
export async function installPiSlots(rootfs: string, board: BoardConfig, o: { readonly keyring: string; readonly version: string }): Promise<void> {
  const at = (path: string): string => join(rootfs, path.slice(1));
  await installSlots(rootfs, board, o.keyring);
  await writeFile(at('/etc/rauc/system.conf'), piRaucSystemConf(board.name));
  for (const [source, target] of [[TRYBOOT_BACKEND_SOURCE, TRYBOOT_BACKEND_PATH], [PI_POST_INSTALL_SOURCE, PI_POST_INSTALL_PATH]] as const) {
    await mkdir(join(at(target), '..'), { recursive: true });
    await copyFile(source, at(target));
    await chmod(at(target), 0o755);
  }
  await writeFile(at('/etc/fstab'), piFstab(await readFile(at('/etc/fstab'), 'utf8')));
  // A slot holds its own kernel and firmware, replaced whole by the next bundle: apt must not copy
  // a new kernel or firmware into /boot/firmware, which is the 64 MiB config partition here.
  await mkdir(at('/etc/apt/preferences.d'), { recursive: true });
  await writeFile(at('/etc/apt/preferences.d/btn-node-ab-slots'), 'Package: linux-image-* raspi-firmware\nPin: release *\nPin-Priority: -1\n');
  // A trial that hangs falls back only at the next reset: the SoC's watchdog (bcm2835_wdt, at most
  // about 15 s) resets a system whose systemd stops; panic=10 on cmdline.txt covers the kernel and initramfs.
  await mkdir(at('/etc/systemd/system.conf.d'), { recursive: true });
  await writeFile(at('/etc/systemd/system.conf.d/btn-node-watchdog.conf'), '[Manager]\nRuntimeWatchdogSec=15s\n');
  if (!/^\d+\.\d+\.\d+/.test(o.version)) throw new Error(`version must be semantic, got ${JSON.stringify(o.version.slice(0, 40))}`);
  await mkdir(join(at(VERSION_FILE), '..'), { recursive: true });
  await writeFile(at(VERSION_FILE), `${o.version}\n`);
}
