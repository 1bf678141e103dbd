// A/B slots on the Raspberry Pi through the firmware's tryboot. The disk (MBR; the Pi 4's
// firmware reads it, and one table serves every Pi):
//   1 config FAT  autoboot.txt (the firmware's A/B selection) and the household's btn-node.txt
//   2 boot A FAT  firmware, kernel, initrd, DTBs, config.txt, cmdline.txt (root = 5)
//   3 boot B FAT  the same for slot B (root = 6); empty until an update writes it
//   4 extended    holding 5..7 (MBR has room for four primary partitions)
//   5 root A, 6 root B (ext4), 7 data (ext4: the agent's state, as on x86)
// autoboot.txt sits on a partition of its own: an update rewrites a whole boot slot, and the
// file the firmware reads first must not be on a partition being rewritten.
// RAUC (bootloader=custom) drives autoboot.txt through rauc-tryboot-backend.sh; each boot slot
// is a child of its root slot, so a bundle updates firmware, kernel and root file system
// together, and rauc-pi-post-install.sh points the written boot slot's cmdline.txt at its root.
import { fileURLToPath } from 'node:url';
import { DATA_MOUNT, DISK_ID } from '../disk.ts';
import { compatible, KEYRING_PATH } from '../ab-slots.ts';

export type PiSlot = 'A' | 'B';
export const PI_PART = { config: 1, bootA: 2, bootB: 3, extended: 4, rootA: 5, rootB: 6, data: 7 } as const;
/** Where the image installs the two handlers. */
export const TRYBOOT_BACKEND_PATH = '/usr/lib/btn-node/rauc-tryboot-backend';
export const PI_POST_INSTALL_PATH = '/usr/lib/btn-node/rauc-pi-post-install';
/** The handler scripts in this directory (installed as they are). */
export const TRYBOOT_BACKEND_SOURCE = fileURLToPath(new URL('rauc-tryboot-backend.sh', import.meta.url));
export const PI_POST_INSTALL_SOURCE = fileURLToPath(new URL('rauc-pi-post-install.sh', import.meta.url));
/** The firmware reads at most 512 bytes of autoboot.txt. */
export const AUTOBOOT_MAX_BYTES = 512;

/** `62746e31-05` style PARTUUID of a partition of the Pi disk (logical partitions count from 5). */
export function piPartUuid(index: number): string {
  if (!Number.isInteger(index) || index < 1 || index > 7) throw new RangeError(`Pi partition index must be 1..7, got ${index}`);
  return `${DISK_ID}-0${index}`;
}

export function slotParts(slot: PiSlot): { readonly boot: number; readonly root: number } {
  return slot === 'A' ? { boot: PI_PART.bootA, root: PI_PART.rootA } : { boot: PI_PART.bootB, root: PI_PART.rootB };
}

/** autoboot.txt with `slot` as the default and the other as the [tryboot] one; byte for byte what the backend writes. */
export function autobootTxt(slot: PiSlot): string {
  const other: PiSlot = slot === 'A' ? 'B' : 'A';
  const text = [
    `# btn-node A/B boot selection, written by rauc-tryboot-backend: slot A boots from partition ${PI_PART.bootA}, B from ${PI_PART.bootB}.`,
    '[all]',
    'tryboot_a_b=1',
    `boot_partition=${slotParts(slot).boot}`,
    '[tryboot]',
    `boot_partition=${slotParts(other).boot}`,
    '',
  ].join('\n');
  if (Buffer.byteLength(text) > AUTOBOOT_MAX_BYTES) throw new Error(`autoboot.txt would take ${Buffer.byteLength(text)} bytes, the firmware reads ${AUTOBOOT_MAX_BYTES}`);
  return text;
}

/** The kernel command line words that tie a boot slot to its root slot (RAUC reads rauc.slot=). */
export function slotCmdlineWords(slot: PiSlot): string[] {
  return [`root=PARTUUID=${piPartUuid(slotParts(slot).root)}`, `rauc.slot=${slot}`];
}

export function piRaucSystemConf(board: string): string {
  const slots = (['A', 'B'] as const).map((s, i) => ({ s, i, ...slotParts(s) }));
  return [
    '[system]',
    `compatible=${compatible(board)}`,
    // rauc-tryboot-backend.sh: autoboot.txt and the firmware's one-shot tryboot flag.
    'bootloader=custom',
    'bundle-formats=-plain',
    `data-directory=${DATA_MOUNT}/rauc`,
    '',
    '[handlers]',
    `bootloader-custom-backend=${TRYBOOT_BACKEND_PATH}`,
    `post-install=${PI_POST_INSTALL_PATH}`,
    '',
    '[keyring]',
    `path=${KEYRING_PATH}`,
    '',
    ...slots.flatMap(({ s, i, boot, root }) => [
      // raw: the bundle's boot.vfat is the whole FAT, copied as it is (RAUC's *.vfat-to-raw handler
      // is in every version's table seen; *.vfat into a vfat slot is missing from some, unchecked for 1.8).
      `[slot.boot.${i}]`, `device=/dev/disk/by-partuuid/${piPartUuid(boot)}`, 'type=raw', `parent=rootfs.${i}`, '',
      // resize=true: bundles carry a shrunk file system (update-bundle.ts), grown to the slot once written.
      `[slot.rootfs.${i}]`, `device=/dev/disk/by-partuuid/${piPartUuid(root)}`, 'type=ext4', 'resize=true', `bootname=${s}`, '',
    ]),
  ].join('\n');
}

/** fstab of the Pi: the config partition where btn-node.txt is read, the data partition and its binds. */
export function piFstab(x86Fstab: string): string {
  // install-agent.ts writes the x86 disk's data partition (4); on the Pi it is 7.
  const from = `PARTUUID=${DISK_ID}-04 ${DATA_MOUNT} `;
  if (!x86Fstab.includes(from)) throw new Error(`fstab has no data partition line starting ${JSON.stringify(from)}`);
  return x86Fstab.replace(from, `PARTUUID=${piPartUuid(PI_PART.data)} ${DATA_MOUNT} `);
}
