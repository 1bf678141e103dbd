// The primary node against a fake transport: every seal it is handed, and every seal the
// transport dropped before it (not JSON, expired), is counted by reason; a good seal finalizes;
// the final carries the members' signed votes, and a vote that does not verify is not counted.
import { EventEmitter } from 'node:events';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blockHash } from '../../../firmware/protocol/chain/block.ts';
import { decodeCandidate } from '../../../firmware/protocol/chain/candidate-wire.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { finalMessage } from '../../../firmware/protocol/final-message.ts';
import { keyPairFromSeed } from '../../../firmware/protocol/chain/transaction.ts';
import { keyFingerprint } from '../../../firmware/protocol/identity.ts';
import { verifyManifest } from '../../../firmware/protocol/network-manifest.ts';
import { verifyQuorum } from '../../../firmware/protocol/quorum.ts';
import type { NetworkParams } from '../../../firmware/protocol/params.ts';
import { encodeSealMessage } from '../../../firmware/protocol/seal-message.ts';
import type { InboundMessage, SubscribeOptions } from '../../../firmware/transport/mqtt-types.ts';
import { topicMatches, topicsFor } from '../../../firmware/protocol/topics.ts';
import { createClerks, type Clerk } from '../../../firmware/devnet/clerks.ts';
import { genesisTip, PrimaryNode, type PrimaryEvent, type PrimaryTransport } from '../../../firmware/devnet/primary.ts';
import { StaticSealAuthority } from '../../../firmware/protocol/seal-check.ts';

const PARAMS: NetworkParams = {
  version: 1, sealZeros: 2, clerkZeros: 0, spinIntervalMs: 10, maxRounds: 8, sealDeadlineMs: 5000, timestampWindowMs: 30_000, maxBlockTxs: 100, maxBlockBytes: 1 << 20,
};
const topics = topicsFor('unit');
const clerks = createClerks(1);
const node = generateKeyPairSync('rsa', { modulusLength: 2048 });

class FakeTransport extends EventEmitter implements PrimaryTransport {
  readonly published: { topic: string; payload: string; retain: boolean }[] = [];
  readonly handlers = new Map<string, (m: InboundMessage<unknown>) => void | Promise<void>>();
  onPublish: (topic: string, payload: string, bytes: Uint8Array) => void = () => undefined;
  async publish(topic: string, payload: Uint8Array | string | Record<string, unknown>, options: { retain?: boolean } = {}): Promise<'delivered'> {
    const text = typeof payload === 'string' ? payload : payload instanceof Uint8Array ? Buffer.from(payload).toString('utf8') : JSON.stringify(payload);
    this.published.push({ topic, payload: text, retain: options.retain ?? false });
    this.onPublish(topic, text, payload instanceof Uint8Array ? payload : Buffer.from(text));
    return 'delivered';
  }
  subscribe<T>(filter: string, handler: (m: InboundMessage<T>) => void | Promise<void>, options: SubscribeOptions<T> = {}): () => void {
    // as the real transport: the subscription's schema reads the value once, a refusal is a drop
    this.handlers.set(filter, (m) => {
      let value: T;
      try {
        value = options.schema === undefined ? (m.value as T) : options.schema.read(m.value);
      } catch (err) {
        this.emit('drop', { topic: m.topic, reason: 'invalid', detail: (err as Error).message });
        return;
      }
      return handler({ ...m, value });
    });
    return () => this.handlers.delete(filter);
  }
  deliver(topic: string, value: unknown): void {
    const handler = [...this.handlers].find(([filter]) => topicMatches(filter, topic))![1];
    void handler({ topic, value, retain: false, bytes: 1, messageExpiryInterval: undefined });
  }
}

/** Seals every candidate the primary publishes as node n1, addressed to the clerk that made it. */
function sealCandidates(t: FakeTransport): { late: (() => void) | null } {
  const state: { late: (() => void) | null } = { late: null };
  t.onPublish = (topic, _payload, bytes) => {
    if (topic !== topics.candidates) return;
    const { header } = decodeCandidate(bytes, { maxTxs: PARAMS.maxBlockTxs, maxBlockBytes: PARAMS.maxBlockBytes }).block;
    const hash = blockHash(header);
    const clerk = keyFingerprint(header.clerkPublicKey);
    for (let round = 0; ; round++) {
      const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, round), node.privateKey));
      if (scoreTicket(signature, round).zeros < PARAMS.sealZeros) continue;
      const seal = encodeSealMessage({ nodeId: 'n1', height: header.height, blockHash: hash, clerk, round, signature, registration: null, expiresAt: Date.now() + 5000 });
      setImmediate(() => t.deliver(topics.sealFrom(clerk, 'n1'), JSON.parse(seal)));
      state.late = () => t.deliver(topics.sealFrom(clerk, 'n1'), JSON.parse(seal));
      break;
    }
  };
  return state;
}

