// The agent's duties in virtual time: an in-memory transport, a software RSA sealing key behind
// the real SealSigner and journal, and a fake clock, so spinning rounds, better seals and final
// blocks are checked in milliseconds. agent.test.ts runs the same agent on swtpm and aedes.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../until.ts';
import { createAgent, type SecondaryAgent } from '../../../firmware/agent/index.ts';
import { ManualClock } from '../../../firmware/core/manual-clock.ts';
import { blockHash, blockToJson, type Block } from '../../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import type { SealAuthority } from '../../../firmware/protocol/seal-check.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { NetworkState } from '../../../firmware/node/network-state.ts';
import { signManifest } from '../../../firmware/protocol/network-manifest.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { generateEd25519 } from '../../../provisioning/keys.ts';
import { signVote } from '../../../firmware/protocol/quorum.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';
import { DEFAULT_PARAMS, type NetworkParams } from '../../../firmware/protocol/params.ts';
import { encodeSealMessage, sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { encodeFinalMessage } from '../../../firmware/protocol/final-message.ts';
import { alwaysActive, neverActive, type SealGate } from '../../../firmware/sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { softwareLotteryKey } from '../sealing/lottery-key.ts';
import { topicMatches, topicsFor } from '../../../firmware/protocol/topics.ts';
import type { SubscribeOptions } from '../../../firmware/transport/mqtt-types.ts';
import { DEVICE_MAX_INBOUND_BYTES } from '../../../firmware/transport/mqtt-transport.ts';
import type { TpmInfo } from '../../../tpm/index.ts';

const topics = topicsFor('btn/fast');
const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clerkFp = keyFingerprint(spkiOf(clerk.publicKey));
const node = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
// The root and a committee of 4 (quorum 3): manifests and finals are signed as on a real network.
const keys = new NetworkKeys({ network: 'fastnet', members: 4 });

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** An in-memory broker connection: the test delivers messages, and sees what the agent sends. */
class FakeTransport extends EventEmitter {
  readonly topics = topics;
  readonly state = 'online';
  readonly inboundCeiling = DEVICE_MAX_INBOUND_BYTES;
  readonly seals: SealMessage[] = [];
  readonly #handlers = new Map<string, ((m: { topic: string; value: unknown }) => unknown)[]>();
  subscribe<T>(filter: string, handler: (m: { topic: string; value: T }) => unknown, options: SubscribeOptions<T> = {}): (() => void) & { ready: Promise<boolean> } {
    // as the real transport: the subscription's schema reads the value once; a refusal never reaches the handler
    const h = (m: { topic: string; value: unknown }): unknown => {
      if (options.raw === true) {
        // raw subscribers get the payload's bytes (an object is sent as JSON), under the subscription's cap
        const bytes = m.value instanceof Uint8Array ? m.value : new TextEncoder().encode(JSON.stringify(m.value));
        const cap = Math.min(this.inboundCeiling, typeof options.maxBytes === 'function' ? options.maxBytes(bytes) : options.maxBytes ?? Infinity);
        if (bytes.length > cap) return options.onOversize?.(bytes.length, cap, m.topic);
        return handler({ ...m, value: bytes as T });
      }
      let value: T;
      try {
        value = options.schema === undefined ? (m.value as T) : options.schema.read(m.value);
      } catch (err) {
        options.onInvalid?.(err as Error, m.topic);
        return undefined;
      }
      return handler({ ...m, value });
    };
    this.#handlers.set(filter, [...(this.#handlers.get(filter) ?? []), h]);
    const unsubscribe = (): void => void this.#handlers.set(filter, (this.#handlers.get(filter) ?? []).filter((x) => x !== h));
    return Object.assign(unsubscribe, { ready: Promise.resolve(true) });
  }
  /** Hands the message over as a broker would: without waiting for what the handler starts (a spin). */
  async deliver(topic: string, value: unknown): Promise<void> {
    for (const [filter, handlers] of this.#handlers) if (topicMatches(filter, topic)) for (const h of handlers) void h({ topic, value });
    for (let i = 0; i < 5; i++) await settle();
  }
  async publish(): Promise<'delivered'> {
    return 'delivered';
  }
  async publishSeal(_clerk: string, payload: string): Promise<'delivered'> {
    this.seals.push(sealMessage.read(JSON.parse(payload)));
    return 'delivered';
  }
}

const PARAMS: NetworkParams = { ...DEFAULT_PARAMS, sealZeros: 0, clerkZeros: 0, spinIntervalMs: 100, maxRounds: 64, sealDeadlineMs: 10_000 };
const info: TpmInfo = { manufacturer: 'SOFT', vendor: 'software key', firmwareVersion: '0', ek: { publicKeyPem: '', certificatePem: null }, sealingKey: null };

let dir: string;
let journal: SealJournal;
let transport: FakeTransport;
let clock: ManualClock;
let agent: SecondaryAgent;
let network: NetworkState;
const genesis = { hash: new Uint8Array(32).fill(9), height: 0, timestamp: 0 };
/** The manifest of this run's network, at `version` with `params`. */
const manifest = (version: number, params: NetworkParams = PARAMS) => keys.manifest({ version, params, primaries: [clerk.publicKey], genesis });

interface StartOptions {
  readonly sealAuthority?: SealAuthority | null;
  /** A journal file to reopen (a restart); a fresh one when omitted. */
  readonly journalFile?: string;
  readonly gate?: SealGate;
  readonly clockAt?: number;
  /** Start without a manifest (the test delivers one later). */
  readonly noManifest?: boolean;
}

async function start(params: NetworkParams = PARAMS, o: StartOptions = {}): Promise<void> {
  journal = await openSealJournal(o.journalFile ?? join(dir, `journal-${Math.random().toString(36).slice(2)}`));
  transport = new FakeTransport();
  clock = new ManualClock(o.clockAt ?? Date.now());
  const signer = new SealSigner(journal, softwareLotteryKey(node.privateKey));
  network = await NetworkState.open({ source: { kind: 'signed', network: 'fastnet', rootPublicKey: keys.root.publicKey }, clock });
  agent = createAgent({
    nodeId: 'fast-node', tpm: { info: async () => info }, signer, transport: transport as never, topics, journal, gate: o.gate ?? alwaysActive('fast-node'),
    network, clock, sealAuthority: o.sealAuthority ?? null, statusIntervalMs: 60_000,
  });
  await agent.start();
  if (o.noManifest === true) return;
  // As the broker hands a retained manifest to a new subscriber.
  await transport.deliver(topics.manifest, manifest(1, params));
  expect(network.current?.version).toBe(1);
}

function candidate(height: number, previousHash: Uint8Array, timestamp: number): Block {
  const draw = drawUntilQualified(clerk.privateKey, previousHash, 0, 1)!;
  return createBlock({ clerkKey: clerk.privateKey, height, previousHash, timestamp, drawRound: draw.round, drawSignature: draw.signature });
}

/** The first round whose ticket under `key` has at least `zeros` bits, computed independently. */
function firstQualifying(hash: Uint8Array, zeros: number, key = node.privateKey): number {
  for (let r = 0; ; r++) if (scoreTicket(new Uint8Array(sign('sha256', lotteryMessage(hash, r), key)), r).zeros >= zeros) return r;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-agent-fast-'));
});
afterEach(async () => {
  await agent?.stop();
  await journal?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('agent in virtual time', () => {
  it('seals a valid candidate at once when round 0 qualifies; the signature verifies under the node key', async () => {
    await start();
    const block = candidate(1, genesis.hash, clock.now());
    await transport.deliver(topics.candidates, blockToJson(block));
    // The journal's writes are real I/O: wait for the seal, not for a number of ticks.
    const seal = await until('the seal', () => transport.seals[0], 10_000, 5);
    expect(seal.round).toBe(0);
    expect(verify('sha256', lotteryMessage(blockHash(block.header), 0), node.publicKey, seal.signature)).toBe(true);
  });

  it('spins only as fast as the clock allows: round r no earlier than r x spinInterval', async () => {
    const params = { ...PARAMS, sealZeros: 3 };
    await start(params);
    const block = candidate(1, genesis.hash, clock.now());
    const hash = blockHash(block.header);
    const r = firstQualifying(hash, 3);
    await transport.deliver(topics.candidates, blockToJson(block));
    await until('the decision recorded', () => journal.holds({ height: 1, clerk: clerkFp, blockHash: hash }), 10_000, 5);
    // Real time passes, virtual time does not: no round beyond 0 is tried, so no seal yet.
    // (A negative check, so a real-time wait: 100 ms in which the agent could have run ahead.)
    await new Promise((done) => setTimeout(done, 100));
    if (r > 0) {
      expect(transport.seals).toHaveLength(0);
      await clock.advance(r * params.spinIntervalMs - 20);
      // Negative again: the round before r's slot must not have been signed early.
      await new Promise((done) => setTimeout(done, 50));
      expect(transport.seals).toHaveLength(0);
    }
    await clock.advance(40);
    const seals = await until('the seal of round r', () => (transport.seals.length > 0 ? transport.seals : undefined), 10_000, 5);
    expect(seals.map((x) => x.round)).toEqual([r]);
  });

  it('stops spinning when another node\'s seal of a better round arrives', async () => {
    const params = { ...PARAMS, sealZeros: 12 };
    await start(params);
    // A block for which this node's first 25 rounds do not qualify (checked independently).
    const misses = (b: Block): boolean => [...Array(25).keys()].every((r) => scoreTicket(new Uint8Array(sign('sha256', lotteryMessage(blockHash(b.header), r), node.privateKey)), r).zeros < 12);
    let block = candidate(1, genesis.hash, clock.now());
    for (let ts = clock.now() + 1; !misses(block); ts++) block = candidate(1, genesis.hash, ts);
    const hash = blockHash(block.header);
    await transport.deliver(topics.candidates, blockToJson(block));
    await until('the decision recorded', () => journal.holds({ height: 1, clerk: clerkFp, blockHash: hash }), 10_000, 5);
    await clock.advance(250);
    expect(agent.status().spinning).toBe(1);
    expect(agent.status().journal).toEqual({ entries: 1, highestHeight: 1 }); // what an update's health check compares
    // Another node's round-0 seal. The spin keeps the parameters it started with (12 bits);
    // newer parameters (a threshold this ticket meets) decide which seals count as competition.
    const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, 0), other.privateKey));
    await transport.deliver(topics.manifest, manifest(2, { ...params, sealZeros: scoreTicket(signature, 0).zeros }));
    await transport.deliver(topics.sealFrom(clerkFp, 'other'), JSON.parse(encodeSealMessage({ nodeId: 'other', height: 1, blockHash: hash, clerk: clerkFp, round: 0, signature, registration: null, expiresAt: clock.now() + 5000 })));
    // The spin sees the better seal when it wakes for its next round.
    await clock.advance(200);
    await until('the spin to stop', () => agent.status().spinning === 0, 10_000, 5);
    await clock.advance(2000);
    // A negative check: 2 s of virtual time and 50 ms of real time later, still no seal.
    await new Promise((done) => setTimeout(done, 50));
    expect(transport.seals).toHaveLength(0);
  });

  it('judges another node\'s seal by its zero bits before its key or signature, and drops a malformed one at the schema', async () => {
    const params = { ...PARAMS, sealZeros: 6 };
    let consulted = 0;
    const authority: SealAuthority = { keyFor: () => { consulted++; return { ok: false, reason: 'not registered here' }; } };
    await start(params, { sealAuthority: authority });
    const block = candidate(1, genesis.hash, clock.now());
    const hash = blockHash(block.header);
    await transport.deliver(topics.candidates, blockToJson(block));
    await until('the decision recorded', () => journal.holds({ height: 1, clerk: clerkFp, blockHash: hash }), 10_000, 5);
    const sealOf = (round: number, signature: Uint8Array): unknown => JSON.parse(encodeSealMessage({ nodeId: 'other', height: 1, blockHash: hash, clerk: clerkFp, round, signature, registration: null, expiresAt: clock.now() + 5000 }));
    // Signatures of the right size whose tickets have fewer than 6 zero bits (found independently).
    const low: Uint8Array[] = [];
    for (let i = 0; low.length < 20; i++) {
      const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, i), other.privateKey));
      if (scoreTicket(signature, 0).zeros < 6) low.push(signature);
    }
    for (const signature of low) await transport.deliver(topics.sealFrom(clerkFp, 'other'), sealOf(0, signature));
    expect(consulted).toBe(0);
    // Not a seal at all: refused by the schema, counted, never judged.
    await transport.deliver(topics.sealFrom(clerkFp, 'other'), { ...(sealOf(0, low[0]!) as object), signature: 'zz' });
    expect(consulted).toBe(0);
    expect(agent.status().invalidMessages).toMatchObject({ seal: 1 });
    // A ticket that meets the threshold goes on to the key (and would go on to RSA).
    let round = 0;
    let good = new Uint8Array(0);
    for (; ; round++) {
      good = new Uint8Array(sign('sha256', lotteryMessage(hash, round), other.privateKey));
      if (scoreTicket(good, round).zeros >= 6) break;
    }
    await transport.deliver(topics.sealFrom(clerkFp, 'other'), sealOf(round, good));
    // The same seal under another node's topic name: refused before any check.
    await transport.deliver(topics.sealFrom(clerkFp, 'impostor'), sealOf(round, good));
    expect(consulted).toBe(1);
    expect(agent.status().invalidMessages).toMatchObject({ seal: 1, 'seal-unregistered': 1, 'seal-wrong-sender': 1 });
  });

  it('refuses an invalid candidate with its reason and seals nothing', async () => {
    await start();
    const rejected: string[] = [];
    agent.on('rejected', (e: { code: string }) => rejected.push(e.code));
    await transport.deliver(topics.candidates, blockToJson(candidate(2, genesis.hash, clock.now())));
    await transport.deliver(topics.candidates, { height: 1, junk: true });
    await until('two refusals', () => rejected.length === 2, 10_000, 5);
    expect(rejected.sort()).toEqual(['malformed', 'wrong-height']);
    expect(transport.seals).toHaveLength(0);
  });

  it('follows final blocks: tip and journal watermark advance, the next height seals on the new tip, older heights are refused', async () => {
    await start();
    const first = candidate(1, genesis.hash, clock.now());
    const hash = blockHash(first.header);
    await transport.deliver(topics.candidates, blockToJson(first));
    await until('the seal at height 1', () => transport.seals[0], 10_000, 5);
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage(keys.final({ height: 1, hash, timestamp: first.header.timestamp, clerk: clerkFp, sealedBy: ['fast-node'] }))));
    // The tip moves first, then the journal's watermark is written (real I/O): wait for both.
    await until('the final block taken', () => agent.status().chain.height === 1 && journal.finalizedHeight === 1, 10_000, 5);
    // A final for an older height does not move the tip back.
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage(keys.final({ height: 0, hash: genesis.hash, timestamp: genesis.timestamp, clerk: clerkFp, sealedBy: [] }))));
    expect(agent.status().chain.height).toBe(1);
    const rejected: string[] = [];
    agent.on('rejected', (e: { code: string }) => rejected.push(e.code));
    await transport.deliver(topics.candidates, blockToJson(candidate(1, genesis.hash, clock.now() + 1)));
    const next = candidate(2, hash, clock.now() + 2);
    await transport.deliver(topics.candidates, blockToJson(next));
    const seal = await until('the seal at height 2', () => transport.seals.find((x) => x.height === 2), 10_000, 5);
    expect(Buffer.from(seal.blockHash).equals(Buffer.from(blockHash(next.header)))).toBe(true);
    expect(rejected).toEqual(['unknown-parent']); // a height-1 block builds on genesis, no longer the tip
  });

  it('never seals a second block for one (height, clerk), also after a restart on the same journal, which gives the same seal back', async () => {
    const journalFile = join(dir, 'journal-restart');
    await start(PARAMS, { journalFile });
    const first = candidate(1, genesis.hash, clock.now());
    await transport.deliver(topics.candidates, blockToJson(first));
    const seal = await until('the first seal', () => transport.seals[0], 10_000, 5);
    let rejected: string[] = [];
    agent.on('rejected', (e: { code: string }) => rejected.push(e.code));
    await transport.deliver(topics.candidates, blockToJson(candidate(1, genesis.hash, clock.now() + 1)));
    await until('the conflict refused', () => rejected.includes('conflicting-block'), 10_000, 5);
    expect(transport.seals).toHaveLength(1);
    const at = clock.now();
    await agent.stop();
    await journal.close();
    await start(PARAMS, { journalFile, clockAt: at });
    rejected = [];
    agent.on('rejected', (e: { code: string }) => rejected.push(e.code));
    await transport.deliver(topics.candidates, blockToJson(first));
    const again = await until('the seal again', () => transport.seals[0], 10_000, 5);
    expect(again.round).toBe(seal.round);
    expect(Buffer.from(again.signature).equals(Buffer.from(seal.signature))).toBe(true);
    expect(agent.status().seals.reused).toBe(1);
    await transport.deliver(topics.candidates, blockToJson(candidate(1, genesis.hash, clock.now() + 2)));
    await until('the conflict refused after the restart', () => rejected.includes('conflicting-block'), 10_000, 5);
    expect(transport.seals).toHaveLength(1);
  });

  it('takes newer manifests only, and counts forged, rolled-back and malformed manifests and finals without acting on them', async () => {
    await start();
    await transport.deliver(topics.manifest, manifest(2, { ...PARAMS, sealZeros: 16 }));
    expect(agent.params?.sealZeros).toBe(16);
    await transport.deliver(topics.manifest, manifest(1, { ...PARAMS, sealZeros: 1 })); // rolled back
    const forger = new NetworkKeys({ network: 'fastnet', members: 4 });
    await transport.deliver(topics.manifest, forger.manifest({ version: 3, params: { ...PARAMS, sealZeros: 0 }, primaries: [clerk.publicKey], genesis })); // not the root's key
    await transport.deliver(topics.manifest, { ...manifest(3), version: 2 ** 40 }); // a changed field: the signature no longer holds
    await transport.deliver(topics.manifest, { version: 'x' });
    await until('the manifests judged', () => agent.status().invalidMessages['manifest-refused'] === 3, 10_000, 5);
    expect(agent.params).toMatchObject({ version: 2, sealZeros: 16 });
    const final = { height: 7, hash: new Uint8Array(32).fill(7), timestamp: clock.now(), clerk: clerkFp, sealedBy: [] };
    await transport.deliver(topics.final, { v: 1, height: 'x' });
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage(keys.final(final, 2)))); // below quorum
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage(forger.final(final)))); // votes of non-members
    const valid = keys.final({ ...final, height: 6 });
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage({ ...valid, height: 7 }))); // an old final replayed at a higher height
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage({ ...valid, votes: [valid.votes[0]!, valid.votes[0]!, valid.votes[0]!] }))); // one voter three times
    expect(agent.status().invalidMessages).toEqual({ manifest: 1, 'manifest-refused': 3, final: 1, 'final-below-quorum': 4 });
    const before = journal.finalizedHeight;
    expect(before).toBeLessThan(1);
    expect(agent.status().chain).toMatchObject({ height: 0, finalizedHeight: before, paramsVersion: 2 });
  });

  it('drops a forged root key rotation announcement: terms, root keys, tip and journal stay as they were', async () => {
    await start();
    const held = network.manifest!.signed;
    const { format: _f, signature: _s, ...body } = held;
    const x = generateEd25519().key;
    const rotation = { previous: toHex(keys.root.publicKey), next: toHex(x.publicKey), from: clock.now(), until: clock.now() + 30 * 24 * 3600_000 };
    const before = { chain: agent.status().chain, entries: journal.entryCount, finalized: journal.finalizedHeight };
    // Signed by the key it announces; and the root's own announcement of another key with X's swapped in.
    await transport.deliver(topics.manifest, signManifest({ ...body, version: held.version + 1, rootRotation: rotation }, x.privateKeyObject));
    const real = signManifest({ ...body, version: held.version + 1, rootRotation: { ...rotation, next: toHex(generateEd25519().key.publicKey) } }, keys.root.privateKey);
    await transport.deliver(topics.manifest, { ...real, rootRotation: rotation });
    await until('both announcements judged', () => agent.status().invalidMessages['manifest-root-key'] === 1 && agent.status().invalidMessages['manifest-refused'] === 1, 10_000, 5);
    expect(network.current?.version).toBe(held.version);
    expect(network.rootKeys?.at(clock.now())).toEqual([keys.root.publicKey]);
    expect(agent.status().rootKeys).toEqual([{ publicKey: toHex(keys.root.publicKey) }]);
    expect({ chain: agent.status().chain, entries: journal.entryCount, finalized: journal.finalizedHeight }).toEqual(before);
  });

  it('takes a committee change from a newer manifest while running: the new committee\'s votes count, a removed member\'s do not', async () => {
    await start();
    const [removed, ...kept] = keys.members;
    await transport.deliver(topics.manifest, keys.manifest({ version: 2, params: PARAMS, primaries: [clerk.publicKey], genesis }, kept, 2));
    expect(network.current?.committee?.size).toBe(3);
    const block = { height: 3, hash: new Uint8Array(32).fill(3), timestamp: clock.now(), clerk: clerkFp, sealedBy: [] };
    const voteOf = (m: typeof removed) => signVote(m!.privateKey, m!.publicKey, 'fastnet', block);
    // The removed member and one kept: one valid vote of a current member, the quorum is 2.
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage({ ...block, votes: [voteOf(removed), voteOf(kept[0])] })));
    expect(agent.status().invalidMessages).toEqual({ 'final-below-quorum': 1 });
    expect(agent.status().chain.height).toBe(0);
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage({ ...block, votes: [voteOf(kept[1]), voteOf(kept[2])] })));
    await until('the final taken', () => agent.status().chain.height === 3 && journal.finalizedHeight === 3, 10_000, 5);
  });

  it('counts what the transport drops before any schema reads it (not JSON, above the cap) under the topic it came on', async () => {
    await start();
    const drop = (topic: string, reason: string): boolean => transport.emit('drop', { topic, reason, detail: 'test' });
    drop(topics.final, 'malformed-json');
    drop(topics.manifest, 'oversize');
    drop(topics.candidates, 'oversize'); // candidates are bytes: the candidate path rejects and counts them
    drop(topics.revocations, 'malformed-json');
    drop(topics.sealFrom(clerkFp, 'someone'), 'oversize');
    drop(topics.final, 'invalid'); // the schema's refusal is counted by onInvalid, not twice
    drop(topics.sealFrom(clerkFp, 'someone'), 'expired'); // a late seal is ordinary traffic
    drop('elsewhere/final', 'malformed-json'); // not a topic this node reads
    expect(agent.status().invalidMessages).toEqual({ final: 1, manifest: 1, revocations: 1, seal: 1 });
    await agent.stop();
    drop(topics.final, 'malformed-json');
    expect(agent.status().invalidMessages).toEqual({ final: 1, manifest: 1, revocations: 1, seal: 1 });
  });

  it('a new node that gets the retained final and candidate before the manifest checks them once the manifest is stored', async () => {
    await start(PARAMS, { noManifest: true });
    const first = candidate(1, genesis.hash, clock.now());
    const hash = blockHash(first.header);
    const next = candidate(2, hash, clock.now() + 1);
    await transport.deliver(topics.final, JSON.parse(encodeFinalMessage(keys.final({ height: 1, hash, timestamp: first.header.timestamp, clerk: clerkFp, sealedBy: [] }))));
    await transport.deliver(topics.candidates, blockToJson(next));
    expect(agent.status().invalidMessages).toEqual({ 'final-unverifiable': 1 });
    expect(agent.status().rejected).toMatchObject({ 'no-manifest': 1 });
    await transport.deliver(topics.manifest, manifest(1));
    const seal = await until('the held candidate sealed on the held final', () => transport.seals.find((x) => x.height === 2), 10_000, 5);
    expect(Buffer.from(seal.blockHash).equals(Buffer.from(blockHash(next.header)))).toBe(true);
    expect(agent.status().chain.height).toBe(1);
  });

  it('an inactive node never seals and records nothing', async () => {
    await start(PARAMS, { gate: neverActive('fast-node') });
    await transport.deliver(topics.candidates, blockToJson(candidate(1, genesis.hash, clock.now())));
    await until('the inactive spin', () => agent.status().spins.inactive === 1, 10_000, 5);
    expect(transport.seals).toHaveLength(0);
    expect(journal.export().entries).toHaveLength(0);
    expect(agent.status().activation.state).toBe('not-activated');
  });
});
