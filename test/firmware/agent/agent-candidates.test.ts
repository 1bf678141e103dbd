// Candidates on the wire with real parts (an aedes broker, MqttTransports, a journal file; a
// software sealing key): binary frames and JSON both seal; the cap follows the manifest in force;
// every refusal (above the cap, a frame of another version, truncated bytes) is counted with its
// reason, stores nothing, and the agent keeps sealing.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type SecondaryAgent } from '../../../firmware/agent/index.ts';
import { blockHash, blockToJson, type Block } from '../../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import { candidateByteCaps, encodeCandidateFrame } from '../../../firmware/protocol/chain/candidate-wire.ts';
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

// A small block cap, so that a candidate of 100 transactions is above it.
const PARAMS: NetworkParams = { ...DEFAULT_PARAMS, sealZeros: 0, clerkZeros: 0, spinIntervalMs: 5, maxRounds: 8, sealDeadlineMs: 20_000, timestampWindowMs: 60_000, maxBlockBytes: 4096 };
const topics = topicsFor(`btn/agent-cand-${process.pid}`);
const genesis = { hash: new Uint8Array(createHash('sha256').update('candidates genesis').digest()), height: 0, timestamp: Date.now() - 5000 };
const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
const nodeKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clerkFp = keyFingerprint(spkiOf(clerk.publicKey));
const net = testNetwork({ clerks: [clerk.publicKey], params: PARAMS, genesis });
const info: TpmInfo = { manufacturer: 'SOFT', vendor: 'software key', firmwareVersion: '0', ek: { publicKeyPem: '', certificatePem: null }, sealingKey: null };
const gen = new TxGenerator({ seed: 'agent-candidates' });

let dir: string;
let broker: BrokerHandle;
let clerkT: MqttTransport;
const seals: SealMessage[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-agent-cand-'));
  broker = await startBroker();
  clerkT = createMqttTransport({ url: broker.url, nodeId: 'clerk', clientId: `cand-clerk-${process.pid}`, prefix: topics.prefix, protocol: 4, status: false, maxOutboundBytes: 8 * 1024 * 1024 });
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
  journalFile: string;
  logs: string[];
}
let rig: Rig | null = null;

