// Header-first candidates with real parts (an aedes broker, MqttTransports, a journal file; a
// software sealing key): a node spins on the header; only a qualifying ticket makes it subscribe
// to the body's retained topic, check the body against the header's commitment, test the joined
// block in full and seal. A body that does not match, is larger than announced, never comes, or
// makes a block that fails the full test is refused by name, nothing is sealed, and the next
// candidate seals. A node whose ticket never qualifies never subscribes to the body.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type SecondaryAgent, type SpinEvent } from '../../../firmware/agent/index.ts';
import { blockHash, type Block } from '../../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import { splitCandidate } from '../../../firmware/protocol/chain/candidate-header.ts';
import { TxGenerator } from '../../../firmware/devnet/tx-generator.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';
import { DEFAULT_PARAMS, type NetworkParams } from '../../../firmware/protocol/params.ts';
import { sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { alwaysActive } from '../../../firmware/sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import type { NetworkState } from '../../../firmware/node/network-state.ts';
import type { TpmInfo } from '../../../tpm/index.ts';
import { testNetwork } from '../../network.ts';
import { until } from '../../until.ts';
import { softwareLotteryKey } from '../sealing/lottery-key.ts';

const PARAMS: NetworkParams = {
  ...DEFAULT_PARAMS, sealZeros: 0, clerkZeros: 0, spinIntervalMs: 5, maxRounds: 8, sealDeadlineMs: 20_000, timestampWindowMs: 60_000, candidateDelivery: 'header-first',
};
const topics = topicsFor(`btn/agent-hf-${process.pid}`);
const genesis = { hash: new Uint8Array(createHash('sha256').update('header-first genesis').digest()), height: 0, timestamp: Date.now() - 5000 };
const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
const nodeKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clerkFp = keyFingerprint(spkiOf(clerk.publicKey));
const net = testNetwork({ clerks: [clerk.publicKey], params: PARAMS, genesis });
const info: TpmInfo = { manufacturer: 'SOFT', vendor: 'software key', firmwareVersion: '0', ek: { publicKeyPem: '', certificatePem: null }, sealingKey: null };
const gen = new TxGenerator({ seed: 'agent-header-first' });

let dir: string;
let broker: BrokerHandle;
let clerkT: MqttTransport;
const seals: SealMessage[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-agent-hf-'));
  broker = await startBroker();
  clerkT = createMqttTransport({ url: broker.url, nodeId: 'clerk', clientId: `hf-clerk-${process.pid}`, prefix: topics.prefix, protocol: 4, status: false });
  await clerkT.subscribe(topics.seals(clerkFp), (m) => { seals.push(m.value); }, { qos: 1, schema: sealMessage }).ready;
}, 30_000);

