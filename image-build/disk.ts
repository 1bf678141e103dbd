// A flashable disk image made without loop devices or mounts: an MBR partition table written by
// sfdisk on the file, a FAT32 boot partition (mkfs.vfat, filled with mtools) that any
// computer can open to edit btn-node.txt, and an ext4 root file system written straight into its
// partition (mke2fs -E offset -d). The same layout serves the Raspberry Pi, whose firmware boots
// from the first FAT partition, and x86, whose boot files sit in the same place.
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
export const ROOT_LABEL = 'btnroot';

export interface DiskLayout {
  readonly bootMiB: number;
  readonly rootMiB: number;
}

export interface Partition {
  readonly index: number;
  readonly startBytes: number;
  readonly sizeBytes: number;
}

/** Byte offsets of the boot (FAT) and root (ext4) partitions of a disk made by makeDisk. */
export function partitions(layout: DiskLayout): { readonly boot: Partition; readonly root: Partition; readonly totalBytes: number } {
  for (const [name, v] of Object.entries(layout)) {
    if (!Number.isInteger(v) || v < 33 || v > 64 * 1024) throw new RangeError(`${name} must be a whole number of MiB in 33..65536 (FAT32 needs 33 MiB), got ${v}`);
  }
  const boot = { index: 1, startBytes: FIRST_MIB * MIB, sizeBytes: layout.bootMiB * MIB };
  const root = { index: 2, startBytes: boot.startBytes + boot.sizeBytes, sizeBytes: layout.rootMiB * MIB };
  return { boot, root, totalBytes: root.startBytes + root.sizeBytes };
}

export interface MakeDiskOptions {
  readonly out: string;
  readonly layout: DiskLayout;
  /** Files for the FAT boot partition (copied recursively; names must suit FAT). */
  readonly bootDir: string;
  /** The root file system's tree. */
  readonly rootDir: string;
}

export async function makeDisk(o: MakeDiskOptions): Promise<{ readonly boot: Partition; readonly root: Partition; readonly totalBytes: number }> {
  const p = partitions(o.layout);
  // A sparse file of the final size: nothing is written where the file systems leave holes.
  await (await open(o.out, 'w')).close();
  await truncate(o.out, p.totalBytes);
  const sectors = (b: number): number => b / SECTOR;
  // type c = FAT32 (LBA), marked bootable for firmwares that look for the flag; 83 = Linux.
  const table = [
    'label: dos',
    `start=${sectors(p.boot.startBytes)}, size=${sectors(p.boot.sizeBytes)}, type=c, bootable`,
    `start=${sectors(p.root.startBytes)}, size=${sectors(p.root.sizeBytes)}, type=83`,
    '',
  ].join('\n');
  await runWithInput('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', o.out], table);
  // The FAT is made in a file of its own and copied in: mkfs.vfat --offset inside the larger disk
  // picked 4 KiB clusters for 256 MiB, fewer than FAT32's minimum count, which mtools then refused.
  // Hidden sectors = the partition's start, as firmwares that read the boot sector expect.
  const fat = `${o.out}.boot.fat`;
  try {
    await rm(fat, { force: true });
    await run('mkfs.vfat', ['-C', '-F', '32', '-n', BOOT_LABEL, '-h', String(sectors(p.boot.startBytes)), fat, String(p.boot.sizeBytes / 1024)]);
    const entries = await readdir(o.bootDir);
    if (entries.length > 0) {
      await run('mcopy', ['-s', '-p', '-m', '-i', fat, ...entries.map((e) => join(o.bootDir, e)), '::/'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    }
    await run('dd', [`if=${fat}`, `of=${o.out}`, 'bs=1M', `seek=${p.boot.startBytes / MIB}`, 'conv=notrunc,sparse', 'status=none']);
  } finally {
    await rm(fat, { force: true });
  }
  await run('mke2fs', ['-q', '-t', 'ext4', '-L', ROOT_LABEL, '-E', `offset=${p.root.startBytes}`, '-d', o.rootDir, o.out, `${o.layout.rootMiB}M`], { maxBuffer: 16 * MIB });
  const size = (await stat(o.out)).size;
  if (size !== p.totalBytes) throw new Error(`${o.out}: mke2fs left the disk at ${size} bytes, expected ${p.totalBytes}`);
  return p;
}

/** Writes one file onto the boot partition of a disk made by makeDisk (what a household does on any computer). */
export async function writeBootFile(disk: string, layout: DiskLayout, source: string, name: string): Promise<void> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`boot partition file name must be 1..64 of [A-Za-z0-9._-], got ${JSON.stringify(name.slice(0, 80))}`);
  await run('mcopy', ['-o', '-i', `${disk}@@${partitions(layout).boot.startBytes}`, source, `::/${name}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
}

function runWithInput(cmd: string, args: readonly string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, (err, _stdout, stderr) => (err ? reject(new Error(`${cmd} failed: ${stderr || err.message}`)) : resolve()));
    child.stdin?.end(input);
  });
}
