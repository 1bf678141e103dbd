// btn-node run when the TPM is not there yet: it waits with backoff, says why in status.json,
// and starts by itself once the TPM appears (no crash loop). A corrupt journal still stops it.
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTransientStartupError, retryUntilReady } from '../../../firmware/agent/startup.ts';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { startBroker } from '../../../firmware/transport/index.ts';
import { startSwtpm } from '../../../tpm/swtpm.ts';
import { until } from '../../until.ts';
import { freePort } from '../../net.ts';

const clerkPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'btn-startup-test-')); });
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function statusOf(stateDir: string): Promise<Record<string, any> | null> {
  try {
    return JSON.parse(await readFile(join(stateDir, 'status.json'), 'utf8'));
  } catch {
    return null;
  }
}


describe('retryUntilReady', () => {
  it('retries transient faults, rethrows the others at once, and stops when aborted', async () => {
    const logger = pino({ level: 'silent' });
    const stop = new AbortController();
    let calls = 0;
    const sleep = async (): Promise<void> => undefined;
    const value = await retryUntilReady('thing', async () => {
      calls++;
      if (calls < 3) throw Object.assign(new Error('no TPM'), { code: 'ERR_TPM_UNREACHABLE' });
      return 42;
    }, { signal: stop.signal, logger, stateDir: join(dir, 'r1'), nodeId: 'n', sleep });
    expect(value).toBe(42);
    expect(calls).toBe(3);
    const status = await statusOf(join(dir, 'r1'));
    expect(status?.['activation'].reason).toContain('no TPM');
    expect(status?.['lastErrors']).toHaveLength(2);

    await expect(retryUntilReady('thing', async () => { throw Object.assign(new Error('corrupt'), { code: 'ERR_JOURNAL_CORRUPT' }); },
      { signal: stop.signal, logger, stateDir: join(dir, 'r2'), nodeId: 'n', sleep })).rejects.toThrow('corrupt');

    stop.abort();
    expect(await retryUntilReady('thing', async () => { throw Object.assign(new Error('x'), { code: 'ERR_TPM_UNREACHABLE' }); },
      { signal: stop.signal, logger, stateDir: join(dir, 'r3'), nodeId: 'n', sleep })).toBeNull();
    expect(isTransientStartupError(Object.assign(new Error(), { code: 'ERR_RUN_CONFIG' }))).toBe(false);
    // Another agent holding the journal is said at once, never waited for; a disk that fails is waited for.
    expect(isTransientStartupError(Object.assign(new Error(), { code: 'ERR_JOURNAL_LOCKED' }))).toBe(false);
    expect(isTransientStartupError(Object.assign(new Error(), { code: 'ERR_JOURNAL_IO' }))).toBe(true);
  });
});


async function getJson(url: string): Promise<Record<string, any> | null> {
  try {
    const r = await fetch(url);
    return r.ok ? ((await r.json()) as Record<string, any>) : null;
  } catch {
    return null;
  }
}

describe('btn-node run without a TPM at first', () => {
  it('waits, reports the missing TPM in status.json and on the status page, then starts once swtpm comes up, with telemetry', { timeout: 90_000 }, async () => {
    const broker = await startBroker();
    const stop = new AbortController();
    const tpmState = join(dir, 'tpm');
    // Manufacture a TPM, learn its port, and stop it: the agent starts while nothing listens there.
    const swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: tpmState });
    await swtpm.stop();
    const stateDir = join(dir, 'node');
    await mkdir(stateDir, { recursive: true });
    const config = join(dir, 'run.json');
    const statusPort = await freePort();
    const prefix = `btn/startup-${process.pid}`;
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, topicPrefix: prefix, stateDir, primaries: [clerkPem],
      genesis: { hash: 'ab'.repeat(32), height: 0 }, devnetActive: true, protocol: 4, logLevel: 'silent',
      board: new URL('../../../board-configs/qemu-x86_64.json', import.meta.url).pathname, status: { port: statusPort, host: '127.0.0.1' },
    }));
    const page = `http://127.0.0.1:${statusPort}`;
    const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const telemetry: Record<string, any>[] = [];
    watcher.on('message', (_t, payload) => telemetry.push(JSON.parse(payload.toString())));
    await watcher.subscribeAsync(`${prefix}/nodes/+/telemetry`);
    let started = false;
    const run = runCommand(['--config', config], { signal: stop.signal, onStarted: () => { started = true; } });
    try {
      const waiting = await until('a waiting status', async () => {
        const s = await statusOf(stateDir);
        return s?.['state'] === 'idle' ? s : null;
      });
      expect(waiting['activation'].reason).toContain(swtpm.tcti);
      expect(waiting['lastErrors'][0].code).toBe('ERR_TPM_UNREACHABLE');
      expect(started).toBe(false);
      // The household's page says the same while the agent waits.
      const shown = await until('the waiting status on the page', async () => {
        const j = await getJson(`${page}/status.json`);
        return j?.['activation']?.reason?.includes('ERR_TPM') || j?.['activation']?.reason?.includes(swtpm.tcti) ? j : null;
      });
      expect(shown['board']).toBe('qemu-x86_64');

      await swtpm.restart();
      await until('the agent to start', async () => started);
      await until('a running status', async () => (await statusOf(stateDir))?.['state'] === 'running');
      const live = await until('the running status on the page', async () => {
        const j = await getJson(`${page}/status.json`);
        return j?.['state'] === 'running' ? j : null;
      });
      expect(live['tpm']?.manufacturer).toBeTruthy();
      expect(await (await fetch(`${page}/metrics`)).text()).toMatch(/^btn_tpm_up(\{[^}]*\})? 1$/m);
      const sample = await until('a telemetry message', async () => telemetry[0]);
      expect(sample['memory']).toBeDefined();
    } finally {
      await watcher.endAsync();
      stop.abort();
      expect(await run).toBe(0);
      await swtpm.destroy();
      await broker.close();
    }
  });
});