/** A clerk whose vote key was swapped: it signs, but not under the key the manifest lists for it. */
function withSwappedVoteKey(c: Clerk): Clerk {
  return { ...c, voteKey: { ...c.voteKey, privateKey: keyPairFromSeed(randomBytes(32)).privateKey } };
}

describe('PrimaryNode (fake transport)', () => {
  it('counts transport drops and verifier rejections on seal topics by reason, ignores other topics', async () => {
    const t = new FakeTransport();
    const primary = new PrimaryNode({ transport: t, topics, params: PARAMS, clerks, authority: new StaticSealAuthority(), genesis: genesisTip('u', Date.now()) });
    await primary.start();
    const sealTopic = topics.sealFrom(clerks[0]!.fingerprint, 'x');
    t.emit('drop', { topic: sealTopic, reason: 'malformed-json', detail: 'Unexpected token' });
    t.emit('drop', { topic: sealTopic, reason: 'expired', detail: 'expiresAt 1' });
    t.emit('drop', { topic: topics.candidates, reason: 'malformed-json', detail: 'x' });
    t.deliver(sealTopic, { v: 1, nodeId: 'x' });
    t.deliver(sealTopic, 'just a string');
    const stats = primary.stats();
    expect(stats.sealsRejected.malformed).toBe(3);
    expect(stats.sealsRejected.expired).toBe(1);
    expect(stats.sealsAccepted).toBe(0);
    // The signed manifest went out retained.
    expect(t.published[0]).toMatchObject({ topic: topics.manifest, retain: true });
    await primary.stop();
    expect(t.listenerCount('drop')).toBe(0);
    expect(t.handlers.size).toBe(0);
  });

  it('publishes the root-signed manifest retained at start (no unsigned params) and deletes it on stop', async () => {
    const t = new FakeTransport();
    const genesis = genesisTip('m', 1_700_000_000_000);
    const primary = new PrimaryNode({ transport: t, topics, params: PARAMS, clerks, authority: new StaticSealAuthority(), genesis, network: 'unitnet' });
    await primary.start();
    expect(t.published.map((p) => p.topic)).toEqual([topics.manifest]);
    expect(t.published[0]!.retain).toBe(true);
    // As a node reads it: under the root key the primary exposes, for the network it names.
    expect(primary.keys.source).toEqual({ kind: 'signed', network: 'unitnet', rootPublicKey: primary.keys.root.publicKey });
    const m = verifyManifest(JSON.parse(t.published[0]!.payload), primary.keys.source.rootPublicKey, 'unitnet');
    expect(m.version).toBe(1);
    expect(m.params).toEqual(PARAMS);
    expect(m.signed.primaries).toEqual([Buffer.from(clerks[0]!.spki).toString('hex')]);
    expect(m.signed.committee).toEqual({ members: [Buffer.from(clerks[0]!.voteKey.publicKey).toString('hex')], quorum: 1 });
    expect(m.genesis).toEqual({ hash: genesis.hash, height: 0, timestamp: genesis.timestamp });
    expect(() => verifyManifest(JSON.parse(t.published[0]!.payload), keyPairFromSeed(randomBytes(32)).publicKey, 'unitnet')).toThrow(/signature/);
    await primary.stop({ clearRetained: true });
    const cleared = t.published.slice(1);
    expect(cleared.map((p) => p.topic).sort()).toEqual([topics.candidates, topics.final, topics.manifest].sort());
    expect(cleared.every((p) => p.payload === '' && p.retain)).toBe(true);
  });

  it('finalizes the candidate once a registered node seals it, with the member\'s signed vote; late seals are rejected as no-candidate', async () => {
    const t = new FakeTransport();
    const authority = new StaticSealAuthority([['n1', node.publicKey]]);
    const primary = new PrimaryNode({ transport: t, topics, params: PARAMS, clerks, authority, genesis: genesisTip('u', Date.now() - 10), voteWindowMs: 0 });
    const sealing = sealCandidates(t);
    const [block] = await primary.produce(1);
    expect(block).toMatchObject({ height: 1, final: true, quorum: 1 });
    expect(block!.votes.map((v) => v.member)).toEqual([Buffer.from(clerks[0]!.voteKey.publicKey).toString('hex')]);
    expect(block!.seals.map((s) => s.node)).toEqual(['n1']);
    const final = t.published.find((p) => p.topic === topics.final)!;
    expect(final.retain).toBe(true);
    const message = finalMessage.parse(final.payload);
    expect(message).toMatchObject({ height: 1, sealedBy: ['n1'], clerk: clerks[0]!.fingerprint, votes: block!.votes });
    // The check a node makes, against the committee of the manifest the primary published.
    const committee = verifyManifest(JSON.parse(t.published[0]!.payload), primary.keys.root.publicKey, 'devnet').committee;
    expect(verifyQuorum(committee, message, message.votes).valid).toBe(1);
    sealing.late!();
    expect(primary.stats().sealsRejected['no-candidate']).toBe(1);
    expect(primary.stats().sealsAccepted).toBe(1);
    await primary.stop();
  });

  it('each bad seal is rejected with its reason while the candidate is open, and changes nothing: the good one alone finalizes', async () => {
    const t = new FakeTransport();
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const authority = new StaticSealAuthority([['n1', node.publicKey], ['n2', node.publicKey]]);
    const events: string[] = [];
    const primary = new PrimaryNode({
      transport: t, topics, params: PARAMS, clerks, authority, genesis: genesisTip('u', Date.now() - 10), voteWindowMs: 0,
      onEvent: (e) => { if (e.type === 'seal-rejected') events.push(e.code); },
    });
    /** On the topic of `sender`, by default the node the seal names (as its transport publishes it). */
    const deliverSeal = (text: string, sender?: string): void => {
      const value = JSON.parse(text) as { nodeId: string };
      t.deliver(topics.sealFrom(clerks[0]!.fingerprint, sender ?? value.nodeId), value);
    };
    const grind = (hash: Uint8Array, key: typeof node.privateKey, min: number, max = 256): { round: number; signature: Uint8Array } => {
      for (let round = 0; ; round++) {
        const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, round), key));
        const z = scoreTicket(signature, round).zeros;
        if (z >= min && z <= max) return { round, signature };
      }
    };
    let statsWhileOpen: ReturnType<PrimaryNode['stats']> | null = null;
    t.onPublish = (topic, _payload, bytes) => {
      if (topic !== topics.candidates) return;
      const hash = blockHash(decodeCandidate(bytes, { maxTxs: PARAMS.maxBlockTxs, maxBlockBytes: PARAMS.maxBlockBytes }).block.header);
      const base = { height: 1, blockHash: hash, clerk: clerks[0]!.fingerprint, registration: null, expiresAt: Date.now() + 5000 };
      const good = grind(hash, node.privateKey, PARAMS.sealZeros);
      const bad = [
        encodeSealMessage({ ...base, nodeId: 'n2', ...grind(hash, other.privateKey, PARAMS.sealZeros) }), // wrong key
        encodeSealMessage({ ...base, nodeId: 'n9', ...good }), // unregistered
        encodeSealMessage({ ...base, nodeId: 'n2', ...grind(hash, node.privateKey, 0, PARAMS.sealZeros - 1) }), // low zeros
        encodeSealMessage({ ...base, nodeId: 'n2', ...good, blockHash: new Uint8Array(32) }), // wrong block
        encodeSealMessage({ ...base, nodeId: 'n2', ...good, expiresAt: 1 }), // expired
        '{"v":1,"nodeId":"n2","height":"one"}', // malformed
      ];
      setImmediate(() => {
        for (const b of bad) deliverSeal(b);
        deliverSeal(encodeSealMessage({ ...base, nodeId: 'n1', ...good }), 'n2'); // n1's seal on n2's topic
        statsWhileOpen = primary.stats();
        deliverSeal(encodeSealMessage({ ...base, nodeId: 'n1', ...good }));
      });
    };
    const [block] = await primary.produce(1);
    expect(events).toEqual(['bad-signature', 'unregistered', 'low-zeros', 'wrong-block', 'expired', 'malformed', 'wrong-sender']);
    expect(statsWhileOpen!.sealsAccepted).toBe(0);
    expect(block!.final).toBe(true);
    expect(block!.seals.map((s) => s.node)).toEqual(['n1']);
    expect(finalMessage.parse(t.published.find((p) => p.topic === topics.final)!.payload).sealedBy).toEqual(['n1']);
    expect(primary.tip.height).toBe(1);
    await primary.stop();
  });

  it('a member\'s vote that does not verify under its manifest key is not counted, nor published', async () => {
    const four = createClerks(4);
    const rogue = withSwappedVoteKey(four[1]!);
    const rogueMember = Buffer.from(rogue.voteKey.publicKey).toString('hex');
    const authority = new StaticSealAuthority([['n1', node.publicKey]]);
    const events: PrimaryEvent[] = [];
    const t = new FakeTransport();
    const primary = new PrimaryNode({
      transport: t, topics, params: PARAMS, clerks: [four[0]!, rogue, four[2]!, four[3]!], authority, genesis: genesisTip('v', Date.now() - 10), voteWindowMs: 0,
      onEvent: (e) => events.push(e),
    });
    sealCandidates(t);
    const [block] = await primary.produce(1);
    // 4 members vote, quorum 3: the rogue's vote is dropped, the 3 others certify the block.
    expect(block).toMatchObject({ final: true, quorum: 3 });
    expect(block!.votes).toHaveLength(3);
    expect(block!.votes.map((v) => v.member)).not.toContain(rogueMember);
    expect(primary.stats().votesRejected).toBe(1);
    expect(events.filter((e) => e.type === 'vote-rejected')).toMatchObject([{ member: rogueMember, height: 1, hash: block!.hash }]);
    expect(events.find((e) => e.type === 'vote')).toMatchObject({ votes: 3, quorum: 3 });
    const message = finalMessage.parse(t.published.find((p) => p.topic === topics.final)!.payload);
    expect(message.votes).toEqual(block!.votes);
    expect(verifyQuorum(primary.committee, message, message.votes).valid).toBe(3);
    await primary.stop();

    // With all 4 needed, the rogue's vote would be the fourth: no block is final, no final message goes out.
    const t2 = new FakeTransport();
    const strict = new PrimaryNode({
      transport: t2, topics, params: PARAMS, clerks: [four[0]!, rogue, four[2]!, four[3]!], authority, genesis: genesisTip('w', Date.now() - 10), voteWindowMs: 0, quorum: 4, maxAttempts: 2,
    });
    sealCandidates(t2);
    const [refused] = await strict.produce(1);
    expect(refused).toMatchObject({ final: false, votes: [], attempts: 2 });
    expect(strict.stats().votesRejected).toBe(2);
    expect(strict.stats().redraws).toBe(2);
    expect(t2.published.some((p) => p.topic === topics.final)).toBe(false);
    expect(strict.tip.height).toBe(0);
    await strict.stop();
  });

  it('refuses bad options', () => {
    const t = new FakeTransport();
    const base = { transport: t, topics, params: PARAMS, clerks, authority: new StaticSealAuthority(), genesis: genesisTip('u', 0) };
    expect(() => new PrimaryNode({ ...base, clerks: [] })).toThrow(/at least one clerk/);
    expect(() => new PrimaryNode({ ...base, genesis: { hash: new Uint8Array(3), height: 0, timestamp: 0 } })).toThrow(/32 bytes/);
    expect(() => new PrimaryNode({ ...base, txPerBlock: 101 })).toThrow(/txPerBlock/);
    expect(() => new PrimaryNode({ ...base, quorum: 2 })).toThrow(/quorum/);
    expect(() => new PrimaryNode({ ...base, clerks: createClerks(2), quorum: 1 })).toThrow(/quorum: must be a majority/);
    expect(() => new PrimaryNode({ ...base, network: 'no spaces' })).toThrow(/network/);
    expect(() => new PrimaryNode({ ...base, clerks: [clerks[0]!, { ...clerks[0]!, fingerprint: 'x' }] })).toThrow(/twice/);
    expect(() => new PrimaryNode({ ...base, maxAttempts: 0 })).toThrow(/maxAttempts/);
  });
});
