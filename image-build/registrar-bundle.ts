// Bundles btn-provision (the root node's registrar, the factory station and their CLI) into one
// ESM file, so a server runs plain `node` on built JavaScript instead of compiling TypeScript
// through tsx at every start (tsx is a development dependency):
//   out/btn-provision.mjs        the registrar and factory CLI (provisioning/cli/main.ts), and
//   out/chunk-*.mjs              its lazily loaded parts (the SQLite and PostgreSQL stores)
//   out/line-check-worker.js     the manifest line-check worker (its own bundle), found beside it
// The store drivers (better-sqlite3, pg) and the FFI (koffi) stay external: the server installs
// them with `npm ci --omit=dev`.
// Usage: node --import tsx image-build/registrar-bundle.ts [--out DIR]
import { build, type BuildOptions } from 'esbuild';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds the bundle into outDir (replaced); bytes counts every file written there. */
/** What the bundle and its worker share: Node 20 ESM, the native store drivers and koffi left outside. */
const NODE_ESM = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg', 'koffi'],
  banner: { js: "import { createRequire as __btnCreateRequire } from 'node:module'; const require = __btnCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
} as const satisfies BuildOptions;

export async function bundleRegistrar(outDir: string): Promise<{ readonly file: string; readonly bytes: number }> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const entry = join(outDir, 'entry.ts');
  // The CLI's main() reports errors itself and returns the exit code, as in provisioning/bin.
  await writeFile(entry, `import { main } from ${JSON.stringify(join(ROOT, 'provisioning/cli/main.ts'))};\n`
    + 'process.exitCode = await main(process.argv.slice(2));\n');
  const file = join(outDir, 'btn-provision.mjs');
  try {
    await build({
      entryPoints: { 'btn-provision': entry },
      outdir: outDir,
      outExtension: { '.js': '.mjs' },
      // Chunks keep the store drivers' dynamic imports lazy: keygen or batch sign runs on a
      // machine that has neither better-sqlite3 nor pg.
      splitting: true,
      ...NODE_ESM,
    });
  } finally {
    await rm(entry, { force: true });
  }
  // The worker is bundled on its own, under the name the pool looks for beside the bundle (in the
  // sources that name is a tsx loader for the same module).
  await build({
    entryPoints: [join(ROOT, 'provisioning/manifest/line-check-thread.ts')],
    outfile: join(outDir, 'line-check-worker.js'),
    ...NODE_ESM,
  });
  let bytes = 0;
  for (const f of await readdir(outDir)) bytes += (await stat(join(outDir, f))).size;
  return { file, bytes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const r = await bundleRegistrar(resolve(values.out ?? join(ROOT, 'dist/registrar')));
  process.stdout.write(`${r.file}: ${r.bytes} bytes with its chunks and worker\n`);
}
