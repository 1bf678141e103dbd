// Test helper: a real mosquitto on a free loopback port with a throwaway config
// (listener PORT 127.0.0.1, allow_anonymous true, persistence false). stop()/start() keep the port.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO_BIN = process.env['MOSQUITTO_BIN'] ?? '/usr/sbin/mosquitto';

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** Start again on the same port. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Stop and remove the temp dir. */
  destroy(): Promise<void>;
  /** Everything mosquitto wrote to stderr/stdout (for failure messages). */
  output(): string;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export async function startMosquitto(options: { port?: number; extraConfig?: string } = {}): Promise<Mosquitto> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'btn-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', options.extraConfig ?? ''].join('\n') + '\n');
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
    for (let i = 0; i < 200; i++) {
      if (exited) throw new Error(`mosquitto exited at start on port ${port}: ${log}`);
      if (await canConnect(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`mosquitto did not listen on ${port}: ${log}`);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    child = null;
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((r) => { c.once('exit', () => r()); c.kill('SIGTERM'); });
  };

  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    stop,
    start,
    restart: async () => { await stop(); await start(); },
    destroy: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); },
    output: () => log,
  };
}
