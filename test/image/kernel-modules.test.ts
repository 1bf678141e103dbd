// A board's omitted kernel modules leave its root file system before it becomes a slot; every
// other module stays, and the module index is rebuilt for each kernel in the tree.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { omitKernelModules } from '../../image-build/kernel-modules.ts';
import { loadBoardConfig, boardConfigPath } from '../../firmware/board/index.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tree(files: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'btn-modules-'));
  dirs.push(dir);
  for (const f of files) {
    await mkdir(join(dir, f, '..'), { recursive: true });
    await writeFile(join(dir, f), Buffer.alloc(1000, 1));
  }
  return dir;
}

describe('omitKernelModules', () => {
  it('removes the named directories of every kernel, keeps the rest, and runs depmod once per kernel', async () => {
    const k = (v: string, f: string): string => `usr/lib/modules/${v}/kernel/${f}`;
    const root = await tree([
      k('6.1.0-50-amd64', 'sound/core/snd.ko'), k('6.1.0-50-amd64', 'drivers/gpu/drm/drm.ko'), k('6.1.0-50-amd64', 'drivers/net/wireless/ath/ath.ko'),
      k('6.1.0-50-amd64', 'drivers/net/virtio_net.ko'), k('6.1.0-50-amd64', 'drivers/virtio/virtio_pci.ko'), k('6.1.0-50-amd64', 'fs/squashfs/squashfs.ko'),
      k('6.1.0-51-amd64', 'sound/core/snd.ko'), k('6.1.0-51-amd64', 'drivers/md/dm-verity.ko'),
    ]);
    const indexed: string[] = [];
    const omitted = await omitKernelModules(root, ['sound', 'drivers/gpu', 'drivers/net/wireless', 'drivers/media'], async (r, v) => {
      expect(r).toBe(root);
      indexed.push(v);
    });
    expect(indexed.sort()).toEqual(['6.1.0-50-amd64', '6.1.0-51-amd64']);
    expect(omitted.bytes).toBeGreaterThanOrEqual(4000); // four module files of 1,000 bytes, with their directories
    const kernel = (v: string): string => join(root, 'usr/lib/modules', v, 'kernel');
    expect((await readdir(kernel('6.1.0-50-amd64'))).sort()).toEqual(['drivers', 'fs']);
    expect((await readdir(join(kernel('6.1.0-50-amd64'), 'drivers'))).sort()).toEqual(['net', 'virtio']);
    expect(await readdir(join(kernel('6.1.0-50-amd64'), 'drivers/net'))).toEqual(['virtio_net.ko']);
    expect(await readdir(kernel('6.1.0-51-amd64'))).toEqual(['drivers']);
  });

  it('does nothing, depmod included, for a board that omits nothing or a tree without modules', async () => {
    const root = await tree(['usr/lib/modules/6.1.0-50-amd64/kernel/sound/snd.ko']);
    const never = async (): Promise<void> => { throw new Error('depmod must not run'); };
    expect(await omitKernelModules(root, [], never)).toEqual({ versions: [], bytes: 0 });
    expect(await readdir(join(root, 'usr/lib/modules/6.1.0-50-amd64/kernel'))).toEqual(['sound']);
    expect(await omitKernelModules(await tree(['etc/hostname']), ['sound'], never)).toEqual({ versions: [], bytes: 0 });
  });

  it('refuses a path that leaves kernel/', async () => {
    const root = await tree(['usr/lib/modules/6.1.0-50-amd64/kernel/sound/snd.ko']);
    for (const bad of ['../../../../etc', '/etc', 'drivers//gpu', './sound']) {
      await expect(omitKernelModules(root, [bad], async () => undefined)).rejects.toThrow(/not a plain directory under kernel/);
    }
  });

  it('the emulated x86 board omits sound, GPU and Wi-Fi, never virtio, block, file systems or the TPM', async () => {
    const omit = (await loadBoardConfig(boardConfigPath('qemu-x86_64'))).omitKernelModules;
    expect(omit).toEqual(expect.arrayContaining(['sound', 'drivers/gpu', 'drivers/net/wireless']));
    for (const needed of ['drivers/virtio', 'drivers/block', 'drivers/md', 'drivers/char', 'fs', 'crypto', 'drivers/net']) {
      expect(omit.some((d) => needed === d || needed.startsWith(`${d}/`))).toBe(false);
    }
    for (const board of ['rpi4', 'generic-arm64-stb']) expect((await loadBoardConfig(boardConfigPath(board))).omitKernelModules).toEqual([]);
  });
});
