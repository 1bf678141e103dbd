// Kernel modules a board cannot use. Debian's kernel ships drivers for every PC (390 MB of
// modules in the x86 image, half of its root file system); an emulated board has a fixed set of
// virtio devices and no sound, GPU, Wi-Fi or Ethernet chips. What its board config names under
// omitKernelModules is removed before the tree becomes a slot, so it is not in any update bundle
// nor written into a slot by any install; depmod then rebuilds the module index without it, so
// modprobe finds no entry for a file that is gone.
import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Rebuilds a kernel version's module index with the root file system's own depmod. */
export type Depmod = (rootfs: string, version: string) => Promise<void>;

const chrootDepmod: Depmod = async (rootfs, version) => {
  await run('chroot', [rootfs, '/sbin/depmod', '-a', version]);
};

export interface OmittedModules {
  /** Kernel versions whose modules were looked at. */
  readonly versions: readonly string[];
  /** Bytes of module files removed. */
  readonly bytes: number;
}

/** Removes the named directories (relative to lib/modules/<version>/kernel) for every kernel in the tree. */
export async function omitKernelModules(rootfs: string, omit: readonly string[], depmod: Depmod = chrootDepmod): Promise<OmittedModules> {
  for (const dir of omit) {
    // The board config's reader refuses these already: a second look where a path is removed.
    if (dir.startsWith('/') || dir.split('/').some((part) => part === '..' || part === '' || part === '.')) throw new Error(`omitKernelModules: ${JSON.stringify(dir)} is not a plain directory under kernel/`);
  }
  const modules = join(rootfs, 'usr/lib/modules');
  const versions = omit.length === 0 ? [] : (await readdir(modules, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
  let bytes = 0;
  for (const version of versions) {
    for (const dir of omit) {
      const path = join(modules, version, 'kernel', dir);
      const size = await run('du', ['-sb', path]).then((r) => Number(r.stdout.split(/\s/)[0]), () => 0);
      if (size === 0) continue;
      await rm(path, { recursive: true, force: true });
      bytes += size;
    }
    await depmod(rootfs, version);
  }
  return { versions, bytes };
}
