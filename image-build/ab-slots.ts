// A/B root slots for updates with RAUC (Debian's rauc): RAUC's system.conf and keyring in the
// root file system, the data partition's mounts, and the boot selection GRUB runs (RAUC's grub
// backend: ORDER and per-slot <slot>_OK / <slot>_TRY in a grubenv on the FAT boot partition).
// RAUC writes ORDER and _OK (install, mark-good, mark-bad) and resets _TRY to 0; GRUB counts a
// slot's boots in _TRY and skips a slot that used its tries without being marked good, which
// falls back to the other one.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BoardConfig } from '../firmware/board/index.ts';
import { DATA_MOUNT, partUuid } from './disk.ts';

const run = promisify(execFile);

/** Boots a slot gets to be marked good before GRUB falls back to the other one. */
export const BOOT_TRIES = 3;
/** The grubenv's name on the boot partition (mounted at /boot/firmware). */
export const GRUBENV = 'grubenv';
export const KEYRING_PATH = '/etc/rauc/keyring.pem';
/** Where a root file system says which version it is (the image's package version; a bundle stamps its own). */
export { VERSION_FILE } from '../firmware/update/version.ts';
const SLOTS = [{ name: 'rootfs.0', bootname: 'A', part: 2 }, { name: 'rootfs.1', bootname: 'B', part: 3 }] as const;
/** What lives on the data partition, bind-mounted where the system expects it. */
export const DATA_BINDS: readonly { readonly source: string; readonly target: string }[] = [
  { source: 'btn-node', target: '/var/lib/btn-node' }, // the agent's StateDirectory: seal journal, activation, broker identity
  { source: 'etc/btn-node', target: '/etc/btn-node' }, // its config and the network's files
];

/** RAUC's compatible string: a bundle for another board is refused. */
export function compatible(board: string): string {
  if (!/^[a-z0-9_-]{1,64}$/.test(board)) throw new Error(`board name must be 1..64 of [a-z0-9_-], got ${JSON.stringify(board.slice(0, 80))}`);
  return `btn-node-${board}`;
}

export function raucSystemConf(board: string): string {
  return [
    '[system]',
    `compatible=${compatible(board)}`,
    'bootloader=grub',
    `grubenv=/boot/firmware/${GRUBENV}`,
    // verity only: a plain bundle would be accepted by an older tool chain but is checked once, before it is mounted.
    'bundle-formats=-plain',
    // Slot status (installed versions, hashes) on the data partition, so both slots see it.
    `data-directory=${DATA_MOUNT}/rauc`,
    '',
    '[keyring]',
    `path=${KEYRING_PATH}`,
    '',
    // resize=true: a bundle carries its file system shrunk to what its files need (less to write);
    // RAUC grows it to the whole slot with resize2fs once written.
    ...SLOTS.flatMap((s) => [`[slot.${s.name}]`, `device=/dev/disk/by-partuuid/${partUuid(s.part)}`, 'type=ext4', 'resize=true', `bootname=${s.bootname}`, '']),
  ].join('\n');
}

/** fstab lines of the data partition and its bind mounts (after the boot partition's). */
export function dataFstab(): string {
  return [
    // Not nofail: without its data the agent must not start on an empty state in the root slot.
    `PARTUUID=${partUuid(4)} ${DATA_MOUNT} ext4 defaults,nodev,nosuid,noexec,errors=remount-ro 0 2`,
    ...DATA_BINDS.map((b) => `${DATA_MOUNT}/${b.source} ${b.target} none bind,x-systemd.requires-mounts-for=${DATA_MOUNT} 0 0`),
    '',
  ].join('\n');
}

/** RAUC's config and keyring, the data partition's mount points; the root file system's part of the slots. */
export async function installSlots(rootfs: string, board: BoardConfig, keyring: string): Promise<void> {
  const pem = await readFile(keyring, 'utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----') || pem.includes('PRIVATE KEY')) throw new Error(`keyring ${keyring}: must hold CA certificates only (PEM), no key`);
  await mkdir(join(rootfs, 'etc/rauc'), { recursive: true });
  await writeFile(join(rootfs, 'etc/rauc/system.conf'), raucSystemConf(board.name));
  await copyFile(keyring, join(rootfs, KEYRING_PATH.slice(1)));
  for (const d of [DATA_MOUNT, ...DATA_BINDS.map((b) => b.target)]) await mkdir(join(rootfs, d.slice(1)), { recursive: true });
}

