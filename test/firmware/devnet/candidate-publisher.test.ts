// How the reference primary puts a candidate out under each candidateDelivery: 'full' is one
// retained candidate as before; 'header-first' is the body, retained on its own topic and
// acknowledged, then the header frame on the candidates topic; the body is cleared once retired.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CandidatePublisher } from '../../../firmware/devnet/candidate-publisher.ts';
import { createClerks } from '../../../firmware/devnet/clerks.ts';
import { TxGenerator } from '../../../firmware/devnet/tx-generator.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { blockHash } from '../../../firmware/protocol/chain/block.ts';
import { createBlock } from '../../../firmware/protocol/chain/build.ts';
import { decodeCandidateHeader, joinBody } from '../../../firmware/protocol/chain/candidate-header.ts';
import { decodeCandidate } from '../../../firmware/protocol/chain/candidate-wire.ts';
import { DEFAULT_PARAMS, type NetworkParams } from '../../../firmware/protocol/params.ts';
import { topicsFor } from '../../../firmware/protocol/topics.ts';
import type { PrimaryTransport } from '../../../firmware/devnet/primary.ts';

const topics = topicsFor('unit-pub');
const clerk = createClerks(1)[0]!;
const caps = { maxTxs: DEFAULT_PARAMS.maxBlockTxs, maxBlockBytes: DEFAULT_PARAMS.maxBlockBytes };
const block = createBlock({ clerkKey: clerk.key, height: 1, previousHash: new Uint8Array(32), timestamp: 1_700_000_000_000, transactions: new TxGenerator({ seed: 'pub' }).next(30, 1_700_000_000), drawRound: 0, drawSignature: new Uint8Array(256) });
const hash = blockHash(block.header);

interface Sent { topic: string; payload: Uint8Array; retain: boolean; acked: boolean }

/** A transport whose publishes are acknowledged only when the test says so. */
function transport(): { t: PrimaryTransport; sent: Sent[]; ack: () => Promise<void> } {
  const sent: Sent[] = [];
  const pending: (() => void)[] = [];
  const t: PrimaryTransport = {
    publish(topic, payload, options = {}) {
      const s: Sent = { topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload as Uint8Array, retain: options.retain ?? false, acked: false };
      sent.push(s);
      return new Promise((resolve) => pending.push(() => { s.acked = true; resolve('delivered'); }));
    },
    subscribe: () => () => undefined,
  };
  return { t, sent, ack: async () => { for (const p of pending.splice(0)) p(); await new Promise((r) => setImmediate(r)); } };
}

const publisher = (t: PrimaryTransport, params: NetworkParams): CandidatePublisher => new CandidatePublisher({ transport: t, topics, params, log: pino({ level: 'silent' }) });

describe('CandidatePublisher', () => {
  it('full (and a manifest that names no delivery): the whole candidate, retained, to every node', async () => {
    for (const params of [DEFAULT_PARAMS, { ...DEFAULT_PARAMS, candidateDelivery: 'full' as const }]) {
      const { t, sent } = transport();
      const bytes = publisher(t, params).publish(block, hash);
      expect(sent.map((s) => [s.topic, s.retain])).toEqual([[topics.candidates, true]]);
      expect(toHex(blockHash(decodeCandidate(sent[0]!.payload, caps).block.header))).toBe(toHex(hash));
      expect(bytes).toEqual({ toEveryNode: sent[0]!.payload.length, toQualifiers: 0 });
    }
  });

  it('header-first: the body retained first, the header only once the broker has the body; retire clears the body', async () => {
    const { t, sent, ack } = transport();
    const p = publisher(t, { ...DEFAULT_PARAMS, candidateDelivery: 'header-first' });
    const bytes = p.publish(block, hash);
    const bodyTopic = topics.body(toHex(hash));
    expect(sent.map((s) => [s.topic, s.retain])).toEqual([[bodyTopic, true]]);
    await ack();
    expect(sent.map((s) => [s.topic, s.retain])).toEqual([[bodyTopic, true], [topics.candidates, true]]);
    const header = decodeCandidateHeader(sent[1]!.payload, caps);
    expect(toHex(header.hash)).toBe(toHex(hash));
    expect(joinBody(header, sent[0]!.payload, caps).ok).toBe(true);
    expect(bytes).toEqual({ toEveryNode: sent[1]!.payload.length, toQualifiers: sent[0]!.payload.length });
    expect(bytes.toEveryNode).toBeLessThan(bytes.toQualifiers);
    const retired = p.retire(hash);
    await ack();
    await retired;
    expect(sent[2]).toMatchObject({ topic: bodyTopic, retain: true });
    expect(sent[2]!.payload.length).toBe(0);
    await p.retire(hash); // once only
    await p.retireAll();
    expect(sent).toHaveLength(3);
  });
});
