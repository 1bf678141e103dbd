// The registrar as a server runs it: the esbuild bundle under plain node, no tsx, with the store
// drivers loaded only when a store URL needs them.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleRegistrar } from '../../image-build/registrar-bundle.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

describe('registrar bundle', () => {
  // Inside the repo so that node finds the external drivers in ./node_modules, as on a server.
  const out = join(ROOT, 'dist', `registrar-test-${process.pid}`);
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'btn-regbundle-'));
    await bundleRegistrar(out);
  }, 60_000);
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  it('carries no TypeScript loader: no file of the bundle imports tsx', async () => {
    for (const f of await readdir(out)) {
      const text = await readFile(join(out, f), 'utf8');
      expect(/from\s*["']tsx|import\(["']tsx/.test(text), f).toBe(false);
    }
  });

  it('runs keygen and opens a SQLite store under plain node', async () => {
    const key = join(work, 'root.key');
    const keygen = await run(process.execPath, [join(out, 'btn-provision.mjs'), 'keygen', '--out', key]);
    expect(keygen.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    const list = await run(process.execPath, [join(out, 'btn-provision.mjs'), 'nodes', 'list', '--db', `sqlite:${join(work, 'r.db')}`]);
    expect(JSON.parse(list.stdout)).toEqual([]);
  }, 60_000);

  it('ships the manifest line-check worker beside it, bundled, checking lines without tsx', async () => {
    const worker = new Worker(join(out, 'line-check-worker.js'), { workerData: { trustPem: '' } });
    try {
      const bytes = new Uint8Array(Buffer.from('not json{"serial":""}'));
      const reply = new Promise<{ id: number; results: { code: string }[] }>((ok, fail) => {
        worker.once('message', ok);
        worker.once('error', fail);
      });
      worker.postMessage({ id: 7, bytes, ends: Int32Array.from([8, 8, 21]), now: Date.now() });
      const { id, results } = await reply;
      expect(id).toBe(7);
      expect(results.map((r) => r.code)).toEqual(['ERR_LINE_MALFORMED', 'ERR_LINE_MALFORMED', 'ERR_LINE_FIELD']);
    } finally {
      await worker.terminate();
    }
  }, 60_000);
});
