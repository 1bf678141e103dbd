// koffi's native part for an architecture npm did not install here (armhf on this x64 host):
// fetched from the npm registry at the version package-lock.json pins, refused when it does
// not match the lock's integrity. Needs the registry (CI has it), hence the image suite.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { koffiNativeDir } from '../../image-build/koffi-native.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
let dir = '';
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('koffi native part for another architecture', () => {
  it('fetches @koromix/koffi-linux-arm at the locked version, verified, and refuses a tampered integrity', { timeout: 120_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-koffi-'));
    // A project root with the real lock file and no node_modules: nothing installed for arm.
    await copyFile(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    const got = await koffiNativeDir('arm', { root: dir });
    const lock = JSON.parse(await readFile(join(dir, 'package-lock.json'), 'utf8'));
    const pinned = lock.packages['node_modules/@koromix/koffi-linux-arm'];
    expect(JSON.parse(await readFile(join(got, 'package.json'), 'utf8')).version).toBe(pinned.version);
    expect((await readdir(got)).some((e) => e.startsWith('linux_arm'))).toBe(true);
    // Cached: the second call does not fetch again.
    expect(await koffiNativeDir('arm', { root: dir })).toBe(got);

    const tampered = join(dir, 'tampered');
    await rm(tampered, { recursive: true, force: true });
    await mkdir(tampered);
    pinned.integrity = `sha512-${Buffer.alloc(64, 1).toString('base64')}`;
    await writeFile(join(tampered, 'package-lock.json'), JSON.stringify(lock));
    await expect(koffiNativeDir('arm', { root: tampered })).rejects.toThrow(/does not match package-lock\.json's integrity/);
    expect(existsSync(join(tampered, 'image-build/out/.koffi-native', `arm-${pinned.version}`, 'package'))).toBe(false);
  });
});
