// Bad input and faults at start: `btn-node run` as a child process with a board
// config that has a wrong and a missing field (exit 78, EX_CONFIG, which the systemd unit does
// not restart on; every field named in one message), and with a TPM device node that does not
// exist (no crash loop: it waits with backoff, says once which device is missing and what to
// check, and the status page shows the same sentence). A TPM that appears later is
// test/firmware/agent/startup.test.ts.
import { generateKeyPairSync } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, getText, LEVEL, pageFaults, spawnAgent, unescapeHtml, until, type AgentChild } from './harness.ts';

const BOARD = new URL('../../../board-configs/rpi4.json', import.meta.url).pathname;
let dir: string;
let agent: AgentChild | null = null;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-startup-faults-'));
  await writeFile(join(dir, 'clerk.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
});

afterAll(async () => {
  await agent?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function config(name: string, extra: Record<string, unknown>): Promise<string> {
  const path = join(dir, `${name}.json`);
  await writeFile(path, JSON.stringify({
    tcti: 'device:/dev/tpmrm0', broker: 'mqtt://127.0.0.1:1', stateDir: join(dir, name), nodeId: name, primaries: 'clerk.pem',
    genesis: { hash: 'ab'.repeat(32), height: 0 }, devnetActive: true, protocol: 4, ...extra,
  }));
  return path;
}

describe('start-up faults under btn-node run', () => {
  it('a board config with a wrong and a missing field: exit 78, both named in one message', async () => {
    const board = JSON.parse(await readFile(BOARD, 'utf8')) as Record<string, unknown>;
    delete board['tcti'];
    board['telemetryIntervalS'] = -5;
    await writeFile(join(dir, 'board.json'), JSON.stringify(board));
    const a = spawnAgent({ config: await config('bad-board', { board: 'board.json' }) });
    expect(await new Promise((resolve) => a.child.once('exit', resolve))).toBe(78);
    const text = a.stderr();
    expect(text.trim().split('\n')[0]).toMatch(/^btn-node: config .*bad-board\.json: 2 problems:$/);
    expect(text).toMatch(/- board\.tcti: /);
    expect(text).toMatch(/- board\.telemetryIntervalS: /);
    expect(text).toContain('[ERR_RUN_CONFIG]');
    expect(text.match(/btn-node:/g)).toHaveLength(1);
  });

  it('a TPM device node that does not exist: waits, says once which and what to check, same on the page', async () => {
    const port = await freePort();
    const page = `http://127.0.0.1:${port}`;
    const device = join(dir, 'no-such-tpmrm0');
    agent = spawnAgent({ config: await config('no-tpm', { tcti: `device:${device}`, logLevel: 'debug', status: { port, host: '127.0.0.1' } }) });
    const a = agent;
    const fault = await until('the TPM fault on the status page', async () => (await pageFaults(page))?.find((f) => f.key === `TPM at device:${device}`), 30_000, a);
    expect(fault.message).toBe(`TPM at device:${device}: ${device} does not exist (ENOENT): no TPM found; check that the TPM module is seated and enabled (on a Raspberry Pi: dtoverlay=tpm-slb9670 in config.txt)`);
    await until('three attempts', () => a.lines.filter((l) => l['code'] === 'ERR_TPM_UNREACHABLE').length >= 3, 30_000, a);
    expect(a.lines.filter((l) => l.level >= LEVEL.warn && l['code'] === 'ERR_TPM_UNREACHABLE').map((l) => l.msg)).toEqual([fault.message]);
    expect(unescapeHtml(await getText(`${page}/`))).toContain(fault.message);
    expect(await getText(`${page}/metrics`)).toMatch(/^btn_tpm_up\{node="no-tpm"\} 0$/m);
    expect(a.child.exitCode).toBeNull();
    expect(await a.stop()).toBe(0);
    agent = null;
  });

  it('a config that cannot be used but names a status page: the page shows the problems, no restart loop, exit 78 when stopped', async () => {
    const port = await freePort();
    const page = `http://127.0.0.1:${port}`;
    // What a freshly flashed image has before its boot partition names the clerks: no primaries file.
    agent = spawnAgent({ config: await config('unconfigured', { primaries: 'missing.pem', status: { port, host: '127.0.0.1' } }) });
    const a = agent;
    const fault = await until('the config fault on the status page', async () => (await pageFaults(page))?.find((f) => f.key === 'config'), 30_000, a);
    expect(fault.code).toBe('ERR_RUN_CONFIG');
    expect(fault.message).toMatch(/unconfigured\.json cannot be used: primaries: cannot read missing\.pem/);
    expect(unescapeHtml(await getText(`${page}/`))).toContain(fault.message);
    expect(a.child.exitCode).toBeNull(); // waiting, not exiting into a restart loop
    expect(a.lines.filter((l) => l.level >= LEVEL.error && l['code'] === 'ERR_RUN_CONFIG')).toHaveLength(1);
    expect(await a.stop()).toBe(78); // still EX_CONFIG: the unit does not restart it
    agent = null;
  });
});

// As the image runs it: systemd binds port 80 (btn-node.socket) and passes the socket, and the set-up
// script leaves what it refused in btn-node.txt beside the config. systemd-socket-activate does
// what the socket unit does (LISTEN_FDS, LISTEN_FDNAMES=status) and execs the agent at the first
// connection.
describe('on the image: the page on the socket systemd passes, with the problems of btn-node.txt', () => {
  const PROBLEMS = "WIFI_COUNTRY: 'Germany' is not a country code: two letters such as DE, GB or US\nunknown key 'WIFI_SSD' in btn-node.txt, ignored (a typing error?)\n";
  const activate = async (): Promise<string[] | null> =>
    promisify(execFile)('systemd-socket-activate', ['--help']).then(() => ['systemd-socket-activate', '-l', `127.0.0.1:${socketPort}`, '--fdname=status'], () => null);
  let socketPort = 0;
  let image = '';
  beforeAll(async () => {
    image = join(dir, 'image');
    await mkdir(image);
    await writeFile(join(image, 'setup-problems'), PROBLEMS);
  });
  async function imageConfig(name: string, extra: Record<string, unknown>): Promise<string> {
    const path = join(image, `${name}.json`);
    await writeFile(path, await readFile(await config(name, { primaries: join(dir, 'clerk.pem'), ...extra }), 'utf8'));
    return path;
  }

  for (const unusable of [false, true]) {
    it(unusable ? 'a config that cannot be used: its problems and those of btn-node.txt' : 'a node waiting for its TPM: the problems of btn-node.txt beside its own', async (ctx) => {
      socketPort = await freePort();
      const launcher = await activate();
      if (launcher === null) ctx.skip();
      // The config's own port stays closed: the passed socket is used instead of binding it.
      const configPort = await freePort();
      const extra = { tcti: `device:${join(dir, 'no-such-tpmrm0')}`, status: { port: configPort, host: '127.0.0.1' }, ...(unusable ? { primaries: 'missing.pem' } : {}) };
      agent = spawnAgent({ config: await imageConfig(unusable ? 'image-unusable' : 'image-no-tpm', extra), launcher: launcher! });
      const a = agent;
      const page = `http://127.0.0.1:${socketPort}`;
      const faults = await until('the set-up problems on the page', async () => {
        const f = await pageFaults(page).catch(() => null);
        return f !== null && f.some((x) => x.key === 'btn-node.txt (2)') && f.some((x) => x.key === (unusable ? 'config' : `TPM at device:${join(dir, 'no-such-tpmrm0')}`)) ? f : null;
      }, 30_000, a);
      expect(faults.filter((f) => f.key.startsWith('btn-node.txt')).map((f) => [f.code, f.message])).toEqual([
        ['ERR_SETUP_VALUE', "btn-node.txt: WIFI_COUNTRY: 'Germany' is not a country code: two letters such as DE, GB or US"],
        ['ERR_SETUP_VALUE', "btn-node.txt: unknown key 'WIFI_SSD' in btn-node.txt, ignored (a typing error?)"],
      ]);
      expect(unescapeHtml(await getText(`${page}/`))).toContain("WIFI_COUNTRY: 'Germany' is not a country code");
      expect(await fetch(`http://127.0.0.1:${configPort}/`).then(() => 'open', () => 'closed')).toBe('closed');
      expect(await a.stop()).toBe(unusable ? 78 : 0);
      agent = null;
    });
  }
});

