// The primary node against the in-process broker and stand-in secondaries (software RSA keys
// sealing through the same messages as the real agent).
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { fromHex } from '../../../firmware/core/bytes.ts';
import { finalMessage } from '../../../firmware/protocol/final-message.ts';
import { verifyManifest } from '../../../firmware/protocol/network-manifest.ts';
import type { NetworkParams } from '../../../firmware/protocol/params.ts';
import { verifyQuorum } from '../../../firmware/protocol/quorum.ts';
import { createMqttTransport, startBroker, topicsFor, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { createClerks } from '../../../firmware/devnet/clerks.ts';
import { genesisTip, PrimaryNode, type PrimaryEvent } from '../../../firmware/devnet/primary.ts';
import { StaticSealAuthority } from '../../../firmware/protocol/seal-check.ts';
import { TxGenerator } from '../../../firmware/devnet/tx-generator.ts';
import { startStandIn, type StandIn } from './stand-in-secondary.ts';

const PARAMS: NetworkParams = {
  version: 1, sealZeros: 3, clerkZeros: 1, spinIntervalMs: 40, maxRounds: 64, sealDeadlineMs: 3000,
  timestampWindowMs: 30_000, maxBlockTxs: 1000, maxBlockBytes: 1024 * 1024,
};
const clerks = createClerks(3);
const nodeKeys = [0, 1, 2].map(() => generateKeyPairSync('rsa', { modulusLength: 2048 }));

let broker: BrokerHandle;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
  await broker.close();
});

async function primaryTransport(prefix: string): Promise<MqttTransport> {
  const t = createMqttTransport({ url: broker.url, nodeId: 'primary', clientId: `primary-${prefix.replace(/\//g, '-')}`, prefix, status: false });
  t.start();
  await t.online();
  open.push(t);
  return t;
}

async function standIns(prefix: string, count: number, extra: Partial<Parameters<typeof startStandIn>[0]>[] = []): Promise<StandIn[]> {
  const out: StandIn[] = [];
  for (let i = 0; i < count; i++) {
    const s = await startStandIn({ url: broker.url, nodeId: `node-${i + 1}`, key: nodeKeys[i]!.privateKey, topics: topicsFor(prefix), params: PARAMS, ...extra[i] });
    open.push(s);
    out.push(s);
  }
  return out;
}

