// The package caches and lists debootstrap leaves are taken out of the root file system before it
// becomes a slot image; apt's own working entries (partial/, lock) and everything else stay.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropPackageCaches } from '../../image-build/package-caches.ts';

let dir = '';
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dropPackageCaches', () => {
  it('removes the .deb files, apt\'s binary caches and the package lists, and keeps apt\'s working entries and the rest', async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-caches-'));
    const files = [
      'var/cache/apt/archives/apt_2.6.1_amd64.deb', 'var/cache/apt/archives/lock', 'var/cache/apt/archives/partial/x.deb',
      'var/cache/apt/pkgcache.bin', 'var/cache/apt/srcpkgcache.bin',
      'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages', 'var/lib/apt/lists/lock',
      'var/lib/apt/extended_states', 'var/cache/debconf/config.dat', 'usr/lib/btn-node/btn-node.mjs',
    ];
    for (const f of files) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), 'x');
    }
    const removed = await dropPackageCaches(dir);
    expect(removed.sort()).toEqual([
      'var/cache/apt/archives/apt_2.6.1_amd64.deb', 'var/cache/apt/pkgcache.bin', 'var/cache/apt/srcpkgcache.bin',
      'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages',
    ]);
    expect((await readdir(join(dir, 'var/cache/apt/archives'))).sort()).toEqual(['lock', 'partial']);
    expect(await readdir(join(dir, 'var/cache/apt/archives/partial'))).toEqual(['x.deb']); // apt's own, left as it is
    expect(await readdir(join(dir, 'var/lib/apt/lists'))).toEqual(['lock']);
    for (const kept of ['var/lib/apt/extended_states', 'var/cache/debconf/config.dat', 'usr/lib/btn-node/btn-node.mjs']) {
      expect(await readdir(join(dir, kept, '..'))).toContain(kept.split('/').at(-1));
    }
  });

  it('is a no-op on a tree without apt', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'btn-caches-empty-'));
    try {
      expect(await dropPackageCaches(empty)).toEqual([]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