afterAll(async () => {
  await clerkT?.close();
  await broker?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Rig {
  agent: SecondaryAgent;
  transport: MqttTransport;
  journal: SealJournal;
  network: NetworkState;
  /** Every filter the node's transport subscribed to. */
  filters: string[];
  fetched: string[];
  spins: SpinEvent[];
}
let rig: Rig | null = null;

async function start(params?: NetworkParams): Promise<Rig> {
  const journal = await openSealJournal(join(dir, `journal-${Math.random().toString(36).slice(2)}`));
  const transport = createMqttTransport({
    url: broker.url, nodeId: 'hf-node', clientId: `hf-node-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, prefix: topics.prefix, protocol: 4,
  });
  const filters: string[] = [];
  const subscribe = transport.subscribe.bind(transport);
  transport.subscribe = ((filter, handler, options) => {
    filters.push(filter);
    return subscribe(filter, handler, options);
  }) as MqttTransport['subscribe'];
  const network = await net.state();
  if (params !== undefined) expect((await network.offer(net.manifest(2, params), 'test')).outcome).toBe('taken');
  const agent = createAgent({
    nodeId: 'hf-node', tpm: { info: async () => info }, transport, topics, journal, gate: alwaysActive('hf-node'), network, sealAuthority: null,
    signer: new SealSigner(journal, softwareLotteryKey(nodeKey.privateKey)), statusIntervalMs: 60_000,
  });
  const fetched: string[] = [];
  const spins: SpinEvent[] = [];
  agent.on('body-fetch', (hash: string) => fetched.push(hash));
  agent.on('spin', (e: SpinEvent) => spins.push(e));
  await agent.start();
  await transport.online();
  rig = { agent, transport, journal, network, filters, fetched, spins };
  return rig;
}

afterEach(async () => {
  if (rig === null) return;
  await rig.agent.stop();
  await rig.journal.close();
  await rig.transport.close();
  rig = null;
});

function candidate(txs: number): Block {
  const draw = drawUntilQualified(clerk.privateKey, genesis.hash, 0, 1)!;
  return createBlock({ clerkKey: clerk.privateKey, height: 1, previousHash: genesis.hash, timestamp: Date.now(), transactions: gen.next(txs, Math.floor(Date.now() / 1000)), drawRound: draw.round, drawSignature: draw.signature });
}

const hex = (b: Block): string => Buffer.from(blockHash(b.header)).toString('hex');
const sealedFor = (b: Block): boolean => seals.some((s) => Buffer.from(s.blockHash).toString('hex') === hex(b));
const rejections = (r: Rig): number => Object.values(r.agent.status().rejected).reduce((a, n) => a + n, 0);

/** The primary's order: the body retained on its topic (unless `body` is null), then the header frame. */
async function send(r: Rig, b: Block, expect: 'seal' | 'reject', o: { body?: Uint8Array | null; frame?: Uint8Array } = {}): Promise<void> {
  const split = splitCandidate(b);
  const before = rejections(r);
  if (o.body !== null) await clerkT.publish(topics.body(hex(b)), o.body ?? split.body, { qos: 1, retain: true });
  await clerkT.publish(topics.candidates, o.frame ?? split.frame, { qos: 1 });
  const status = { lastSeen: () => r.agent.status().rejected, ms: 15_000 };
  if (expect === 'seal') await until('a seal', () => sealedFor(b), status);
  else await until('one more rejection', () => rejections(r) > before, status);
}

describe('agent: header-first candidates', () => {
  it('spins on the header, fetches the body only once its ticket qualifies, tests the joined block and seals', async () => {
    const r = await start();
    const b = candidate(20);
    await send(r, b, 'seal');
    expect(r.fetched).toEqual([hex(b)]);
    expect(r.filters).toContain(topics.body(hex(b)));
    expect(r.agent.status().seals.made).toBe(1);
    expect(r.agent.status().rejected).toEqual({});
  });

  it('a node whose ticket does not qualify never subscribes to the body', async () => {
    // 256 zero bits: no ticket qualifies, so every round is spun without a fetch.
    const r = await start({ ...PARAMS, sealZeros: 256, maxRounds: 4 });
    const b = candidate(20);
    const split = splitCandidate(b);
    await clerkT.publish(topics.body(hex(b)), split.body, { qos: 1, retain: true });
    await clerkT.publish(topics.candidates, split.frame, { qos: 1 });
    await until('the spin to end', () => r.spins.some((s) => s.hash === hex(b)));
    expect(r.spins.find((s) => s.hash === hex(b))!.outcome.outcome).toBe('max-rounds');
    expect(r.fetched).toEqual([]);
    expect(r.filters.filter((f) => f.includes('/bodies/'))).toEqual([]);
    expect(sealedFor(b)).toBe(false);
  });

  it('refuses a body that does not match its header, nothing is sealed, and the next candidate seals', async () => {
    const r = await start();
    const b = candidate(20);
    const body = splitCandidate(b).body.slice();
    body[body.length - 1]! ^= 1; // same length, another hash
    await send(r, b, 'reject', { body });
    expect(r.agent.status().rejected).toEqual({ 'body-mismatch': 1 });
    expect(sealedFor(b)).toBe(false);
    expect(r.agent.status().seals.made).toBe(0);
    const next = candidate(3);
    await send(r, next, 'seal');
    expect(r.agent.status().seals.made).toBe(1);
  });

  it('refuses a body larger than the header announced before reading it', async () => {
    const r = await start();
    const b = candidate(20);
    const body = splitCandidate(b).body;
    const longer = new Uint8Array(body.length + 1);
    longer.set(body);
    await send(r, b, 'reject', { body: longer });
    expect(r.agent.status().rejected).toEqual({ 'body-oversize': 1 });
    expect(r.transport.stats().dropped.oversize).toBe(1);
    expect(sealedFor(b)).toBe(false);
  });

  it('gives up on a body that never comes at the seal deadline', async () => {
    const r = await start({ ...PARAMS, sealDeadlineMs: 300 });
    const b = candidate(20);
    await send(r, b, 'reject', { body: null });
    expect(r.agent.status().rejected).toEqual({ 'body-missing': 1 });
    expect(sealedFor(b)).toBe(false);
  });

  it('a body that matches the commitment but not the signed header fails the full test by its reason', async () => {
    const r = await start();
    const b = candidate(20);
    const other = candidate(20); // same count, other transactions
    // A header frame of `b` that commits to `other`'s body: the commitment holds, the txRoot does not.
    const frame = splitCandidate(b).frame.slice();
    const otherSplit = splitCandidate(other);
    frame.set(otherSplit.frame.subarray(otherSplit.frame.length - 36), frame.length - 36);
    await send(r, b, 'reject', { frame, body: otherSplit.body });
    expect(r.agent.status().rejected).toEqual({ 'tx-root-mismatch': 1 });
    expect(sealedFor(b)).toBe(false);
    expect(r.agent.status().seals.made).toBe(0);
  });
});
