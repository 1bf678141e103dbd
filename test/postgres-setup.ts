// vitest global setup: the store contract suite needs a real PostgreSQL server. CI (.ci/run)
// starts Debian's cluster and exports BTN_PG_URL; when it is not set, start a throwaway server
// here (initdb into a temp dir, loopback only, stopped and deleted afterwards) so that
// `npm test` on a developer machine runs the PostgreSQL half too instead of skipping it.
import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './net.ts';

const execFileAsync = promisify(execFile);

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env['BTN_PG_URL']) return undefined;
  const bin = await postgresBin();
  if (bin === null) {
    if (process.env['CI']) throw new Error('postgres-setup: CI is set, BTN_PG_URL is not, and no PostgreSQL server binaries are under /usr/lib/postgresql');
    console.warn('postgres-setup: no PostgreSQL server binaries under /usr/lib/postgresql and BTN_PG_URL unset; the PostgreSQL half of the store contract will be skipped');
    return undefined;
  }
  // PostgreSQL refuses to run as root: run it as Debian's postgres user then.
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'btn-pg-'));
  const run = async (tool: string, args: string[]): Promise<void> => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    await execFileAsync(cmd as string, argv as string[], { timeout: 60_000 });
  };
  try {
    if (asRoot) {
      const { stdout } = await execFileAsync('id', ['-u', 'postgres']);
      const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    const data = join(dir, 'data');
    const port = await freePort();
    await run('initdb', ['-D', data, '-U', 'btn', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    await run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start']);
    await run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'btn', 'btn_test']);
    process.env['BTN_PG_URL'] = `postgres://btn@127.0.0.1:${port}/btn_test`;
    return async () => {
      await run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`postgres-setup: could not start a throwaway PostgreSQL (set BTN_PG_URL to use an existing server): ${(err as Error).message}`);
  }
}

async function postgresBin(): Promise<string | null> {
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  const newest = versions.filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))[0];
  return newest === undefined ? null : `/usr/lib/postgresql/${newest}/bin`;
}