/** The data partition's first tree: the bind mounts' sources and RAUC's directory. */
export async function makeDataTree(dir: string): Promise<void> {
  for (const d of [...DATA_BINDS.map((b) => b.source), 'rauc']) await mkdir(join(dir, d), { recursive: true });
}

/** The grubenv of a fresh image: A is good and first; B holds nothing yet and is never tried. */
export async function writeInitialGrubenv(file: string): Promise<void> {
  await run('grub-editenv', [file, 'create']);
  await run('grub-editenv', [file, 'set', 'ORDER=A B', 'A_OK=1', 'A_TRY=0', 'B_OK=0', 'B_TRY=0']);
}

/**
 * GRUB's script: read the grubenv on the boot partition (found by label), take the first slot in
 * ORDER that is good and has tries left, count the try, boot that slot's kernel with root= its
 * partition and rauc.slot= its name (RAUC learns the booted slot from it). If every slot used its
 * tries, the first good one boots anyway: a device that keeps trying beats one stopped at a prompt.
 * A slot whose kernel cannot even be loaded (written but damaged) has its tries used up at once
 * and the machine restarts, so the next start takes the other slot instead of a GRUB prompt.
 */
export function grubSlotConfig(o: { bootLabel: string; cmdline: string }): string {
  const tryLadder = Array.from({ length: BOOT_TRIES }, (_, i) => `${i === 0 ? 'if' : 'elif'} [ "$try" = ${i} ]; then slot=$s; next=${i + 1}`);
  return [
    'set timeout=0',
    // Modules in the memdisk are not loaded by themselves.
    'insmod part_msdos', 'insmod fat', 'insmod ext2', 'insmod loadenv', 'insmod test', 'insmod regexp', 'insmod reboot',
    `search --no-floppy --label ${o.bootLabel} --set=boot`,
    'regexp --set=1:disk "^([^,]*)," "$boot"',
    'set ORDER="A B"', 'set A_OK=0', 'set A_TRY=0', 'set B_OK=0', 'set B_TRY=0',
    'load_env --file ($boot)/grubenv',
    'set slot=""',
    'for s in $ORDER; do',
    '  if [ "$s" = A ]; then ok=$A_OK; try=$A_TRY; fi',
    '  if [ "$s" = B ]; then ok=$B_OK; try=$B_TRY; fi',
    '  if [ -z "$slot" -a "$ok" = 1 ]; then',
    ...tryLadder.map((l) => `    ${l}`),
    '    fi',
    '  fi',
    'done',
    'if [ "$slot" = A ]; then A_TRY=$next; fi',
    'if [ "$slot" = B ]; then B_TRY=$next; fi',
    'if [ -n "$slot" ]; then save_env --file ($boot)/grubenv A_TRY B_TRY; fi',
    'for s in $ORDER; do',
    '  if [ -z "$slot" ]; then',
    '    if [ "$s" = A -a "$A_OK" = 1 ]; then slot=A; fi',
    '    if [ "$s" = B -a "$B_OK" = 1 ]; then slot=B; fi',
    '  fi',
    'done',
    'if [ -z "$slot" ]; then slot=A; fi',
    ...SLOTS.map((s) => `if [ "$slot" = ${s.bootname} ]; then part=${s.part}; fi`),
    `if linux ($disk,msdos$part)/vmlinuz root=PARTUUID=${partUuid(2).slice(0, -1)}$part rauc.slot=$slot ${o.cmdline}; then`,
    '  if initrd ($disk,msdos$part)/initrd.img; then boot; fi',
    'fi',
    `if [ "$slot" = A ]; then A_TRY=${BOOT_TRIES}; fi`,
    `if [ "$slot" = B ]; then B_TRY=${BOOT_TRIES}; fi`,
    'save_env --file ($boot)/grubenv A_TRY B_TRY',
    'echo "slot $slot: no kernel to boot; restarting"',
    'reboot', '',
  ].join('\n');
}
