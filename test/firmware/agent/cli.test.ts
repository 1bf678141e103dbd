// btn-node run / status (command modules, wired into main.ts by the lead): config validation,
// and one real run on swtpm + aedes that seals a candidate and stops cleanly.
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockToJson } from '../../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';
import { parseRunConfig, runCommand, RunConfigError } from '../../../firmware/cli/run-command.ts';
import { statusCommand } from '../../../firmware/cli/status-command.ts';
import { sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { createMqttTransport, startBroker, topicsFor } from '../../../firmware/transport/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { until } from '../../until.ts';
import { freePort } from '../../net.ts';

const BIN = fileURLToPath(new URL('../../../firmware/bin/btn-node.js', import.meta.url));
/** The development `btn-node`, as an operator runs it: exit code and stderr. */
function runBin(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr });
    });
  });
}

const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clerkPem = clerk.publicKey.export({ type: 'spki', format: 'pem' }).toString();
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'btn-cli-test-')); });
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('run config', () => {
  it('names every wrong field at once', () => {
    let err: RunConfigError | undefined;
    try {
      parseRunConfig({
        tcti: 'bogus:x', sealingHandle: '0x01', broker: 'http://x', topicPrefix: 'a/+', nodeId: 'a b', primaries: ['nope.pem'],
        genesis: { hash: 'zz', height: -1 }, params: { sealZeros: 999, spinIntervalMs: 0, nonsense: 1 }, devnetActive: 'yes', extra: 1,
      }, join(dir, 'c.json'));
    } catch (e) {
      err = e as RunConfigError;
    }
    expect(err?.code).toBe('ERR_RUN_CONFIG');
    const fields = err!.problems.map((p) => p.split(':')[0]!.replace(/^params\.params\./, 'params.'));
    for (const f of ['extra', 'tcti', 'sealingHandle', 'broker', 'topicPrefix', 'nodeId', 'primaries[0]', 'genesis.hash', 'genesis.height', 'params.nonsense', 'devnetActive']) {
      expect(fields.some((x) => x.startsWith(f)), `${f} in ${JSON.stringify(err!.problems)}`).toBe(true);
    }
    expect(err!.problems.some((p) => p.includes('sealZeros'))).toBe(true);
    expect(err!.problems.some((p) => p.includes('spinIntervalMs'))).toBe(true);
  });

  it('accepts a minimal config, reading primaries from a PEM file next to it', async () => {
    const secondPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    await writeFile(join(dir, 'clerks.pem'), clerkPem + secondPem);
    const c = parseRunConfig({ tcti: 'swtpm:port=2321', broker: 'mqtt://127.0.0.1:1883', stateDir: 'state', primaries: 'clerks.pem', genesis: { hash: 'ab'.repeat(32), height: 0 } }, join(dir, 'c.json'));
    expect(c.pinned?.primaries.size).toBe(2);
    expect(c.stateDir).toBe(join(dir, 'state'));
    expect(c.journal).toBe(join(dir, 'state', 'seal-journal'));
    expect(c.pinned?.params.version).toBe(1);
    expect(c.pinned?.committee).toBeNull();
    expect(c.network).toBe('devnet');
    expect(c.devnetActive).toBe(false);
    expect(c.homeAssistant).toBe(true);
    expect(c.brokerFallbacks).toEqual([]);
    expect(c.brokerSubscribeQos).toBe(1);
  });

  it('takes a broker cluster: its other members (same scheme, at most 16) and the subscription QoS', () => {
    const pinned = { tcti: 'swtpm:port=2321', primaries: [clerkPem], genesis: { hash: 'ab'.repeat(32), height: 0 } };
    const c = parseRunConfig({ ...pinned, broker: 'mqtt://a:1883', brokerFallbacks: ['mqtt://b:1883', 'mqtt://c:1883'], brokerSubscribeQos: 0 }, join(dir, 'c.json'));
    expect([c.brokerFallbacks, c.brokerSubscribeQos]).toEqual([['mqtt://b:1883', 'mqtt://c:1883'], 0]);
    const problems = (v: Record<string, unknown>): readonly string[] => {
      try {
        parseRunConfig({ ...pinned, broker: 'mqtts://a:8883', ...v }, join(dir, 'c.json'));
        return [];
      } catch (err) {
        return (err as RunConfigError).problems;
      }
    };
    expect(problems({ brokerFallbacks: ['mqtt://b:1883'] })).toEqual(['brokerFallbacks[0]: must use the broker\'s scheme (mqtts://)']);
    expect(problems({ brokerFallbacks: Array.from({ length: 17 }, (_, i) => `mqtts://m${i}:8883`) })[0]).toMatch(/^brokerFallbacks: /);
    expect(problems({ brokerFallbacks: ['not a url'] })[0]).toMatch(/^brokerFallbacks\[0\]: /);
    expect(problems({ brokerSubscribeQos: 2 })[0]).toMatch(/^brokerSubscribeQos: /);
  });
});

