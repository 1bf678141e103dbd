// Test helper: a real mosquitto on a free loopback port with a throwaway config
// (listener PORT 127.0.0.1, allow_anonymous true, persistence false unless asked for).
// stop()/kill()/start() keep the port and, with persistence, the database in the temp dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../net.ts';
import { until } from '../../until.ts';

export { freePort };

export const MOSQUITTO_BIN = process.env['MOSQUITTO_BIN'] ?? '/usr/sbin/mosquitto';

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  /** The database file mosquitto saves to (persistence only; absent until its first save). */
  readonly dbFile: string | null;
  /** SIGTERM and wait for exit (with persistence, mosquitto saves its database on the way out). */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash; with persistence only the last autosave survives. */
  kill(): Promise<void>;
  /** Start again on the same port. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Stop and remove the temp dir. */
  destroy(): Promise<void>;
  /** Everything mosquitto wrote to stderr/stdout (for failure messages). */
  output(): string;
}


function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export interface MosquittoOptions {
  readonly port?: number;
  readonly extraConfig?: string;
  /** Keep retained messages and persistent sessions across restarts, saved every `autosaveSeconds` (default 1) and on SIGTERM. */
  readonly persistence?: boolean;
  readonly autosaveSeconds?: number;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'btn-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const persistence = options.persistence
    // Started as root (CI), mosquitto drops to its own user, which cannot write our 0700 temp dir: stay who we are.
    ? ['persistence true', `persistence_location ${dir}/`, `autosave_interval ${options.autosaveSeconds ?? 1}`, `user ${userInfo().username}`]
    : ['persistence false'];
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', ...persistence, 'log_dest stderr', 'log_type error', 'log_type warning', options.extraConfig ?? ''].join('\n') + '\n');
  let child: ChildProcess | null = null;
  let log = '';

  const start = async (): Promise<void> => {
    if (child) return;
    const c = spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
    c.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    let exited = false;
    c.once('exit', () => { exited = true; if (child === c) child = null; });
    // The port may still be in TIME_WAIT/held right after a stop: retry for up to 10 s.
    await until(`mosquitto to listen on ${port}`, () => canConnect(port), {
      ms: 10_000, lastSeen: () => log, stopIf: () => (exited ? `mosquitto exited at start on port ${port}: ${log}` : null),
    });
  };

  const end = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const c = child;
    if (!c) return;
    child = null;
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((r) => { c.once('exit', () => r()); c.kill(signal); });
  };
  const stop = (): Promise<void> => end('SIGTERM');

  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dbFile: options.persistence ? join(dir, 'mosquitto.db') : null,
    stop,
    kill: () => end('SIGKILL'),
    start,
    restart: async () => { await stop(); await start(); },
    destroy: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); },
    output: () => log,
  };
}
