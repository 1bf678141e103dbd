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
import type { Clock } from '../../../firmware/core/clock.ts';
import { blockHash, blockToJson, type Block } from '../../../firmware/protocol/chain/block.ts';
import { createBlock, drawUntilQualified } from '../../../firmware/protocol/chain/build.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { PrimaryKeySet } from '../../../firmware/protocol/chain/primaries.ts';
import { keyFingerprint, spkiOf } from '../../../firmware/protocol/identity.ts';
import { DEFAULT_PARAMS, type NetworkParams } from '../../../firmware/protocol/params.ts';
import { encodeSealMessage, readSealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { alwaysActive } from '../../../firmware/sealing/gate.ts';
import { openSealJournal, type SealJournal } from '../../../firmware/sealing/journal.ts';
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { softwareLotteryKey } from '../sealing/lottery-key.ts';
import { topicsFor } from '../../../firmware/transport/topics.ts';
import type { TpmInfo } from '../../../tpm/index.ts';

const topics = topicsFor('btn/fast');
const clerk = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clerkFp = keyFingerprint(spkiOf(clerk.publicKey));
const node = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** Time that moves only when the test says so. */
class FakeClock implements Pick<Clock, 'now' | 'sleep'> {
  #waiters: { at: number; resolve: () => void }[] = [];
  constructor(public t: number) {}
  now = (): number => this.t;
  sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    this.#waiters.push({ at: this.t + ms, resolve });
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  /** Moves time forward in steps, letting the agent run between them. */
  async advance(ms: number, step = 10): Promise<void> {
    for (let done = 0; done < ms; done += step) {
      this.t += step;
      for (const w of this.#waiters.filter((x) => x.at <= this.t)) w.resolve();
      this.#waiters = this.#waiters.filter((x) => x.at > this.t);
      await settle();
    }
  }
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** An in-memory broker connection: the test delivers messages, and sees what the agent sends. */
class FakeTransport extends EventEmitter {
  readonly topics = topics;
  readonly state = 'online';
  readonly seals: SealMessage[] = [];
  readonly #handlers = new Map<string, ((m: { topic: string; value: unknown }) => unknown)[]>();
  subscribe(filter: string, handler: (m: { topic: string; value: unknown }) => unknown): () => void {
    this.#handlers.set(filter, [...(this.#handlers.get(filter) ?? []), handler]);
    return () => this.#handlers.set(filter, (this.#handlers.get(filter) ?? []).filter((h) => h !== handler));
  }
  /** Hands the message over as a broker would: without waiting for what the handler starts (a spin). */
  async deliver(topic: string, value: unknown): Promise<void> {
    for (const h of this.#handlers.get(topic) ?? []) void h({ topic, value });
    for (let i = 0; i < 5; i++) await settle();
  }
  async publish(): Promise<'delivered'> {
    return 'delivered';
  }
  async publishSeal(_clerk: string, payload: string): Promise<'delivered'> {
    this.seals.push(readSealMessage(JSON.parse(payload)));
    return 'delivered';
  }
}

const PARAMS: NetworkParams = { ...DEFAULT_PARAMS, sealZeros: 0, clerkZeros: 0, spinIntervalMs: 100, maxRounds: 64, sealDeadlineMs: 10_000 };
const info: TpmInfo = { manufacturer: 'SOFT', vendor: 'software key', firmwareVersion: '0', ek: { publicKeyPem: '', certificatePem: null }, sealingKey: null };

let dir: string;
let journal: SealJournal;
let transport: FakeTransport;
let clock: FakeClock;
let agent: SecondaryAgent;
const genesis = { hash: new Uint8Array(32).fill(9), height: 0, timestamp: 0 };

async function start(params: NetworkParams = PARAMS): Promise<void> {
  journal = await openSealJournal(join(dir, `journal-${Math.random().toString(36).slice(2)}`));
  transport = new FakeTransport();
  clock = new FakeClock(Date.now());
  const signer = new SealSigner(journal, softwareLotteryKey(node.privateKey));
  agent = createAgent({
    nodeId: 'fast-node', tpm: { info: async () => info }, signer, transport: transport as never, topics, journal, gate: alwaysActive('fast-node'),
    primaries: new PrimaryKeySet([clerk.publicKey]), genesis: { ...genesis, timestamp: clock.t - 1000 }, params, clock, sealAuthority: null, statusIntervalMs: 60_000,
  });
  await agent.start();
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
    const block = candidate(1, genesis.hash, clock.t);
    await transport.deliver(topics.candidates, blockToJson(block));
    // The journal's writes are real I/O: wait for the seal, not for a number of ticks.
    const seal = await until('the seal', () => transport.seals[0], 10_000, 5);
    expect(seal.round).toBe(0);
    expect(verify('sha256', lotteryMessage(blockHash(block.header), 0), node.publicKey, seal.signature)).toBe(true);
  });

  it('spins only as fast as the clock allows: round r no earlier than r x spinInterval', async () => {
    const params = { ...PARAMS, sealZeros: 3 };
    await start(params);
    const block = candidate(1, genesis.hash, clock.t);
    const hash = blockHash(block.header);
    const r = firstQualifying(hash, 3);
    await transport.deliver(topics.candidates, blockToJson(block));
    await until('the decision recorded', () => journal.holds({ height: 1, clerk: clerkFp, blockHash: hash }), 10_000, 5);
    // Real time passes, virtual time does not: no round beyond 0 is tried, so no seal yet.
    await new Promise((done) => setTimeout(done, 100));
    if (r > 0) {
      expect(transport.seals).toHaveLength(0);
      await clock.advance(r * params.spinIntervalMs - 20);
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
    let block = candidate(1, genesis.hash, clock.t);
    for (let ts = clock.t + 1; !misses(block); ts++) block = candidate(1, genesis.hash, ts);
    const hash = blockHash(block.header);
    await transport.deliver(topics.candidates, blockToJson(block));
    await until('the decision recorded', () => journal.holds({ height: 1, clerk: clerkFp, blockHash: hash }), 10_000, 5);
    await clock.advance(250);
    expect(agent.status().spinning).toBe(1);
    // Another node's round-0 seal. The spin keeps the parameters it started with (12 bits);
    // newer parameters (a threshold this ticket meets) decide which seals count as competition.
    const signature = new Uint8Array(sign('sha256', lotteryMessage(hash, 0), other.privateKey));
    await transport.deliver(topics.params, { ...params, version: 2, sealZeros: scoreTicket(signature, 0).zeros });
    await transport.deliver(topics.seals(clerkFp), JSON.parse(encodeSealMessage({ nodeId: 'other', height: 1, blockHash: hash, clerk: clerkFp, round: 0, signature, registration: null, expiresAt: clock.t + 5000 })));
    // The spin sees the better seal when it wakes for its next round.
    await clock.advance(200);
    await until('the spin to stop', () => agent.status().spinning === 0, 10_000, 5);
    await clock.advance(2000);
    await new Promise((done) => setTimeout(done, 50));
    expect(transport.seals).toHaveLength(0);
  });

  it('refuses an invalid candidate with its reason and seals nothing', async () => {
    await start();
    const rejected: string[] = [];
    agent.on('rejected', (e: { code: string }) => rejected.push(e.code));
    await transport.deliver(topics.candidates, blockToJson(candidate(2, genesis.hash, clock.t)));
    await transport.deliver(topics.candidates, { height: 1, junk: true });
    await until('two refusals', () => rejected.length === 2, 10_000, 5);
    expect(rejected.sort()).toEqual(['malformed', 'wrong-height']);
    expect(transport.seals).toHaveLength(0);
  });
});
