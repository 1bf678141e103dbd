// The secondary-node agent with REAL parts: swtpm (sealing key in the TPM), an aedes broker,
// a journal file. The test plays the clerk: it draws, builds candidates and listens for seals.
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { createHash, createPublicKey, generateKeyPairSync, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type SecondaryAgent } from '../../../firmware/agent/index.ts';
import { readStatusFile, type NodeStatus } from '../../../firmware/status/index.ts';
import { blockHash, blockToJson, type Block } from '../../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import { lotteryMessage, ticketOf } from '../../../firmware/protocol/chain/lottery.ts';
import { leadingZeroBits } from '../../../firmware/core/bytes.ts';
import { testNetwork } from '../../network.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';
import { DEFAULT_PARAMS, type NetworkParams } from '../../../firmware/protocol/params.ts';
import { encodeFinalMessage } from '../../../firmware/protocol/final-message.ts';
import { sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { alwaysActive, neverActive, type SealGate } from '../../../firmware/sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { openTpm, type SealingKeyInfo, type Tpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { until } from '../../until.ts';

const PARAMS: NetworkParams = { ...DEFAULT_PARAMS, sealZeros: 3, clerkZeros: 1, spinIntervalMs: 10, maxRounds: 400, sealDeadlineMs: 8000 };
const topics = topicsFor(`btn/agent-test-${process.pid}`);
const genesis = { hash: new Uint8Array(createHash('sha256').update('genesis').digest()), height: 0, timestamp: Date.now() - 5000 };

let dir: string;
let swtpm: SwtpmInstance;
let tpm: Tpm;
let sealingKey: SealingKeyInfo;
let broker: BrokerHandle;
let clerkTransport: MqttTransport;
const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clerkFp = keyFingerprint(spkiOf(clerk.publicKey));
const net = testNetwork({ clerks: [clerk.publicKey], params: PARAMS, genesis });
const seals: SealMessage[] = [];
const transports: MqttTransport[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-agent-test-'));
  swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  tpm = await openTpm({ tcti: swtpm.tcti });
  sealingKey = await tpm.ensureSealingKey();
  broker = await startBroker();
  clerkTransport = createMqttTransport({ url: broker.url, nodeId: 'clerk', clientId: `clerk-${process.pid}`, prefix: topics.prefix, protocol: 4, status: false });
  clerkTransport.subscribe(topics.seals(clerkFp), (m) => { seals.push(m.value); }, { qos: 1, schema: sealMessage });
  await clerkTransport.online();
}, 60_000);

afterAll(async () => {
  for (const t of transports) await t.close().catch(() => undefined);
  await clerkTransport?.close();
  await broker?.close();
  await tpm?.close();
  await swtpm?.destroy();
  await rm(dir, { recursive: true, force: true });
});

interface Running {
  agent: SecondaryAgent;
  journal: SealJournal;
  transport: MqttTransport;
  stop(): Promise<void>;
}

async function startAgent(nodeId: string, gate: SealGate = alwaysActive(nodeId)): Promise<Running> {
  const journal = await openSealJournal(join(dir, nodeId, 'seal-journal'));
  const transport = createMqttTransport({ url: broker.url, nodeId, clientId: `${nodeId}-${process.pid}-${transports.length}`, prefix: topics.prefix, protocol: 4 });
  transports.push(transport);
  const signer = new SealSigner(journal, tpm, sealingKey.handle);
  const agent = createAgent({
    nodeId, tpm, sealingHandle: sealingKey.handle, transport, topics, journal, gate, network: await net.state(), stateDir: join(dir, nodeId), statusIntervalMs: 200, sealAuthority: null, signer,
  });
  await agent.start();
  await transport.online();
  return {
    agent, journal, transport,
    stop: async () => {
      await agent.stop();
      signer.close();
      await journal.close();
      await transport.close();
    },
  };
}

function candidate(height: number, previousHash: Uint8Array, key: KeyObject = clerk.privateKey, timestamp = Date.now()): Block {
  const draw = drawUntilQualified(key, previousHash, PARAMS.clerkZeros, 1000)!;
  return createBlock({ clerkKey: key, height, previousHash, timestamp, drawRound: draw.round, drawSignature: draw.signature });
}

