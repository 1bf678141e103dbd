// The primary node against a fake transport: every seal it is handed, and every seal the
// transport dropped before it (not JSON, expired), is counted by reason; a good seal finalizes.
import { EventEmitter } from 'node:events';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseBlockJson, blockHash } from '../../../firmware/protocol/chain/block.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { finalMessage } from '../../../firmware/protocol/final-message.ts';
import type { NetworkParams } from '../../../firmware/protocol/params.ts';
import { encodeSealMessage } from '../../../firmware/protocol/seal-message.ts';
import type { InboundMessage, SubscribeOptions } from '../../../firmware/transport/mqtt-types.ts';
import { topicsFor } from '../../../firmware/transport/topics.ts';
import { createClerks } from '../../../firmware/devnet/clerks.ts';
import { genesisTip, PrimaryNode, type PrimaryTransport } from '../../../firmware/devnet/primary.ts';
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
  onPublish: (topic: string, payload: string) => void = () => undefined;
  async publish(topic: string, payload: Uint8Array | string | Record<string, unknown>, options: { retain?: boolean } = {}): Promise<'delivered'> {
    const text = typeof payload === 'string' ? payload : payload instanceof Uint8Array ? Buffer.from(payload).toString('utf8') : JSON.stringify(payload);
    this.published.push({ topic, payload: text, retain: options.retain ?? false });
    this.onPublish(topic, text);
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
    void this.handlers.get(topic)!({ topic, value, retain: false, bytes: 1, messageExpiryInterval: undefined });
  }
}

describe('PrimaryNode (fake transport)', () => {
  it('counts transport drops and verifier rejections on seal topics by reason, ignores other topics', async () => {
    const t = new FakeTransport();
    const primary = new PrimaryNode({ transport: t, topics, params: PARAMS, clerks, authority: new StaticSealAuthority(), genesis: genesisTip('u', Date.now()) });
    await primary.start();
    const sealTopic = topics.seals(clerks[0]!.fingerprint);
    t.emit('drop', { topic: sealTopic, reason: 'malformed-json', detail: 'Unexpected token' });
    t.emit('drop', { topic: sealTopic, reason: 'expired', detail: 'expiresAt 1' });
    t.emit('drop', { topic: topics.candidates, reason: 'malformed-json', detail: 'x' });
    t.deliver(sealTopic, { v: 1, nodeId: 'x' });
    t.deliver(sealTopic, 'just a string');
    const stats = primary.stats();
    expect(stats.sealsRejected.malformed).toBe(3);
    expect(stats.sealsRejected.expired).toBe(1);
    expect(stats.sealsAccepted).toBe(0);
    // Params went out retained.
    expect(t.published[0]).toMatchObject({ topic: topics.params, retain: true });
    await primary.stop();
    expect(t.listenerCount('drop')).toBe(0);
    expect(t.handlers.size).toBe(0);
  });

  it('finalizes the candidate once a registered node seals it; late seals are rejected as no-candidate', async () => {
    const t = new FakeTransport();
    const authority = new StaticSealAuthority([['n1', node.publicKey]]);
    const primary = new PrimaryNode({ transport: t, topics, params: PARAMS, clerks, authority, genesis: genesisTip('u', Date.now() - 10), voteWindowMs: 0 });
    const sealTopic = topics.seals(clerks[0]!.fingerprint);
    let late: (() => void) | null = null;
    t.onPublish = (topic, payload) => {
      if (topic !== topics.candidates) return;
      const block = parseBlockJson(payload);
      const hash = blockHash(block.header);
      for (let round = 0; ; round++) {
        const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, round), node.privateKey));
        if (scoreTicket(signature, round).zeros < PARAMS.sealZeros) continue;
        const seal = encodeSealMessage({ nodeId: 'n1', height: 1, blockHash: hash, clerk: clerks[0]!.fingerprint, round, signature, registration: null, expiresAt: Date.now() + 5000 });
        setImmediate(() => t.deliver(sealTopic, JSON.parse(seal)));
        late = () => t.deliver(sealTopic, JSON.parse(seal));
        break;
      }
    };
    const [block] = await primary.produce(1);
    expect(block).toMatchObject({ height: 1, final: true, votes: 1, quorum: 1 });
    expect(block!.seals.map((s) => s.node)).toEqual(['n1']);
    const final = t.published.find((p) => p.topic === topics.final)!;
    expect(final.retain).toBe(true);
    expect(finalMessage.parse(final.payload)).toMatchObject({ height: 1, sealedBy: ['n1'], votes: 1, clerk: clerks[0]!.fingerprint });
    late!();
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
    const sealTopic = topics.seals(clerks[0]!.fingerprint);
    const grind = (hash: Uint8Array, key: typeof node.privateKey, min: number, max = 256): { round: number; signature: Uint8Array } => {
      for (let round = 0; ; round++) {
        const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, round), key));
        const z = scoreTicket(signature, round).zeros;
        if (z >= min && z <= max) return { round, signature };
      }
    };
    let statsWhileOpen: ReturnType<PrimaryNode['stats']> | null = null;
    t.onPublish = (topic, payload) => {
      if (topic !== topics.candidates) return;
      const hash = blockHash(parseBlockJson(payload).header);
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
        for (const b of bad) t.deliver(sealTopic, JSON.parse(b));
        statsWhileOpen = primary.stats();
        t.deliver(sealTopic, JSON.parse(encodeSealMessage({ ...base, nodeId: 'n1', ...good })));
      });
    };
    const [block] = await primary.produce(1);
    expect(events).toEqual(['bad-signature', 'unregistered', 'low-zeros', 'wrong-block', 'expired', 'malformed']);
    expect(statsWhileOpen!.sealsAccepted).toBe(0);
    expect(block!.final).toBe(true);
    expect(block!.seals.map((s) => s.node)).toEqual(['n1']);
    expect(finalMessage.parse(t.published.find((p) => p.topic === topics.final)!.payload).sealedBy).toEqual(['n1']);
    expect(primary.tip.height).toBe(1);
    await primary.stop();
  });

  it('refuses bad options', () => {
    const t = new FakeTransport();
    const base = { transport: t, topics, params: PARAMS, clerks, authority: new StaticSealAuthority(), genesis: genesisTip('u', 0) };
    expect(() => new PrimaryNode({ ...base, clerks: [] })).toThrow(/at least one clerk/);
    expect(() => new PrimaryNode({ ...base, genesis: { hash: new Uint8Array(3), height: 0, timestamp: 0 } })).toThrow(/32 bytes/);
    expect(() => new PrimaryNode({ ...base, txPerBlock: 101 })).toThrow(/txPerBlock/);
    expect(() => new PrimaryNode({ ...base, quorum: 2 })).toThrow(/quorum/);
    expect(() => new PrimaryNode({ ...base, maxAttempts: 0 })).toThrow(/maxAttempts/);
  });
});
