// Bundles the device build of btn-node into one ESM file for Node 18+ (Debian 12 ships 18.19):
//   out/btn-node.mjs                    the agent (firmware/cli/device-main.ts and all it imports)
//   out/verify-worker.js                the Ed25519 verify worker, found beside the bundle at run time
//   out/node_modules/koffi, @koromix/koffi-linux-<arch>   the FFI and its prebuilt native part
// Usage: node --import tsx image-build/bundle.ts [--out DIR] [--arch x64|arm64|arm] [--libc glibc|musl|any]
import { build } from 'esbuild';
import { cp, mkdir, rm, stat, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import { koffiNativeDir } from './koffi-native.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BundleResult {
  readonly dir: string;
  readonly bundleBytes: number;
  readonly bundleGzipBytes: number;
  readonly nativeBytes: number;
}

export type Libc = 'glibc' | 'musl' | 'any';

// koffi's native package holds one binary per libc (linux_<arch>/ for glibc, musl_<arch>/ for
// musl, about 1.1 MB each for x64); its loader tries the other when one is absent, so a Debian
// image ships only glibc's and an OpenWrt one only musl's.
export async function bundle(outDir: string, arch: 'x64' | 'arm64' | 'arm' = hostArch(), libc: Libc = 'any'): Promise<BundleResult> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const outfile = join(outDir, 'btn-node.mjs');
  await build({
    entryPoints: [join(ROOT, 'firmware/cli/device-main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    // koffi carries a native part per architecture: shipped beside the bundle, not inlined.
    external: ['koffi'],
    // CommonJS dependencies (mqtt.js, pino) call require(): give the ESM bundle one.
    banner: { js: "import { createRequire as __btnCreateRequire } from 'node:module'; const require = __btnCreateRequire(import.meta.url);" },
    legalComments: 'none',
    minify: true,
    logLevel: 'warning',
  });
  await cp(join(ROOT, 'firmware/protocol/chain/verify-worker.js'), join(outDir, 'verify-worker.js'));
  const modules = join(outDir, 'node_modules');
  await cp(join(ROOT, 'node_modules/koffi/package.json'), join(modules, 'koffi/package.json'));
  // koffi's JavaScript loader only (no C sources, docs or vendored headers).
  for (const f of ['index.js', 'index.cjs', 'indirect.js', 'indirect.cjs', 'LICENSE.txt', 'src/koffi/index.cjs', 'src/koffi/index.js',
    'src/koffi/indirect.cjs', 'src/koffi/indirect.js', 'src/koffi/src/static.cjs', 'src/koffi/src/static.js', 'src/koffi/src/trampolines.cjs']) {
    await cp(join(ROOT, 'node_modules/koffi', f), join(modules, 'koffi', f));
  }
  const native = `@koromix/koffi-linux-${arch}`;
  await cp(await koffiNativeDir(arch), join(modules, native), { recursive: true });
  if (libc !== 'any') {
    const other = libc === 'glibc' ? 'musl_' : 'linux_';
    for (const entry of await readdir(join(modules, native))) {
      if (entry.startsWith(other)) await rm(join(modules, native, entry), { recursive: true, force: true });
    }
  }
  const bundleBytes = (await stat(outfile)).size;
  return { dir: outDir, bundleBytes, bundleGzipBytes: gzipSync(await readFile(outfile)).length, nativeBytes: await duBytes(join(modules, native)) };
}

function hostArch(): 'x64' | 'arm64' | 'arm' {
  return process.arch === 'arm64' ? 'arm64' : process.arch === 'arm' ? 'arm' : 'x64';
}

async function duBytes(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await duBytes(join(path, entry));
  return total;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, arch: { type: 'string' }, libc: { type: 'string' } } });
  const arch = (values.arch ?? hostArch()) as 'x64' | 'arm64' | 'arm';
  if (!['x64', 'arm64', 'arm'].includes(arch)) throw new Error('--arch must be x64, arm64 or arm');
  const libc = (values.libc ?? 'any') as Libc;
  if (!['glibc', 'musl', 'any'].includes(libc)) throw new Error('--libc must be glibc, musl or any');
  const r = await bundle(resolve(values.out ?? join(ROOT, 'image-build/out/bundle')), arch, libc);
  process.stdout.write(`${r.dir}/btn-node.mjs: ${r.bundleBytes} bytes (${r.bundleGzipBytes} gzipped); koffi native part ${r.nativeBytes} bytes\n`);
}