async function publish(block: Block): Promise<string> {
  await clerkTransport.publish(topics.candidates, JSON.stringify(blockToJson(block)), { qos: 1 });
  return Buffer.from(blockHash(block.header)).toString('hex');
}

const POLL = { ms: 15_000, everyMs: 20 };

const sealFor = (hash: string, node: string) => () => seals.find((s) => s.nodeId === node && Buffer.from(s.blockHash).toString('hex') === hash);

describe('secondary-node agent (swtpm + aedes)', () => {
  let node: Running;
  let first: Block;
  let firstSeal: SealMessage;

  it('seals a valid candidate: signature verifies under the TPM sealing key, ticket qualifies', { timeout: 30_000 }, async () => {
    node = await startAgent('node-1');
    first = candidate(1, genesis.hash);
    const hash = await publish(first);
    firstSeal = await until('seal', sealFor(hash, 'node-1'), POLL);
    expect(firstSeal.clerk).toBe(clerkFp);
    expect(firstSeal.height).toBe(1);
    const ok = nodeVerify('sha256', lotteryMessage(firstSeal.blockHash, firstSeal.round), createPublicKey(sealingKey.publicKeyPem), firstSeal.signature);
    expect(ok).toBe(true);
    expect(leadingZeroBits(ticketOf(firstSeal.signature))).toBeGreaterThanOrEqual(PARAMS.sealZeros);
    expect(firstSeal.expiresAt).toBeGreaterThan(Date.now());
    const s = node.agent.status();
    expect(s.seals.made).toBe(1);
    expect(s.tpm?.sealingKey?.publicKeyPem).toBe(sealingKey.publicKeyPem);
    expect(s.broker.connected).toBe(true);
  });

  it('refuses invalid candidates with their reason and keeps running', { timeout: 30_000 }, async () => {
    const rejected: string[] = [];
    node.agent.on('rejected', (e: { code: string }) => rejected.push(e.code));
    const before = seals.length;
    await publish(candidate(1, genesis.hash, stranger.privateKey));
    await clerkTransport.publish(topics.candidates, { height: 1, junk: true }, { qos: 1 });
    await publish(candidate(2, genesis.hash));
    await publish(candidate(1, genesis.hash, clerk.privateKey, Date.now() + 10 * 60_000));
    await until('4 rejections', () => rejected.length >= 4, POLL);
    expect(rejected.sort()).toEqual(['clerk-not-primary', 'malformed', 'timestamp-out-of-window', 'wrong-height']);
    expect(seals.length).toBe(before);
  });

  it('never seals a second, different block for the same (height, clerk)', { timeout: 30_000 }, async () => {
    const rejected: string[] = [];
    node.agent.on('rejected', (e: { code: string }) => rejected.push(e.code));
    const other = candidate(1, genesis.hash, clerk.privateKey, Date.now() + 1);
    const hash = await publish(other);
    await until('conflict', () => rejected.includes('conflicting-block'), POLL);
    // A negative check: no seal for the conflicting block shows up in the next 200 ms either.
    await new Promise((r) => setTimeout(r, 200));
    expect(sealFor(hash, 'node-1')()).toBeUndefined();
  });

  it('after a restart on the same journal, the same block returns the same seal and a conflicting one is refused', { timeout: 30_000 }, async () => {
    await node.stop();
    node = await startAgent('node-1');
    const rejected: string[] = [];
    node.agent.on('rejected', (e: { code: string }) => rejected.push(e.code));
    const before = seals.length;
    const hash = await publish(first);
    const again = await until('seal again', () => seals.slice(before).find((s) => s.nodeId === 'node-1' && Buffer.from(s.blockHash).toString('hex') === hash), POLL);
    expect(again.round).toBe(firstSeal.round);
    expect(Buffer.from(again.signature).equals(Buffer.from(firstSeal.signature))).toBe(true);
    expect(node.agent.status().seals.reused).toBe(1);
    await publish(candidate(1, genesis.hash, clerk.privateKey, Date.now() + 2));
    await until('conflict after restart', () => rejected.includes('conflicting-block'), POLL);
  });

  it('follows final blocks: new tip, journal watermark, and writes status.json', { timeout: 30_000 }, async () => {
    const hash = blockHash(first.header);
    await clerkTransport.publish(topics.final, encodeFinalMessage(net.keys.final({ height: 1, hash, timestamp: first.header.timestamp, clerk: clerkFp, sealedBy: ['node-1'] })), { qos: 1 });
    // The tip moves first, then the journal's watermark is written: wait for both.
    await until('final', () => node.agent.status().chain.height === 1 && node.journal.finalizedHeight === 1, POLL);
    const next = candidate(2, hash);
    const nextHash = await publish(next);
    await until('seal at height 2', sealFor(nextHash, 'node-1'), POLL);
    const status = await statusFileWhere(join(dir, 'node-1'), (st) => st.chain.finalizedHeight === 1 && st.seals.made >= 1);
    expect(status.nodeId).toBe('node-1');
    expect(status.chain.finalizedHeight).toBe(1);
    await node.stop();
  });

  it('takes a newer signed manifest from the broker only, drops invalid final/manifest messages, and stops spinning on a better seal for the block', { timeout: 30_000 }, async () => {
    const n3 = await startAgent('node-3');
    try {
      // A long spin: 16 zero bits will not come within 400 rounds.
      await clerkTransport.publish(topics.manifest, JSON.stringify(net.manifest(2, { ...PARAMS, sealZeros: 16 })), { qos: 1, retain: true });
      await until('manifest v2', () => n3.agent.params?.version === 2, POLL);
      await clerkTransport.publish(topics.manifest, JSON.stringify(net.manifest(1, { ...PARAMS, sealZeros: 1 })), { qos: 1 });
      await clerkTransport.publish(topics.manifest, { version: 'x' }, { qos: 1 });
      await clerkTransport.publish(topics.final, { v: 1, height: 'x' }, { qos: 1 });
      await until('invalid messages counted', () => {
        const invalid = n3.agent.status().invalidMessages;
        return invalid['manifest'] === 1 && invalid['manifest-refused'] === 1 && invalid['final'] === 1;
      }, POLL);
      expect(n3.agent.params?.sealZeros).toBe(16);
      const b = candidate(1, genesis.hash, clerk.privateKey, Date.now() + 4);
      const hash = blockHash(b.header);
      await publish(b);
      await until('spinning', () => n3.agent.status().spinning === 1, POLL);
      // Another node's round-0 seal for the same block: no later round of ours can beat it.
      const signature = grind(16);
      await clerkTransport.publish(topics.sealFrom(clerkFp, 'node-x'), { v: 1, nodeId: 'node-x', height: 1, blockHash: Buffer.from(hash).toString('hex'), clerk: clerkFp, round: 0, signature: Buffer.from(signature).toString('hex'), registration: null, expiresAt: Date.now() + 60_000 }, { qos: 1 });
      await until('better-seal stop', () => n3.agent.status().spins['better-seal'] === 1, POLL);
      expect(sealFor(Buffer.from(hash).toString('hex'), 'node-3')()).toBeUndefined();
    } finally {
      await clerkTransport.publish(topics.manifest, '', { qos: 1, retain: true });
      await n3.stop();
    }
  });

  it('an inactive node never seals', { timeout: 30_000 }, async () => {
    const idle = await startAgent('node-2', neverActive('node-2'));
    try {
      const hash = await publish(candidate(1, genesis.hash, clerk.privateKey, Date.now() + 3));
      await until('inactive spin', () => idle.agent.status().spins.inactive === 1, POLL);
      expect(sealFor(hash, 'node-2')()).toBeUndefined();
      expect(idle.journal.export().entries).toHaveLength(0);
      expect(idle.agent.status().activation.state).toBe('not-activated');
    } finally {
      await idle.stop();
    }
  });
});

function statusFileWhere(stateDir: string, pred: (s: NodeStatus) => boolean): Promise<NodeStatus> {
  let last: NodeStatus | null = null;
  return until(`status.json in ${stateDir} to match`, async () => {
    last = await readStatusFile(stateDir);
    return last !== null && pred(last) ? last : null;
  }, { ms: 10_000, lastSeen: () => last });
}

/** Bytes whose SHA-256 has `zeros` leading zero bits (what a forged "seal" costs without a key). */
function grind(zeros: number): Uint8Array {
  const sig = new Uint8Array(256);
  const view = new DataView(sig.buffer);
  for (let i = 0; ; i++) {
    view.setUint32(0, i);
    if (leadingZeroBits(ticketOf(sig)) >= zeros) return sig;
  }
}
