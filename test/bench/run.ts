// npm run bench [-- --json] [-- --only NAME] [-- --quick]
// Runs every test/bench/*.bench.ts in turn and prints its figures.
import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import type { BenchResult, BenchSuite } from './report.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? args[onlyIndex + 1] : undefined;

const dir = dirname(fileURLToPath(import.meta.url));
const files = (await readdir(dir)).filter((f) => f.endsWith('.bench.ts')).sort();

function print(r: BenchResult): void {
  if (json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const base = r.baseline === undefined ? '' : `  vs ${r.baseline} ${fmt(r.baselineValue!)} ${r.unit}  ratio ${r.ratio}`;
  process.stdout.write(`${r.name.padEnd(48)} ${fmt(r.value).padStart(12)} ${r.unit}${base}\n`);
}

function fmt(n: number): string {
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toPrecision(4);
}

let failed = false;
for (const file of files) {
  const name = file.replace('.bench.ts', '');
  if (only !== undefined && name !== only) continue;
  if (!json) process.stdout.write(`# ${name}\n`);
  try {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { run: BenchSuite };
    await mod.run(print, { quick });
  } catch (err) {
    failed = true;
    process.stderr.write(`bench ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