describe('run config: where the network terms come from', () => {
  const base = { tcti: 'swtpm:port=2321', broker: 'mqtt://127.0.0.1:1883', stateDir: 'state' };
  const root = { url: 'https://root.example', publicKey: 'ab'.repeat(32) };
  const problems = (v: unknown): string[] => {
    try {
      parseRunConfig(v, join(dir, 'c.json'));
    } catch (err) {
      return (err as RunConfigError).problems as string[];
    }
    return [];
  };

  it('with root, takes the network name only: params, primaries, genesis and committee come from the signed manifest', () => {
    const c = parseRunConfig({ ...base, root, network: 'mainnet' }, join(dir, 'c.json'));
    expect(c.network).toBe('mainnet');
    expect(c.pinned).toBeNull();
    // The network broker refuses Home Assistant discovery (the node's role): off unless asked for.
    expect(c.homeAssistant).toBe(false);
    expect(parseRunConfig({ ...base, root, network: 'mainnet', homeAssistant: true }, join(dir, 'c.json')).homeAssistant).toBe(true);
    expect(problems({ ...base, root, network: 'mainnet', homeAssistant: 'yes' })).toEqual(['homeAssistant: expected boolean']);
    const p = problems({ ...base, root, primaries: clerkPem, genesis: { hash: 'ab'.repeat(32), height: 0 }, params: {}, committee: {} });
    for (const f of ['primaries', 'genesis', 'params', 'committee', 'network']) expect(p.some((x) => x.startsWith(`${f}:`)), `${f} in ${JSON.stringify(p)}`).toBe(true);
    expect(problems({ ...base, root, network: 'bad name/with slash' }).some((x) => x.startsWith('network:'))).toBe(true);
  });

  it('without root, may pin a committee, which must be a majority of distinct Ed25519 keys', () => {
    const members = Array.from({ length: 3 }, () => Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12)).toString('hex'));
    const pinned = { ...base, primaries: clerkPem, genesis: { hash: 'ab'.repeat(32), height: 0 } };
    const c = parseRunConfig({ ...pinned, committee: { members, quorum: 2 } }, join(dir, 'c.json'));
    expect(c.pinned?.committee?.quorum).toBe(2);
    expect(problems({ ...pinned, committee: { members, quorum: 1 } })).toEqual([expect.stringMatching(/^committee: quorum: must be a majority/)]);
    expect(problems({ ...pinned, committee: { members: ['zz'], quorum: 1 } })).toEqual([expect.stringMatching(/^committee.members\[0\]: expected hex of 32 bytes/)]);
  });
});

describe('btn-node status', () => {
  it('exits 1 with a clear message when no agent wrote a status', async () => {
    let err = '';
    const code = await statusCommand(['--state-dir', join(dir, 'nothing-here')], { err: (t) => (err += t), out: () => undefined });
    expect(code).toBe(1);
    expect(err).toContain('status.json missing');
  });
});

