// A flashable disk image made without loop devices or mounts: an MBR partition table written by
// sfdisk on the file, a FAT32 boot partition (mkfs.vfat, filled with mtools) that any
// computer can open to edit btn-node.txt, two root slots A and B for A/B updates (A an ext4 file
// system written straight into its partition with mke2fs -E offset -d; B left empty until the
// first update writes it), and an ext4 data partition for what must survive an update (the
// agent's state, /etc/btn-node). The same layout serves the Raspberry Pi, whose firmware boots
// from the first FAT partition, and x86, whose boot files sit in the same place. MBR, not GPT:
// the Pi's firmware reads MBR only, and four primary partitions are exactly what is needed.
import { execFile } from 'node:child_process';
import { open, readdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MIB = 1024 * 1024;
const SECTOR = 512;
/** The first partition starts at 1 MiB (sector 2048), as every current partitioning tool does. */
const FIRST_MIB = 1;

export const BOOT_LABEL = 'BTNBOOT';
/** Slot A's file system as built; a bundle's image carries the same label, so slots are named by PARTUUID, never by label. */
export const ROOT_LABEL = 'btnroot';
export const DATA_LABEL = 'btndata';
/**
 * The MBR disk identifier of every btn-node image, so that a partition's PARTUUID (`<id>-<nn>`)
 * is known when the image is built and stays the same on every device and after every update:
 * the kernel's root=, fstab and RAUC's slots name partitions by it.
 */
export const DISK_ID = '62746e31'; // "btn1"
/** Where the data partition is mounted; the agent's state and /etc/btn-node are bind-mounted from it. */
export const DATA_MOUNT = '/data';

export interface DiskLayout {
  readonly bootMiB: number;
  /** Each of the two root slots. */
  readonly rootMiB: number;
  readonly dataMiB: number;
}

/** `PARTUUID=62746e31-02` style name of a partition of a btn-node disk (1 boot, 2 root A, 3 root B, 4 data). */
export function partUuid(index: 1 | 2 | 3 | 4): string {
  return `${DISK_ID}-0${index}`;
}

export interface Partition {
  readonly index: number;
  readonly startBytes: number;
  readonly sizeBytes: number;
}

export interface Partitions {
  readonly boot: Partition;
  /** Root slot A (rootfs.0), what the image boots first. */
  readonly root: Partition;
  /** Root slot B (rootfs.1), empty until an update writes it. */
  readonly rootB: Partition;
  readonly data: Partition;
  readonly totalBytes: number;
}

/** Byte offsets of the partitions of a disk made by makeDisk, one after the other. */
export function partitions(layout: DiskLayout): Partitions {
  for (const name of ['bootMiB', 'rootMiB', 'dataMiB'] as const) {
    const v = layout[name];
    if (!Number.isInteger(v) || v < 33 || v > 64 * 1024) throw new RangeError(`${name} must be a whole number of MiB in 33..65536 (FAT32 needs 33 MiB), got ${v}`);
  }
  const next = (index: number, after: Partition, mib: number): Partition => ({ index, startBytes: after.startBytes + after.sizeBytes, sizeBytes: mib * MIB });
  const boot = { index: 1, startBytes: FIRST_MIB * MIB, sizeBytes: layout.bootMiB * MIB };
  const root = next(2, boot, layout.rootMiB);
  const rootB = next(3, root, layout.rootMiB);
  const data = next(4, rootB, layout.dataMiB);
  return { boot, root, rootB, data, totalBytes: data.startBytes + data.sizeBytes };
}

export interface MakeDiskOptions {
  readonly out: string;
  readonly layout: DiskLayout;
  /** Files for the FAT boot partition (copied recursively; names must suit FAT). */
  readonly bootDir: string;
  /** Slot A's tree (slot B stays empty: see the README). */
  readonly rootDir: string;
  /** The data partition's tree (the directories bind-mounted from it). */
  readonly dataDir: string;
}

export async function makeDisk(o: MakeDiskOptions): Promise<Partitions> {
  const p = partitions(o.layout);
  // A sparse file of the final size: nothing is written where the file systems leave holes.
  await (await open(o.out, 'w')).close();
  await truncate(o.out, p.totalBytes);
  const sectors = (b: number): number => b / SECTOR;
  // type c = FAT32 (LBA), marked bootable for firmwares that look for the flag; 83 = Linux.
  const table = [
    'label: dos',
    `label-id: 0x${DISK_ID}`,
    `start=${sectors(p.boot.startBytes)}, size=${sectors(p.boot.sizeBytes)}, type=c, bootable`,
    ...[p.root, p.rootB, p.data].map((x) => `start=${sectors(x.startBytes)}, size=${sectors(x.sizeBytes)}, type=83`),
    '',
  ].join('\n');
  await writePartitionTable(o.out, table);
  await writeFat(o.out, p.boot, BOOT_LABEL, o.bootDir);
  await run('mke2fs', ['-q', '-t', 'ext4', '-L', ROOT_LABEL, '-E', `offset=${p.root.startBytes}`, '-d', o.rootDir, o.out, `${o.layout.rootMiB}M`], { maxBuffer: 16 * MIB });
  await run('mke2fs', ['-q', '-t', 'ext4', '-L', DATA_LABEL, '-E', `offset=${p.data.startBytes}`, '-d', o.dataDir, o.out, `${o.layout.dataMiB}M`], { maxBuffer: 16 * MIB });
  const size = (await stat(o.out)).size;
  if (size !== p.totalBytes) throw new Error(`${o.out}: mke2fs left the disk at ${size} bytes, expected ${p.totalBytes}`);
  return p;
}

/**
 * Writes a FAT32 file system holding dir's files into one partition of a disk file (mkfs.vfat,
 * mtools; no mounts). Hidden sectors = the partition's start, as firmwares that read the boot sector expect.
 */
export async function writeFat(disk: string, part: Partition, label: string, dir: string): Promise<void> {
  // Made in a file of its own and copied in: mkfs.vfat --offset inside the larger disk picked
  // 4 KiB clusters for 256 MiB, fewer than FAT32's minimum count, which mtools then refused.
  const fat = `${disk}.p${part.index}.fat`;
  try {
    await rm(fat, { force: true });
    await run('mkfs.vfat', ['-C', '-F', '32', '-n', label, '-h', String(part.startBytes / SECTOR), fat, String(part.sizeBytes / 1024)]);
    const entries = await readdir(dir);
    if (entries.length > 0) {
      await run('mcopy', ['-s', '-p', '-m', '-i', fat, ...entries.map((e) => join(dir, e)), '::/'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    }
    await run('dd', [`if=${fat}`, `of=${disk}`, 'bs=1M', `seek=${part.startBytes / MIB}`, 'conv=notrunc,sparse', 'status=none']);
  } finally {
    await rm(fat, { force: true });
  }
}

/**
 * Copies one partition of a disk out into a file of its own, sparse (holes stay holes): slot A
 * becomes the root file system image of an update bundle.
 */
export async function extractPartition(disk: string, part: Partition, out: string): Promise<void> {
  await rm(out, { force: true });
  // In bytes: a partition grown on the device (growpart) need not end on a MiB.
  await run('dd', [`if=${disk}`, `of=${out}`, 'bs=1M', 'iflag=skip_bytes,count_bytes', `skip=${part.startBytes}`, `count=${part.sizeBytes}`, 'conv=sparse', 'status=none']);
  const size = (await stat(out)).size;
  if (size !== part.sizeBytes) throw new Error(`${out}: dd copied ${size} bytes of partition ${part.index}, expected ${part.sizeBytes}`);
}

/** Writes one file onto the boot partition of a disk made by makeDisk (what a household does on any computer). */
export async function writeBootFile(disk: string, layout: DiskLayout, source: string, name: string): Promise<void> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`boot partition file name must be 1..64 of [A-Za-z0-9._-], got ${JSON.stringify(name.slice(0, 80))}`);
  await run('mcopy', ['-o', '-i', `${disk}@@${partitions(layout).boot.startBytes}`, source, `::/${name}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
}

/** Writes an sfdisk script's partition table onto a disk file (no kernel re-read: it is a file). */
export function writePartitionTable(disk: string, table: string): Promise<void> {
  return runWithInput('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', disk], table);
}

function runWithInput(cmd: string, args: readonly string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, (err, _stdout, stderr) => (err ? reject(new Error(`${cmd} failed: ${stderr || err.message}`)) : resolve()));
    child.stdin?.end(input);
  });
}
