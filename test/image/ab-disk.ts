// Finds or builds the image the A/B tests use, and reads a btn-node disk after a guest ran on it (QEMU killed, so ext4's journal is replayed on a
// copy first): what the agent left in its state directory on the data partition and in the root
// slot's /var/lib/btn-node underneath the bind mount, and GRUB's slot variables on the boot partition.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildImage } from '../../image-build/build.ts';
import { extractPartition, partitions, type DiskLayout, type Partition, type Partitions } from '../../image-build/disk.ts';

const run = promisify(execFile);

export interface AbDiskState {
  /** Names in /btn-node on the data partition (what the agent sees as /var/lib/btn-node). */
  readonly dataState: readonly string[];
  /** Names in slot A's own /var/lib/btn-node (hidden by the bind mount while it runs). */
  readonly slotState: readonly string[];
  readonly grubenv: Readonly<Record<string, string>>;
}

/** Entries of a directory on an ext4 partition of the disk, with their permission bits. */
export async function listEntries(disk: string, part: Partition, path: string, work: string): Promise<{ readonly name: string; readonly mode: number }[]> {
  const copy = join(work, `p${part.index}.ext4`);
  await extractPartition(disk, part, copy);
  // e2fsck exits 1 when it replayed the journal or fixed something; 4 and up is damage.
  await run('e2fsck', ['-fy', copy]).catch((err: { code?: number }) => {
    if (err.code !== 1) throw err;
  });
  const { stdout } = await run('debugfs', ['-R', `ls -p ${path}`, copy]);
  // ls -p: /inode/mode/uid/gid/name/size/ per entry, the mode in octal.
  return stdout.split('\n').map((l) => l.split('/')).filter((f) => f[5] !== undefined && f[5] !== '' && f[5] !== '.' && f[5] !== '..')
    .map((f) => ({ name: f[5]!, mode: parseInt(f[2]!, 8) & 0o7777 }));
}

async function listDir(disk: string, part: Partition, path: string, work: string): Promise<string[]> {
  return (await listEntries(disk, part, path, work)).map((e) => e.name);
}

/** A file on the FAT boot partition, as text. */
export async function readBootFile(disk: string, layout: DiskLayout, name: string): Promise<string> {
  const { stdout } = await run('mtype', ['-i', `${disk}@@${partitions(layout).boot.startBytes}`, `::/${name}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  return stdout;
}

/** The partitions as the disk's table has them now (the data partition may have grown at boot). */
export async function diskPartitions(disk: string): Promise<Partitions> {
  const { stdout } = await run('sfdisk', ['--json', disk]);
  const table = JSON.parse(stdout) as { partitiontable: { sectorsize?: number; partitions: { start: number; size: number }[] } };
  const sector = table.partitiontable.sectorsize ?? 512;
  const parts = table.partitiontable.partitions.map((x, i) => ({ index: i + 1, startBytes: x.start * sector, sizeBytes: x.size * sector }));
  if (parts.length !== 4) throw new Error(`${disk}: ${parts.length} partitions, not the 4 of the A/B layout`);
  const [boot, root, rootB, data] = parts as [Partition, Partition, Partition, Partition];
  return { boot, root, rootB, data, totalBytes: data.startBytes + data.sizeBytes };
}

export async function readAbDisk(disk: string, layout: DiskLayout, work: string): Promise<AbDiskState> {
  const p = await diskPartitions(disk);
  // The image's own layout up to the data partition, which may since have grown.
  const planned = partitions(layout);
  if (p.data.startBytes !== planned.data.startBytes) throw new Error(`${disk}: the data partition starts at ${p.data.startBytes}, not ${planned.data.startBytes}`);
  const stdout = await readBootFile(disk, layout, 'grubenv');
  const grubenv = Object.fromEntries(stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { dataState: await listDir(disk, p.data, '/btn-node', work), slotState: await listDir(disk, p.root, '/var/lib/btn-node', work), grubenv };
}

/**
 * The directory of a built qemu-x86_64 image: BTN_IMAGE_DIR, or where `npm run image` leaves it
 * (built there first when absent, so later runs and `npm run update-bundle` reuse it).
 */
export async function builtImageDir(keyring: string): Promise<string> {
  const dir = process.env['BTN_IMAGE_DIR'] ?? resolve('image-build/out/qemu-x86_64');
  if (!existsSync(join(dir, 'btn-node-qemu-x86_64.img'))) {
    if (process.env['BTN_IMAGE_DIR']) throw new Error(`BTN_IMAGE_DIR=${dir} holds no btn-node-qemu-x86_64.img`); // never rebuilt (and emptied) there
    await buildImage({ board: 'qemu-x86_64', out: dir, keyring });
  }
  return dir;
}