describe('btn-node run (swtpm + aedes)', () => {
  let swtpm: SwtpmInstance;
  beforeAll(async () => { swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') }); }, 30_000);
  afterAll(async () => swtpm?.destroy());

  it('runs an agent from a config file, seals a candidate, reports status, stops on abort', { timeout: 60_000 }, async () => {
    const broker = await startBroker();
    // The config's broker is a dead member of a "cluster": the node goes on through its fallback, subscribed at QoS 0.
    const deadMember = `mqtt://127.0.0.1:${await freePort()}`;
    const prefix = `btn/cli-${process.pid}`;
    const topics = topicsFor(prefix);
    const genesisHash = new Uint8Array(createHash('sha256').update('cli genesis').digest());
    const params = { sealZeros: 2, clerkZeros: 1, spinIntervalMs: 10, maxRounds: 200, sealDeadlineMs: 8000 };
    const config = join(dir, 'run.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: deadMember, brokerFallbacks: [broker.url], brokerSubscribeQos: 0, topicPrefix: prefix, stateDir: 'node', primaries: [clerkPem],
      genesis: { hash: Buffer.from(genesisHash).toString('hex'), height: 0, timestamp: Date.now() - 1000 }, params, devnetActive: true, protocol: 4, logLevel: 'silent',
    }));
    const clerkFp = keyFingerprint(spkiOf(clerk.publicKey));
    const watcher = createMqttTransport({ url: broker.url, nodeId: 'clerk', clientId: `cli-clerk-${process.pid}`, prefix, protocol: 4, status: false });
    const seals: SealMessage[] = [];
    watcher.subscribe(topics.seals(clerkFp), (m) => { seals.push(m.value); }, { schema: sealMessage });
    const ac = new AbortController();
    let started: { nodeId: string } | undefined;
    try {
      await watcher.online();
      const run = runCommand(['--config', config], { signal: ac.signal, onStarted: (i) => (started = i) });
      await until('the node to start', () => started, 30_000, 20);
      expect(started?.nodeId).toMatch(/^n-[0-9a-f]{24}$/);
      // A second `btn-node run` on the same state directory exits at once, naming the running one.
      const second = await runBin(['run', '--config', config]);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`^btn-node: seal journal ${join(dir, 'node', 'seal-journal')} is held by pid ${process.pid} \\(.+, since \\d{4}-.+\\); two agents must never share a journal \\[ERR_JOURNAL_LOCKED\\]\n$`));
      const draw = drawUntilQualified(clerk.privateKey, genesisHash, 1, 1000)!;
      const block = createBlock({ clerkKey: clerk.privateKey, height: 1, previousHash: genesisHash, timestamp: Date.now(), drawRound: draw.round, drawSignature: draw.signature });
      // Retained: reaches the agent even if its subscription lands after this publish.
      await watcher.publish(topics.candidates, JSON.stringify(blockToJson(block)), { qos: 1, retain: true });
      await until('a seal from the node', () => seals.length > 0, 30_000, 20);
      expect(seals[0]?.nodeId).toBe(started!.nodeId);
      ac.abort();
      expect(await run).toBe(0);
      let out = '';
      expect(await statusCommand(['--state-dir', join(dir, 'node')], { out: (t) => (out += t) })).toBe(0);
      expect(out).toContain(`node ${started!.nodeId}: stopped`);
      expect(out).toContain('activation: active');
      expect(out).toContain('seals: 1 made');
      let json = '';
      await statusCommand(['--state-dir', join(dir, 'node'), '--json'], { out: (t) => (json += t) });
      expect(JSON.parse(json).seals.made).toBe(1);
      // The sealing key signed a fresh self-test message at start (what the update health check requires).
      expect(JSON.parse(json).tpm.selfTest).toMatchObject({ verified: true });
    } finally {
      ac.abort();
      await watcher.close();
      await broker.close();
    }
  });
});
