// `btn-node run` drives the board's status LED on real parts (swtpm, the registrar in-process on
// SQLite, aedes); the LED itself is a directory shaped like /sys/class/leds/<name>, named by the
// board config. Not filed yet: slow blink. Filed and activated, but no network manifest yet: slow
// blink. With the root-signed manifest: heartbeat. Broker gone: slow blink. Revoked: fast blink. Stopped: off.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../net.ts';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { startProvisionedRoot, type ProvisionedRoot } from '../../../firmware/devnet/provisioned-root.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle } from '../../../firmware/transport/index.ts';
import { testNetwork } from '../../network.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { generateKeyPairSync } from 'node:crypto';
import { openTpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { until } from '../../until.ts';


const BOARDS = new URL('../../../board-configs/', import.meta.url).pathname;

describe('btn-node run with a status LED (swtpm + registrar + aedes)', () => {
  let dir: string;
  let swtpm: SwtpmInstance;
  let root: ProvisionedRoot;
  let broker: BrokerHandle;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-led-run-'));
    swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
    root = await startProvisionedRoot({ dir: join(dir, 'root'), trustDir: join(dir, 'ca'), logger: pino({ level: 'silent' }) });
    const tpm = await openTpm({ tcti: swtpm.tcti });
    try {
      await root.enroll(tpm, 'SN-LED-1', 'rpi4');
    } finally {
      await tpm.close();
    }
    broker = await startBroker();
  }, 60_000);

  afterAll(async () => {
    await broker?.close().catch(() => undefined);
    await root?.close();
    await swtpm?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('slow blink until activated, heartbeat when active and online, fast blink once revoked, off when stopped', { timeout: 90_000 }, async () => {
    const led = join(dir, 'sys', 'leds', 'ACT');
    await mkdir(led, { recursive: true });
    await writeFile(join(led, 'trigger'), 'none [mmc0] timer heartbeat\n');
    for (const f of ['brightness', 'delay_on', 'delay_off']) await writeFile(join(led, f), '0\n');
    await writeFile(join(led, 'max_brightness'), '255\n');
    const board = JSON.parse(await readFile(join(BOARDS, 'rpi4.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'board.json'), JSON.stringify({ ...board, statusLed: { path: join(led, 'brightness'), activeHigh: true } }));
    const config = join(dir, 'run.json');
    const pagePort = await freePort();
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, topicPrefix: `btn/led-${process.pid}`, stateDir: join(dir, 'node'),
      network: 'testnet',
      protocol: 4, logLevel: 'silent', board: join(dir, 'board.json'), status: { port: pagePort, host: '127.0.0.1' },
      root: { url: root.url, publicKey: Buffer.from(root.rootPublicKey).toString('hex'), revocationPollMs: 200 },
    }));
    const state = async (): Promise<string> => {
      const [trigger, on, off, brightness] = await Promise.all(['trigger', 'delay_on', 'delay_off', 'brightness'].map(async (f) => (await readFile(join(led, f), 'utf8')).trim()));
      return trigger === 'timer' ? `timer ${on}/${off}` : trigger === 'none' ? `none ${brightness}` : trigger!;
    };

    const ac = new AbortController();
    let nodeId: string | undefined;
    const run = runCommand(['--config', config], { signal: ac.signal, onStarted: (i) => (nodeId = i.nodeId) });
    try {
      await until('the agent to start', () => nodeId);
      // not filed yet: the gate keeps retrying, the LED says "waiting"
      expect(await until('slow blink', async () => ((await state()) === 'timer 1000/1000' ? 'ok' : null))).toBe('ok');
      expect(await root.uploadBatch()).toMatchObject({ filed: 1 });
      const active = async (): Promise<boolean> => ((await (await fetch(`http://127.0.0.1:${pagePort}/status.json`)).json()) as { activation: { state: string } }).activation.state === 'active';
      await until('activated', active);
      expect(await state()).toBe('timer 1000/1000'); // active, but no network manifest yet: still waiting
      const net = testNetwork({ clerks: [generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey], params: DEFAULT_PARAMS, genesis: { hash: new Uint8Array(32), height: 0 }, root: root.rootKey });
      const publisher = createMqttTransport({ url: broker.url, nodeId: 'root', clientId: `led-root-${process.pid}`, prefix: `btn/led-${process.pid}`, protocol: 4, status: false });
      await publisher.publish(topicsFor(`btn/led-${process.pid}`).manifest, JSON.stringify(net.manifest(1)), { qos: 1, retain: true });
      await publisher.close();
      await until('heartbeat once the manifest is taken', async () => (await state()) === 'heartbeat');
      // The status page gives the household the light's meaning for what it shows now.
      const page = await (await fetch(`http://127.0.0.1:${pagePort}/`)).text();
      expect(page).toMatch(/id="status-light">heartbeat: active and connected, sealing</);
      expect(((await (await fetch(`http://127.0.0.1:${pagePort}/status.json`)).json()) as { user?: string }).user).toBe(userInfo().username);
      // the broker goes away: waiting again
      await broker.close();
      await until('slow blink without the broker', async () => (await state()) === 'timer 1000/1000');
      expect(await root.revoke(nodeId!, 'stolen')).toBe(1);
      await until('fast blink once revoked', async () => (await state()) === 'timer 100/100');
    } finally {
      ac.abort();
      expect(await run).toBe(0);
    }
    expect(await state()).toBe('none 0');
  });

  it('a run that ends on a fault no restart fixes leaves the light blinking fast', { timeout: 60_000 }, async () => {
    const led = join(dir, 'sys', 'leds', 'ACT2');
    await mkdir(led, { recursive: true });
    await writeFile(join(led, 'trigger'), 'none [mmc0] timer heartbeat\n');
    for (const f of ['brightness', 'delay_on', 'delay_off']) await writeFile(join(led, f), '0\n');
    const board = JSON.parse(await readFile(join(BOARDS, 'rpi4.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'board2.json'), JSON.stringify({ ...board, statusLed: { path: join(led, 'brightness'), activeHigh: true } }));
    const config = join(dir, 'run2.json');
    // A nodeId that is not this TPM's, with a root: found once the TPM is open, after the light is up.
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: 'mqtt://127.0.0.1:9', stateDir: join(dir, 'node2'), nodeId: 'f'.repeat(64),
      network: 'testnet',
      protocol: 4, logLevel: 'silent', board: join(dir, 'board2.json'),
      root: { url: root.url, publicKey: Buffer.from(root.rootPublicKey).toString('hex') },
    }));
    await expect(runCommand(['--config', config])).rejects.toThrow(/nodeId/);
    const [trigger, on, off] = await Promise.all(['trigger', 'delay_on', 'delay_off'].map(async (f) => (await readFile(join(led, f), 'utf8')).trim()));
    expect(`${trigger} ${on}/${off}`).toBe('timer 100/100');
  });
});
