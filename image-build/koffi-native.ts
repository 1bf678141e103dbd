// koffi's prebuilt native part for the image's architecture. npm installs only the build host's
// (x64 here), so an arm64 or armhf image needs @koromix/koffi-linux-<arch> from the registry:
// fetched with `npm pack` at the version package-lock.json pins, checked against the lock's
// sha512 integrity before it is unpacked, and cached under image-build/out/.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAX_TARBALL_BYTES = 32 * 1024 * 1024;

export type KoffiArch = 'x64' | 'arm64' | 'arm';

/** The directory of @koromix/koffi-linux-<arch>: node_modules' copy, or one fetched and verified. */
export async function koffiNativeDir(arch: KoffiArch, o: { readonly root?: string; readonly cacheDir?: string } = {}): Promise<string> {
  const root = o.root ?? ROOT;
  const name = `@koromix/koffi-linux-${arch}`;
  const installed = join(root, 'node_modules', name);
  if (await isDir(installed)) return installed;
  const pinned = await lockEntry(root, name);
  const cache = resolve(o.cacheDir ?? join(root, 'image-build/out/.koffi-native'), `${arch}-${pinned.version}`);
  if (await isDir(join(cache, 'package'))) return join(cache, 'package');
  await rm(cache, { recursive: true, force: true });
  await mkdir(cache, { recursive: true });
  const { stdout } = await run('npm', ['pack', `${name}@${pinned.version}`, '--pack-destination', cache, '--silent'], { cwd: cache, maxBuffer: 1024 * 1024 });
  const tarball = join(cache, stdout.trim().split('\n').pop() ?? '');
  const size = (await stat(tarball)).size;
  if (size > MAX_TARBALL_BYTES) throw new Error(`${name}@${pinned.version}: tarball of ${size} bytes is larger than ${MAX_TARBALL_BYTES}`);
  const [algo, expected] = pinned.integrity.split('-', 2) as [string, string];
  const actual = createHash(algo).update(await readFile(tarball)).digest('base64');
  if (actual !== expected) {
    await rm(cache, { recursive: true, force: true });
    throw new Error(`${name}@${pinned.version}: the registry's tarball does not match package-lock.json's integrity (${algo} ${actual} != ${expected})`);
  }
  await run('tar', ['-xzf', tarball, '-C', cache, '--no-same-owner']);
  await rm(tarball);
  if (!(await readdir(join(cache, 'package'))).some((e) => e.startsWith('linux_') || e.startsWith('musl_'))) throw new Error(`${name}@${pinned.version}: no native binary in the package`);
  return join(cache, 'package');
}

async function lockEntry(root: string, name: string): Promise<{ version: string; integrity: string }> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages?: Record<string, { version?: string; integrity?: string }> };
  const entry = lock.packages?.[`node_modules/${name}`];
  if (!entry?.version || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(entry.version) || !/^sha(256|384|512)-[A-Za-z0-9+/=]+$/.test(entry.integrity ?? '')) throw new Error(`package-lock.json pins no version and integrity for ${name}`);
  return { version: entry.version, integrity: entry.integrity! };
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}
