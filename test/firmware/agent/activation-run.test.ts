// btn-node run with "root" in its config, on real parts: swtpm, the registrar in-process on a
// SQLite file (the devnet's provisioned root: factory station, signed batch upload, operator
// revocation over HTTP), aedes. Not filed: never seals and status.json says why. Filed: the
// ActivationGate activates (ActivateCredential on the swtpm) and the agent seals with its
// root-signed registration. Revoked: it stops sealing.
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStatusFile, type NodeStatus } from '../../../firmware/status/index.ts';
import { blockToJson } from '../../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';
import { parseRunConfig, runCommand, RunConfigError } from '../../../firmware/cli/run-command.ts';
import { startProvisionedRoot, type ProvisionedRoot } from '../../../firmware/devnet/provisioned-root.ts';
import { sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { verifyRegistrationCertificate } from '../../../provisioning/registration/certificate.ts';
import { openTpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { until } from '../../until.ts';
import { testNetwork } from '../../network.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';

const clerks = [0, 1, 2].map(() => generateKeyPairSync('rsa', { modulusLength: 2048 }));

let last: unknown;
const untilSeen = <T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 30_000): Promise<T> => until(what, fn, { ms, lastSeen: () => last });

describe('run config: root', () => {
  it('names every wrong field of root, and root with devnetActive', () => {
    let err: RunConfigError | undefined;
    try {
      parseRunConfig({
        tcti: 'swtpm:port=2321', broker: 'mqtt://127.0.0.1:1883', network: 'testnet',
        devnetActive: true, nodeId: 'node-1', root: { url: 'ftp://x', publicKey: 'zz', revocationPollMs: 5, extra: 1 },
      }, '/tmp/c.json');
    } catch (e) {
      err = e as RunConfigError;
    }
    const fields = err!.problems.map((p) => p.split(':')[0]);
    expect(fields).toEqual(expect.arrayContaining(['root.extra', 'root.url', 'root.publicKey', 'root.revocationPollMs', 'devnetActive', 'nodeId']));
    expect(() => parseRunConfig({ tcti: 'swtpm:port=2321', broker: 'mqtt://h:1', network: 'testnet', root: 'http://x' }, '/tmp/c.json'))
      .toThrow(/root: expected object/);
    const ok = parseRunConfig({
      tcti: 'swtpm:port=2321', broker: 'mqtt://h:1', network: 'testnet',
      root: { url: 'http://127.0.0.1:8080', publicKey: '11'.repeat(32) },
    }, '/tmp/c.json');
    expect(ok.root?.publicKey).toHaveLength(32);
  });
});

describe('btn-node run with a root node (swtpm + registrar on SQLite + aedes)', () => {
  let dir: string;
  let swtpm: SwtpmInstance;
  let root: ProvisionedRoot;
  let broker: BrokerHandle;
  let watcher: MqttTransport;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btn-activation-run-'));
    swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
    root = await startProvisionedRoot({ dir: join(dir, 'root'), trustDir: join(dir, 'ca'), logger: pino({ level: 'silent' }) });
    // The factory enrolls the TPM (sealing key + batch line) now; the batch is uploaded later.
    const tpm = await openTpm({ tcti: swtpm.tcti });
    try {
      await root.enroll(tpm, 'SN-RUN-1', 'rpi4');
    } finally {
      await tpm.close();
    }
    broker = await startBroker();
  }, 60_000);

  afterAll(async () => {
    await watcher?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await root?.close();
    await swtpm?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('root unreachable: the agent runs, never seals, and status.json names the root and the retry', { timeout: 60_000 }, async () => {
    const stateDir = join(dir, 'offline-node');
    const config = join(dir, 'offline.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, topicPrefix: `btn/run-off-${process.pid}`, stateDir, network: 'testnet', protocol: 4, logLevel: 'silent',
      root: { url: 'http://127.0.0.1:9', publicKey: Buffer.from(root.rootPublicKey).toString('hex') },
    }));
    const ac = new AbortController();
    const run = runCommand(['--config', config], { signal: ac.signal });
    try {
      const s = await untilSeen('status naming the unreachable root', async () => {
        const st = await readStatusFile(stateDir).catch(() => null);
        return st?.activation.state === 'not-activated' && /127\.0\.0\.1:9/.test(st.activation.reason ?? '') ? st : null;
      });
      expect(s.activation.reason).toMatch(/retrying in \d+ s/);
      expect(s.seals.made).toBe(0);
    } finally {
      ac.abort();
      expect(await run).toBe(0);
    }
  });

  it('not filed: never seals, status says why; filed: activates and seals with its registration; revoked: stops sealing', { timeout: 90_000 }, async () => {
    const prefix = `btn/run-act-${process.pid}`;
    const topics = topicsFor(prefix);
    const genesisHash = new Uint8Array(createHash('sha256').update('activation run genesis').digest());
    const stateDir = join(dir, 'node');
    const config = join(dir, 'run.json');
    await writeFile(config, JSON.stringify({
      tcti: swtpm.tcti, broker: broker.url, topicPrefix: prefix, stateDir, network: 'testnet', protocol: 4, logLevel: 'silent',
      root: { url: root.url, publicKey: Buffer.from(root.rootPublicKey).toString('hex'), revocationPollMs: 200 },
    }));
    watcher = createMqttTransport({ url: broker.url, nodeId: 'clerk', clientId: `run-act-clerk-${process.pid}`, prefix, protocol: 4, status: false });
    const seals: SealMessage[] = [];
    for (const c of clerks) watcher.subscribe(topics.seals(keyFingerprint(spkiOf(c.publicKey))), (m) => { seals.push(m.value); }, { schema: sealMessage });
    await watcher.online();
    // The network's terms, signed by the root, retained on the broker as a root publishes them.
    const net = testNetwork({
      clerks: clerks.map((c) => c.publicKey), root: root.rootKey, name: 'testnet',
      params: { ...DEFAULT_PARAMS, sealZeros: 1, clerkZeros: 1, spinIntervalMs: 10, maxRounds: 200, sealDeadlineMs: 8000 },
      genesis: { hash: genesisHash, height: 0, timestamp: Date.now() - 1000 },
    });
    await watcher.publish(topics.manifest, JSON.stringify(net.manifest(1)), { qos: 1, retain: true });
    // One candidate at height 1 per phase, each from another clerk (a new slot for the agent).
    const candidate = async (i: number): Promise<string> => {
      const clerk = clerks[i]!;
      const draw = drawUntilQualified(clerk.privateKey, genesisHash, 1, 1000)!;
      const block = createBlock({ clerkKey: clerk.privateKey, height: 1, previousHash: genesisHash, timestamp: Date.now(), drawRound: draw.round, drawSignature: draw.signature });
      await watcher.publish(topics.candidates, JSON.stringify(blockToJson(block)), { qos: 1, retain: true });
      return keyFingerprint(spkiOf(clerk.publicKey));
    };
    const status = async (): Promise<NodeStatus | null> => readStatusFile(stateDir).catch(() => null);
    const ac = new AbortController();
    let started: { nodeId: string; publicKeyPem: string } | undefined;
    const run = runCommand(['--config', config], { signal: ac.signal, onStarted: (i) => (started = i) });
    try {
      await untilSeen('the agent to start', () => started);
      const nodeId = started!.nodeId;
      expect(nodeId).toBe(createHash('sha256').update(spkiOf(createPublicKey(started!.publicKeyPem))).digest('hex'));

      // Phase 1: filed nowhere yet. The gate keeps retrying; status.json says why; no seal.
      const s1 = await untilSeen('status naming "not filed"', async () => {
        const s = await status();
        last = s?.activation;
        return s?.activation.state === 'not-activated' && /never filed|not filed/i.test(s.activation.reason ?? '') ? s : null;
      });
      expect(s1.activation.reason).toMatch(/retrying in/);
      const clerk0 = await candidate(0);
      await untilSeen('the candidate to be refused (spin ends "inactive")', async () => ((await status())?.spins['inactive'] ?? 0) >= 1);
      expect(seals).toHaveLength(0);

      // Phase 2: the manufacturer uploads the batch; the gate's next attempt activates.
      const up = await root.uploadBatch();
      expect(up).toMatchObject({ filed: 1, rejected: 0 });
      await untilSeen('activation', async () => (await status())?.activation.state === 'active');
      const clerk1 = await candidate(1);
      const seal = await untilSeen('a seal', () => seals.find((x) => x.clerk === clerk1));
      expect(seal.nodeId).toBe(nodeId);
      const cert = verifyRegistrationCertificate(seal.registration, root.rootPublicKey, Date.now());
      expect(cert).toMatchObject({ nodeId, serial: 'SN-RUN-1', board: 'rpi4' });
      expect(seals.filter((x) => x.clerk === clerk0)).toHaveLength(0);

      // Phase 3: the operator revokes the node; the signed list reaches the gate; no more seals.
      expect(await root.revoke(nodeId, 'stolen')).toBe(1);
      const s3 = await untilSeen('status revoked', async () => {
        const s = await status();
        return s?.activation.state === 'revoked' ? s : null;
      });
      expect(s3.activation.reason).toMatch(/stolen/);
      const before = seals.length;
      const clerk2 = await candidate(2);
      await untilSeen('the candidate to be refused (status.json is rewritten every 5 s)', async () => ((await status())?.spins['inactive'] ?? 0) >= 2, 20_000);
      expect(seals.length).toBe(before);
      expect(seals.filter((x) => x.clerk === clerk2)).toHaveLength(0);
    } finally {
      ac.abort();
      expect(await run).toBe(0);
    }
  });
});
