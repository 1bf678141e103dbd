// Group commit keeps every answer durable: a process completes a few hundred activations at once
// (more than one group), prints their outcomes once answered, and is killed (SIGKILL) at once;
// the store reopened by another process holds every completed activation, and the one refused
// (its device revoked meanwhile) changed nothing. SQLite in a real file; PostgreSQL at BTN_PG_URL.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore, type ActivationOutcome } from '../../provisioning/store/index.ts';

const PG_URL = process.env['BTN_PG_URL'];
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'group-commit-child.ts');
const COUNT = 300;
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Runs the child until it prints its outcomes, then kills it with SIGKILL. */
async function activateAndKill(url: string, schema: string): Promise<ActivationOutcome[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url, schema, String(COUNT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-2000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      void exited.then(() => reject(new Error(`child exited before answering: ${stderr}`)));
    });
    return JSON.parse(line) as ActivationOutcome[];
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

async function checkDurable(url: string, schema: string): Promise<void> {
  const outcomes = await activateAndKill(url, schema);
  expect(outcomes).toHaveLength(COUNT);
  outcomes.forEach((o, i) => expect(o).toEqual(i === 7 ? { ok: false, reason: 'revoked' } : { ok: true, brokerGeneration: 1, reactivated: false }));
  const store = await openStore(url, schema === '-' ? {} : { schema });
  try {
    expect(await store.countDevices()).toEqual({ filed: 0, active: COUNT - 1, revoked: 1 });
    for (let i = 0; i < COUNT; i++) {
      const d = await store.getDevice(sha(`ek ${i}`));
      if (i === 7) expect(d).toMatchObject({ state: 'revoked', certificate: null, brokerGeneration: 0 });
      else expect(d).toMatchObject({ state: 'active', certificate: `cert ${i}`, activatedAt: 3, brokerGeneration: 1 });
      expect((await store.getChallenge(`kill-${i}`))?.usedAt).toBe(i === 7 ? null : 3);
    }
  } finally {
    await store.close();
  }
}

describe('group commit: every answered activation is durable when the process is killed', () => {
  it('SQLite (a real file, reopened)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'btn-group-kill-'));
    try {
      await checkDurable(`sqlite:${join(dir, 'p.db')}`, '-');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.skipIf(PG_URL === undefined)('PostgreSQL (BTN_PG_URL)', async () => {
    const schema = `btn_kill_${process.pid}_${randomBytes(3).toString('hex')}`;
    try {
      await checkDurable(PG_URL!, schema);
    } finally {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }, 60_000);
});
