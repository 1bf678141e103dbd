// What debootstrap and apt leave in a root file system that the device never reads: the
// downloaded .deb files (/var/cache/apt/archives, ~150 MB of the x86 image's 1 GB), apt's binary
// caches, and the archive's package lists (/var/lib/apt/lists, ~50 MB). Left in, they travel in
// every update bundle and are written into every slot; `apt-get update` brings the lists back on
// a device whose owner wants apt.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Removes the package caches and lists from a root file system tree; returns the names removed. */
export async function dropPackageCaches(rootfs: string): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists', 'var/cache/apt']) {
    const entries = await readdir(join(rootfs, dir), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      // apt's own working entries (its lock file, partial/ and other directories) stay as they are
      if (e.name === 'lock' || e.isDirectory()) continue;
      await rm(join(rootfs, dir, e.name), { force: true });
      removed.push(`${dir}/${e.name}`);
    }
  }
  return removed;
}
