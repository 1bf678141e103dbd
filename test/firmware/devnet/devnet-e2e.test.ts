// End to end: `btn-node devnet --json` as a subprocess with real agents, swtpm TPMs and the
// in-process broker, then against a real mosquitto; every line checked with node:crypto alone.
// Also: SIGINT in the middle of a run stops it and removes every TPM it started.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../transport/mosquitto.ts';
import { checkDevnetLines } from './devnet-lines.ts';

const ROOT = join(import.meta.dirname, '../../..');
// The real entry point; the test wrapper only to run stand-in agents (SIGINT test).
const COMMAND = ['firmware/bin/btn-node.js', 'devnet'];
const WRAPPER = ['--import', 'tsx', 'test/firmware/devnet/devnet-cli.ts'];

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function devnet(args: string[], env: Record<string, string> = {}, onStdout?: (chunk: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  // Stand-in agents only through the test wrapper.
  const command = env['BTN_DEVNET_STAND_IN'] === '1' ? WRAPPER : COMMAND;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...command, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); onStdout?.(stdout, (s) => child.kill(s)); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.once('error', reject);
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

let mosquitto: Mosquitto | undefined;
afterAll(async () => { await mosquitto?.destroy(); });

describe('btn-node devnet (subprocess)', () => {
  it('--nodes 3 --blocks 3 --json: 3 final blocks, every seal verifiable from the output alone', async () => {
    const run = await devnet(['--nodes', '3', '--blocks', '3', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const checked = checkDevnetLines(run.stdout, 3);
    expect(checked.blocks.map((b) => b['height'])).toEqual([1, 2, 3]);
    expect(new Set(checked.blocks.flatMap((b) => (b['seals'] as { node: string }[]).map((s) => s.node))).size).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('runs against a real mosquitto broker (MQTT 5)', async () => {
    mosquitto = await startMosquitto();
    const run = await devnet(['--nodes', '2', '--blocks', '2', '--json', '--broker', mosquitto.url]);
    expect(run.code, run.stderr).toBe(0);
    checkDevnetLines(run.stdout, 2);
  }, 120_000);

  it('SIGINT stops a run, exits 130 and leaves no TPM running', async () => {
    let sent = false;
    const run = await devnet(['--nodes', '2', '--blocks', '10000'], { BTN_DEVNET_STAND_IN: '1' }, (out, kill) => {
      if (!sent && /#1 FINAL/.test(out)) { sent = true; kill('SIGINT'); }
    });
    expect(sent, run.stdout + run.stderr).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    const ports = [...run.stdout.matchAll(/port=(\d+)/g)].map((m) => Number(m[1]));
    expect(ports).toHaveLength(2);
    for (const port of ports) expect(await canConnect(port)).toBe(false);
    const state = /^state: (\S+) \(removed at the end\)$/m.exec(run.stdout)?.[1];
    expect(state).toMatch(/btn-devnet-/);
    expect(existsSync(state!)).toBe(false);
  }, 120_000);
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
