// The Raspberry Pi's A/B disk (pi-slots.ts says why this shape), made as ../disk.ts makes the
// x86 one: an sfdisk script on a sparse file, FATs by mkfs.vfat + mtools, ext4 by mke2fs -d, no
// mounts. MBR with an extended partition: three FATs and three ext4 file systems are more than
// four primary partitions hold. Each logical partition has 1 MiB before it for its EBR.
import { execFile } from 'node:child_process';
import { open, stat, truncate } from 'node:fs/promises';
import { promisify } from 'node:util';
import { BOOT_LABEL, DATA_LABEL, DISK_ID, ROOT_LABEL, writeFat, writePartitionTable, type Partition } from '../disk.ts';
import { PI_PART } from './pi-slots.ts';

const run = promisify(execFile);
const MIB = 1024 * 1024;
const SECTOR = 512;

export interface PiDiskLayout {
  /** autoboot.txt and btn-node.txt. */
  readonly configMiB: number;
  /** Each of the two boot slots (firmware, kernel, initrd, DTBs). */
  readonly bootMiB: number;
  /** Each of the two root slots. */
  readonly rootMiB: number;
  readonly dataMiB: number;
}

export interface PiPartitions {
  readonly config: Partition;
  readonly bootA: Partition;
  readonly bootB: Partition;
  /** The extended partition holding rootA, rootB and data. */
  readonly extended: Partition;
  readonly rootA: Partition;
  readonly rootB: Partition;
  readonly data: Partition;
  readonly totalBytes: number;
}

/** Byte offsets of the Pi disk's partitions. */
export function piPartitions(layout: PiDiskLayout): PiPartitions {
  for (const name of ['configMiB', 'bootMiB', 'rootMiB', 'dataMiB'] as const) {
    const v = layout[name];
    if (!Number.isInteger(v) || v < 33 || v > 64 * 1024) throw new RangeError(`${name} must be a whole number of MiB in 33..65536 (FAT32 needs 33 MiB), got ${v}`);
  }
  const part = (index: number, startBytes: number, mib: number): Partition => ({ index, startBytes, sizeBytes: mib * MIB });
  const end = (p: Partition): number => p.startBytes + p.sizeBytes;
  const config = part(PI_PART.config, MIB, layout.configMiB);
  const bootA = part(PI_PART.bootA, end(config), layout.bootMiB);
  const bootB = part(PI_PART.bootB, end(bootA), layout.bootMiB);
  const rootA = part(PI_PART.rootA, end(bootB) + MIB, layout.rootMiB);
  const rootB = part(PI_PART.rootB, end(rootA) + MIB, layout.rootMiB);
  const data = part(PI_PART.data, end(rootB) + MIB, layout.dataMiB);
  const extended: Partition = { index: PI_PART.extended, startBytes: end(bootB), sizeBytes: end(data) - end(bootB) };
  return { config, bootA, bootB, extended, rootA, rootB, data, totalBytes: end(data) };
}

/** The sfdisk script of the Pi disk: entries after the extended one are its logical partitions. */
export function piSfdiskScript(p: PiPartitions): string {
  const line = (x: Partition, type: string, extra = ''): string => `start=${x.startBytes / SECTOR}, size=${x.sizeBytes / SECTOR}, type=${type}${extra}`;
  return [
    'label: dos',
    `label-id: 0x${DISK_ID}`,
    line(p.config, 'c', ', bootable'),
    line(p.bootA, 'c'),
    line(p.bootB, 'c'),
    line(p.extended, '5'),
    line(p.rootA, '83'),
    line(p.rootB, '83'),
    line(p.data, '83'),
    '',
  ].join('\n');
}

export interface MakePiDiskOptions {
  readonly out: string;
  readonly layout: PiDiskLayout;
  /** Files of the config partition (autoboot.txt, btn-node.txt). */
  readonly configDir: string;
  /** Boot slot A's files (boot slot B is an empty FAT until an update writes it). */
  readonly bootDir: string;
  /** An empty directory, for boot slot B's FAT. */
  readonly emptyDir: string;
  readonly rootDir: string;
  readonly dataDir: string;
}

export async function makePiDisk(o: MakePiDiskOptions): Promise<PiPartitions> {
  const p = piPartitions(o.layout);
  await (await open(o.out, 'w')).close();
  await truncate(o.out, p.totalBytes);
  await writePartitionTable(o.out, piSfdiskScript(p));
  await writeFat(o.out, p.config, BOOT_LABEL, o.configDir);
  await writeFat(o.out, p.bootA, 'BTNBOOTA', o.bootDir);
  await writeFat(o.out, p.bootB, 'BTNBOOTB', o.emptyDir);
  await run('mke2fs', ['-q', '-t', 'ext4', '-L', ROOT_LABEL, '-E', `offset=${p.rootA.startBytes}`, '-d', o.rootDir, o.out, `${o.layout.rootMiB}M`], { maxBuffer: 16 * MIB });
  await run('mke2fs', ['-q', '-t', 'ext4', '-L', DATA_LABEL, '-E', `offset=${p.data.startBytes}`, '-d', o.dataDir, o.out, `${o.layout.dataMiB}M`], { maxBuffer: 16 * MIB });
  const size = (await stat(o.out)).size;
  if (size !== p.totalBytes) throw new Error(`${o.out}: mke2fs left the disk at ${size} bytes, expected ${p.totalBytes}`);
  return p;
}