async function start(maxInboundBytes?: number): Promise<Rig> {
  const journalFile = join(dir, `journal-${Math.random().toString(36).slice(2)}`);
  const journal = await openSealJournal(journalFile);
  const transport = createMqttTransport({
    url: broker.url, nodeId: 'cand-node', clientId: `cand-node-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, prefix: topics.prefix, protocol: 4,
    ...(maxInboundBytes === undefined ? {} : { maxInboundBytes }),
  });
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write(chunk: Buffer, _e, cb) { logs.push(chunk.toString()); cb(); } }));
  const network = await net.state();
  const agent = createAgent({
    nodeId: 'cand-node', tpm: { info: async () => info }, transport, topics, journal, gate: alwaysActive('cand-node'), network, sealAuthority: null,
    signer: new SealSigner(journal, softwareLotteryKey(nodeKey.privateKey)), logger, statusIntervalMs: 60_000,
  });
  await agent.start();
  await transport.online();
  rig = { agent, transport, journal, network, journalFile, logs };
  return rig;
}

afterEach(async () => {
  if (rig === null) return;
  await rig.agent.stop();
  await rig.journal.close();
  await rig.transport.close();
  rig = null;
});

function candidate(height: number, txs: number): Block {
  const draw = drawUntilQualified(clerk.privateKey, genesis.hash, 0, 1)!;
  return createBlock({ clerkKey: clerk.privateKey, height, previousHash: genesis.hash, timestamp: Date.now(), transactions: gen.next(txs, Math.floor(Date.now() / 1000)), drawRound: draw.round, drawSignature: draw.signature });
}

const hex = (b: Block): string => Buffer.from(blockHash(b.header)).toString('hex');
const sealedFor = (b: Block): boolean => seals.some((s) => Buffer.from(s.blockHash).toString('hex') === hex(b));

/** Publishes, then waits until the agent has dealt with it (a seal, or one more rejection). */
async function send(r: Rig, payload: Uint8Array | string, expect: 'seal' | 'reject', b?: Block): Promise<void> {
  const rejected = Object.values(r.agent.status().rejected).reduce((a, n) => a + n, 0);
  await clerkT.publish(topics.candidates, payload, { qos: 1 });
  const status = { lastSeen: () => r.agent.status().rejected, ms: 15_000 };
  if (expect === 'seal') await until('a seal', () => sealedFor(b!), status);
  else await until('one more rejection', () => Object.values(r.agent.status().rejected).reduce((a, n) => a + n, 0) > rejected, status);
}

describe('agent: candidates as binary frames and as JSON, under the manifest\'s cap', () => {
  it('seals a binary frame', async () => {
    const r = await start();
    const a = candidate(1, 3);
    await send(r, encodeCandidateFrame(a), 'seal', a);
    expect(r.agent.status().seals.made).toBe(1);
  });

  it('seals a JSON candidate (for tools)', async () => {
    const r = await start();
    const b = candidate(1, 4);
    await send(r, JSON.stringify(blockToJson(b)), 'seal', b);
    expect(r.agent.status().seals.made).toBe(1);
  });

  it('drops a candidate above the manifest\'s cap with a counted reason, stores nothing, and follows a new manifest', async () => {
    const r = await start();
    const big = candidate(1, 100);
    const frame = encodeCandidateFrame(big);
    expect(frame.length).toBeGreaterThan(candidateByteCaps({ maxTxs: PARAMS.maxBlockTxs, maxBlockBytes: PARAMS.maxBlockBytes }).binary);
    const journalBefore = await readFile(r.journalFile);
    await send(r, frame, 'reject');
    expect(r.agent.status().rejected['oversize']).toBe(1);
    expect(r.transport.stats().dropped.oversize).toBe(1);
    expect(r.agent.status().lastErrors).toEqual([]);
    await send(r, JSON.stringify(blockToJson(big)), 'reject'); // the JSON cap is 4x, still below this one
    expect(r.agent.status().rejected['oversize']).toBe(2);
    expect((await readFile(r.journalFile)).equals(journalBefore)).toBe(true);
    expect(sealedFor(big)).toBe(false);
    // The cap is read at each message: a manifest that allows larger blocks lets the same block in.
    const offered = await r.network.offer(net.manifest(2, { ...PARAMS, maxBlockBytes: 64 * 1024 }), 'test');
    expect(offered.outcome).toBe('taken');
    await send(r, frame, 'seal', big);
    expect(r.agent.status().state).toBe('running');
  });

  it('refuses a frame of another version and truncated frames by name; nothing is stored; the next candidate seals', async () => {
    const r = await start();
    const a = candidate(1, 5);
    const frame = encodeCandidateFrame(a);
    const journalBefore = await readFile(r.journalFile);
    const v2 = frame.slice();
    v2[1] = 2;
    await send(r, v2, 'reject');
    expect(r.agent.status().rejected['wire-version']).toBe(1);
    for (const cut of [1, 60, frame.length - 1]) await send(r, frame.subarray(0, cut), 'reject');
    expect(r.agent.status().rejected['malformed']).toBe(3);
    await send(r, new Uint8Array([0x42, 1, 2, 3]), 'reject');
    expect(r.agent.status().rejected['malformed']).toBe(4);
    expect((await readFile(r.journalFile)).equals(journalBefore)).toBe(true);
    expect(r.agent.status().seals.made).toBe(0);
    await send(r, frame, 'seal', a);
    expect(r.agent.status().seals.made).toBe(1);
  });

  it('says once when the manifest allows blocks above the device\'s ceiling', async () => {
    const ceiling = 64 * 1024;
    const r = await start(ceiling);
    expect(r.transport.inboundCeiling).toBe(ceiling);
    const warned = (): string[] => r.logs.filter((l) => l.includes('ceiling') && l.includes('will not arrive'));
    expect(warned()).toHaveLength(0); // 4 KiB blocks fit
    const wide = { ...PARAMS, maxBlockBytes: 1024 * 1024 };
    expect((await r.network.offer(net.manifest(2, wide), 'test')).outcome).toBe('taken');
    await until('the ceiling warning', () => warned().length === 1);
    const line = JSON.parse(warned()[0]!) as { manifest: number; ceiling: number; binaryBytes: number };
    expect(line).toMatchObject({ manifest: 2, ceiling, binaryBytes: 1024 * 1024 + 2 });
    // a candidate above the ceiling is dropped by the transport's cap, counted, and sealing goes on
    const big = candidate(1, 600);
    await send(r, encodeCandidateFrame(big), 'reject');
    expect(r.agent.status().rejected['oversize']).toBe(1);
    const small = candidate(1, 2);
    await send(r, encodeCandidateFrame(small), 'seal', small);
    expect(warned()).toHaveLength(1);
  });
});