describe('PrimaryNode', () => {
  it('finalizes consecutive blocks sealed by registered nodes, each seal verifiable on its own', async () => {
    const prefix = 'test/primary-a';
    const topics = topicsFor(prefix);
    await standIns(prefix, 3);
    const authority = new StaticSealAuthority(nodeKeys.map((k, i) => [`node-${i + 1}`, k.publicKey] as const));
    const events: PrimaryEvent[] = [];
    const transport = await primaryTransport(prefix);
    const finals: unknown[] = [];
    transport.subscribe(topics.final, (m) => { finals.push(m.value); });
    const primary = new PrimaryNode({
      transport, topics, params: PARAMS, clerks, authority, genesis: genesisTip('a', Date.now() - 1000), transactions: new TxGenerator(), txPerBlock: 3, onEvent: (e) => events.push(e),
    });
    const blocks = await primary.produce(3);
    await primary.stop({ clearRetained: true });

    expect(blocks.map((b) => b.height)).toEqual([1, 2, 3]);
    let previous = genesisTip('a', 0).hash;
    for (const b of blocks) {
      expect(b.final).toBe(true);
      expect(b.votes.length).toBeGreaterThanOrEqual(b.quorum);
      expect(b.txCount).toBe(3);
      expect(fromHex(b.previousHash)).toEqual(previous);
      previous = fromHex(b.hash);
      expect(b.seals.length).toBeGreaterThan(0);
      for (const s of b.seals) {
        const message = lotteryMessage(fromHex(b.hash), s.round);
        expect(verify('sha256', message, createPublicKey(s.publicKeyPem), Buffer.from(s.signature, 'hex'))).toBe(true);
        expect(scoreTicket(Buffer.from(s.signature, 'hex'), s.round).zeros).toBe(s.zeros);
        expect(s.zeros).toBeGreaterThanOrEqual(PARAMS.sealZeros);
      }
    }
    expect(primary.tip.height).toBe(3);
    expect(primary.stats().finals).toBe(3);
    expect(events.filter((e) => e.type === 'final')).toHaveLength(3);
    expect(events.some((e) => e.type === 'draw')).toBe(true);
    // The final messages went out as FinalMessage.
    const parsed = finals.filter((f) => f !== null).map((f) => finalMessage.parse(JSON.stringify(f)));
    expect(parsed.map((f) => f.height)).toEqual([1, 2, 3]);
    expect(parsed[2]!.sealedBy.length).toBeGreaterThan(0);
    // Each carries a quorum of the members' votes, as a node checks them.
    for (const f of parsed) expect(verifyQuorum(primary.committee, f, f.votes).valid).toBe(primary.committee.quorum);
  });

  it('publishes the root-signed network manifest retained at start', async () => {
    const prefix = 'test/primary-b';
    const topics = topicsFor(prefix);
    const transport = await primaryTransport(prefix);
    const primary = new PrimaryNode({ transport, topics, params: PARAMS, clerks, authority: new StaticSealAuthority(), genesis: genesisTip('b', Date.now()) });
    await primary.start();
    // A late subscriber gets them from the broker.
    const late = createMqttTransport({ url: broker.url, nodeId: 'late', clientId: 'late-b', prefix, status: false });
    const got = new Promise<unknown>((r) => late.subscribe(topics.manifest, (m) => r(m.value)));
    late.start();
    open.push(late);
    const manifest = verifyManifest(await got, primary.keys.source.rootPublicKey, primary.keys.network);
    expect(manifest.params).toEqual(PARAMS);
    expect(manifest.committee.members).toEqual(clerks.map((c) => Buffer.from(c.voteKey.publicKey).toString('hex')));
    await primary.stop({ clearRetained: true });
  });

  it('counts bad seals by reason, still finalizes with the good ones, never counts a bad one', async () => {
    const prefix = 'test/primary-c';
    const topics = topicsFor(prefix);
    const rogue = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // node-1 is honest; node-2 signs with a key other than its registered one; node-3 is not
    // registered (it spins to sealZeros: the zero bits are checked before the registration).
    await standIns(prefix, 1);
    const s2 = await startStandIn({ url: broker.url, nodeId: 'node-2', key: rogue.privateKey, topics, params: PARAMS });
    const s3 = await startStandIn({ url: broker.url, nodeId: 'node-3', key: nodeKeys[2]!.privateKey, topics, params: PARAMS });
    const s4 = await startStandIn({ url: broker.url, nodeId: 'node-4', key: nodeKeys[2]!.privateKey, topics, params: PARAMS, targetZeros: 0, tamper: () => '{"v":1,"nodeId":"node-4"}' });
    open.push(s2, s3, s4);
    const authority = new StaticSealAuthority([['node-1', nodeKeys[0]!.publicKey], ['node-2', nodeKeys[1]!.publicKey]]);
    const transport = await primaryTransport(prefix);
    const primary = new PrimaryNode({ transport, topics, params: PARAMS, clerks, authority, genesis: genesisTip('c', Date.now() - 1000), voteWindowMs: 2500 });
    // The window lets node-2's seal (it needs sealZeros to reach the signature check) arrive while the candidate is open.
    const [block] = await primary.produce(1);
    await primary.stop({ clearRetained: true });
    expect(block!.final).toBe(true);
    expect(block!.seals.map((s) => s.node)).toEqual(['node-1']);
    const stats = primary.stats();
    expect(stats.sealsAccepted).toBe(1);
    expect(stats.sealsRejected['bad-signature']).toBe(1);
    expect(stats.sealsRejected.unregistered).toBe(1);
    expect(stats.sealsRejected.malformed).toBe(1);
  });

  it('redraws a height that gets no valid seal, and reports it not final after maxAttempts', async () => {
    const prefix = 'test/primary-d';
    const topics = topicsFor(prefix);
    const events: PrimaryEvent[] = [];
    const transport = await primaryTransport(prefix);
    const params = { ...PARAMS, sealDeadlineMs: 200 };
    const primary = new PrimaryNode({ transport, topics, params, clerks, authority: new StaticSealAuthority(), genesis: genesisTip('d', Date.now()), maxAttempts: 2, onEvent: (e) => events.push(e) });
    const blocks = await primary.produce(3);
    await primary.stop({ clearRetained: true });
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toMatchObject({ height: 1, final: false, seals: [], attempts: 2 });
    const candidates = events.filter((e): e is Extract<PrimaryEvent, { type: 'candidate' }> => e.type === 'candidate');
    expect(candidates).toHaveLength(2);
    expect(candidates[1]!.drawRound).toBeGreaterThan(candidates[0]!.drawRound);
    expect(events.filter((e) => e.type === 'redraw')).toHaveLength(2);
    expect(primary.tip.height).toBe(0);
  });

  it('stop() ends a running produce() with ERR_DEVNET_ABORTED', async () => {
    const prefix = 'test/primary-e';
    const transport = await primaryTransport(prefix);
    const primary = new PrimaryNode({ transport, topics: topicsFor(prefix), params: PARAMS, clerks, authority: new StaticSealAuthority(), genesis: genesisTip('e', Date.now()) });
    const running = primary.produce(1);
    setTimeout(() => void primary.stop(), 100);
    await expect(running).rejects.toMatchObject({ code: 'ERR_DEVNET_ABORTED' });
  });
});
