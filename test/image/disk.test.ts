// The image's disk layout (image-build/disk.ts) on real tools, without root: sfdisk's table
// (boot, root slots A and B, data, under the fixed disk id), a FAT32 boot partition that
// fsck.fat finds clean and that mtools reads back, an ext4 slot A and data partition at their
// offsets that debugfs reads back, slot B empty and not even allocated in the sparse file; then
// a household's edit of btn-node.txt on the boot partition, and slot A copied out as a bundle's image.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOT_LABEL, DATA_LABEL, DISK_ID, extractPartition, makeDisk, partitions, ROOT_LABEL, writeBootFile } from '../../image-build/disk.ts';

const run = promisify(execFile);
const mtools = { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } };
const layout = { bootMiB: 64, rootMiB: 48, dataMiB: 40 };

/** The part of `sfdisk --json` read here (sectors of 512 bytes). */
interface SfdiskJson {
  readonly partitiontable: { readonly label: string; readonly id: string; readonly partitions: readonly { start: number; size: number; type: string; bootable?: boolean }[] };
}
let dir = '';
let disk = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-disk-'));
  await mkdir(join(dir, 'boot/overlays'), { recursive: true });
  await mkdir(join(dir, 'root/etc'), { recursive: true });
  await writeFile(join(dir, 'boot/btn-node.txt'), 'BROKER_URL=mqtt://a:1883\n');
  await writeFile(join(dir, 'boot/overlays/x.dtbo'), Buffer.alloc(3000, 7));
  await writeFile(join(dir, 'root/etc/hostname'), 'btn-node\n');
  await mkdir(join(dir, 'data/btn-node'), { recursive: true });
  await writeFile(join(dir, 'data/btn-node/marker'), 'kept\n');
  disk = join(dir, 'disk.img');
  await makeDisk({ out: disk, layout, bootDir: join(dir, 'boot'), rootDir: join(dir, 'root'), dataDir: join(dir, 'data') });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('disk image', () => {
  it('has an MBR with a bootable FAT32 partition at 1 MiB, then root slots A and B of one size and the data partition', async () => {
    const { stdout } = await run('sfdisk', ['--json', disk]);
    const table = (JSON.parse(stdout) as SfdiskJson).partitiontable;
    expect(table.label).toBe('dos');
    expect(table.id).toBe(`0x${DISK_ID}`); // what the PARTUUIDs in root=, fstab and RAUC's slots are made of
    const p = partitions(layout);
    expect(p.boot.startBytes).toBe(2 ** 20);
    expect(p.rootB.sizeBytes).toBe(p.root.sizeBytes);
    expect(table.partitions.map((x) => ({ start: x.start * 512, size: x.size * 512, type: x.type, bootable: x.bootable ?? false }))).toEqual([
      { start: p.boot.startBytes, size: p.boot.sizeBytes, type: 'c', bootable: true },
      { start: p.root.startBytes, size: p.root.sizeBytes, type: '83', bootable: false },
      { start: p.rootB.startBytes, size: p.rootB.sizeBytes, type: '83', bootable: false },
      { start: p.data.startBytes, size: p.data.sizeBytes, type: '83', bootable: false },
    ]);
    expect(p.totalBytes).toBe((1 + 64 + 48 + 48 + 40) * 2 ** 20);
    expect((await stat(disk)).size).toBe(p.totalBytes);
  });

  it('boot partition: clean FAT32 with its label and the files, sub-directories included', async () => {
    const p = partitions(layout);
    const { stdout: id } = await run('blkid', ['-p', '-O', String(p.boot.startBytes), '-o', 'export', disk]);
    expect(id).toContain(`LABEL=${BOOT_LABEL}`);
    expect(id).toContain('VERSION=FAT32');
    const { stdout } = await run('mtype', ['-i', `${disk}@@${p.boot.startBytes}`, '::/btn-node.txt'], mtools);
    expect(stdout).toBe('BROKER_URL=mqtt://a:1883\n');
    const { stdout: listing } = await run('mdir', ['-b', '-i', `${disk}@@${p.boot.startBytes}`, '::/overlays'], mtools);
    expect(listing).toContain('x.dtbo');
    // fsck.fat reads a device or file from its start: check a copy of the partition.
    const part = join(dir, 'p1.img');
    await run('dd', [`if=${disk}`, `of=${part}`, 'bs=1M', `skip=${p.boot.startBytes / 1048576}`, `count=${layout.bootMiB}`, 'status=none']);
    await run('fsck.fat', ['-n', part]); // exits non-zero on any damage
  });

  it('root partition: ext4 with its label and the tree', async () => {
    const p = partitions(layout);
    const { stdout: id } = await run('blkid', ['-p', '-O', String(p.root.startBytes), '-o', 'export', disk]);
    expect(id).toContain(`LABEL=${ROOT_LABEL}`);
    expect(id).toContain('TYPE=ext4');
    const { stdout } = await run('debugfs', ['-R', 'cat /etc/hostname', `${disk}?offset=${p.root.startBytes}`]);
    expect(stdout).toBe('btn-node\n');
  });

  it('slot B is empty (no file system) and takes no space in the sparse file', async () => {
    const p = partitions(layout);
    await expect(run('blkid', ['-p', '-O', String(p.rootB.startBytes), '-o', 'export', disk])).rejects.toThrow();
    // The sparse file holds no blocks for slot B: copying the partition out with holes kept allocates nothing.
    const b = join(dir, 'slot-b.img');
    await extractPartition(disk, p.rootB, b);
    const { stdout } = await run('du', ['-B1', b]);
    expect(Number(stdout.split(/\s/)[0])).toBe(0);
  });

  it('data partition: ext4 with its label and its tree', async () => {
    const p = partitions(layout);
    const { stdout: id } = await run('blkid', ['-p', '-O', String(p.data.startBytes), '-o', 'export', disk]);
    expect(id).toContain(`LABEL=${DATA_LABEL}`);
    expect(id).toContain('TYPE=ext4');
    const { stdout } = await run('debugfs', ['-R', 'cat /btn-node/marker', `${disk}?offset=${p.data.startBytes}`]);
    expect(stdout).toBe('kept\n');
  });

  it('extractPartition copies slot A out as a file system of its own', async () => {
    const p = partitions(layout);
    const a = join(dir, 'slot-a.ext4');
    await extractPartition(disk, p.root, a);
    expect((await stat(a)).size).toBe(p.root.sizeBytes);
    await run('e2fsck', ['-n', '-f', a]); // exits non-zero on any damage
    const { stdout } = await run('debugfs', ['-R', 'cat /etc/hostname', a]);
    expect(stdout).toBe('btn-node\n');
  });

  it('writeBootFile replaces btn-node.txt as a household would, and refuses odd names', async () => {
    const edited = join(dir, 'edited.txt');
    await writeFile(edited, 'ROOT_URL=https://root.example\n');
    await writeBootFile(disk, layout, edited, 'btn-node.txt');
    const { stdout } = await run('mtype', ['-i', `${disk}@@${partitions(layout).boot.startBytes}`, '::/btn-node.txt'], mtools);
    expect(stdout).toBe('ROOT_URL=https://root.example\n');
    await expect(writeBootFile(disk, layout, edited, '../etc/passwd')).rejects.toThrow(/file name/);
  });

  it('refuses layouts FAT32 or the partition table cannot hold', () => {
    expect(() => partitions({ bootMiB: 16, rootMiB: 100, dataMiB: 64 })).toThrow(/bootMiB.*33/);
    expect(() => partitions({ bootMiB: 64, rootMiB: 1.5, dataMiB: 64 })).toThrow(/rootMiB/);
    expect(() => partitions({ bootMiB: 64, rootMiB: 100, dataMiB: 0 })).toThrow(/dataMiB/);
  });
});
