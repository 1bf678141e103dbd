// A broker restart under a sealing network, all parts real: one agent (createAgent, as
// btn-node run wires it) on swtpm, the devnet's PrimaryNode producing blocks, mosquitto SIGKILLed
// and started again on the same port, once with persistence (retained messages and the clerk's
// persistent session survive from the last autosave) and once without (everything is lost).
// Shown each time: the agent reconnects by itself; its retained online status comes back; blocks
// go on being sealed; no (height, clerk) is sealed twice (the journal, the agent's events and the
// wire agree); a seal decided while the broker was down is queued (QoS 1, expiring at the round
// deadline) and reaches the clerk at most once. docs/seal-journal.md, docs/components.md; firmware/agent/README.md.
import { SealSigner } from '../../../firmware/sealing/seal-signer.ts';
import { createPublicKey } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkState } from '../../../firmware/node/network-state.ts';
import { createAgent, type RejectedEvent, type SealEvent } from '../../../firmware/agent/index.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { createClerks, DEVNET_PARAMS, genesisTip, PrimaryNode, StaticSealAuthority, TxGenerator, type Clerk, type FinalBlockRecord, type PrimaryEvent } from '../../../firmware/devnet/index.ts';
import type { NetworkParams } from '../../../firmware/protocol/params.ts';
import { sealMessage, type SealMessage } from '../../../firmware/protocol/seal-message.ts';
import { alwaysActive, openSealJournal, type JournalEntry } from '../../../firmware/sealing/index.ts';
import { createMqttTransport, DEVICE_MAX_INBOUND_BYTES, topicsFor } from '../../../firmware/transport/index.ts';
import { DEFAULT_BLOCK_CAPS } from '../../../firmware/protocol/chain/block.ts';
import { decodeCandidate } from '../../../firmware/protocol/chain/candidate-wire.ts';
import { openTpm, type SealingKeyInfo, type Tpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { startMosquitto, type Mosquitto } from '../transport/mosquitto.ts';
import { until } from '../../until.ts';

// sealZeros 2 at 100 ms a round: a seal takes about 0.3 s, so killing the broker when a candidate
// goes out usually leaves the seal to be decided while it is down. The deadline (6 s) covers the
// longest outage here (2.7 s) plus one reconnect window of the backoff below (at most 2 s).
const PARAMS: NetworkParams = { ...DEVNET_PARAMS, sealZeros: 2, spinIntervalMs: 100, sealDeadlineMs: 6000 };
// The production backoff code with smaller windows, so the test stays short.
const BACKOFF = { baseMs: 200, capMs: 2000 };
const NODE = 'node-restart';

let dir: string;
let swtpm: SwtpmInstance;
let tpm: Tpm;
let key: SealingKeyInfo;
let clerks: Clerk[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btn-broker-restart-'));
  swtpm = await startSwtpm({ caDir: join(dir, 'ca'), stateDir: join(dir, 'tpm') });
  tpm = await openTpm({ tcti: swtpm.tcti });
  key = await tpm.ensureSealingKey();
  // Five clerks: a redraw after a lost seal picks the clerk this node is committed to less often.
  clerks = createClerks(5);
}, 60_000);

afterAll(async () => {
  await tpm?.close();
  await swtpm?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function savedAfter(file: string, t: number): boolean {
  try {
    return statSync(file).mtimeMs > t;
  } catch {
    return false;
  }
}

interface Seen extends SealEvent { readonly at: number; readonly transportState: string }

/** The retained status of `nodeId` as a client that subscribes now sees it (null: none within 3 s). */
async function retainedStatus(url: string, prefix: string, nodeId: string): Promise<Record<string, unknown> | null> {
  const probe = createMqttTransport({ url, nodeId: 'probe', clientId: `probe-${process.pid}-${Date.now()}`, prefix, status: false });
  try {
    let got: Record<string, unknown> | null = null;
    probe.subscribe<Record<string, unknown>>(probe.topics.status(nodeId), (m) => { if (m.retain) got = m.value; }, { qos: 1 });
    await probe.online();
    await until('retained status', () => got !== null, { ms: 3000, everyMs: 20 }).catch(() => undefined);
    return got;
  } finally {
    await probe.close();
  }
}

async function scenario(persistence: boolean): Promise<void> {
  const label = persistence ? 'persistent' : 'volatile';
  const mq: Mosquitto = await startMosquitto({ persistence });
  const topics = topicsFor(`btn/restart-${label}-${process.pid}`);
  const genesis = genesisTip(`broker-restart-${label}-${process.pid}`, Date.now());
  // A timeline, printed when the scenario fails (broker restarts are timing-dependent).
  const timeline: string[] = [];
  const t0 = Date.now();
  const note = (what: string): void => { timeline.push(`${Date.now() - t0} ms ${what}`); };
  // Closed in this order at the end, whatever happened.
  const closers: (() => Promise<unknown>)[] = [];
  const closing = (rank: number, fn: () => Promise<unknown>): void => { closers[rank] = fn; };
  try {
    // The clerk keeps a persistent session: seals addressed to it while it is away are kept for it.
    const primaryT = createMqttTransport({ url: mq.url, nodeId: 'primary', clientId: `primary-${label}-${process.pid}`, prefix: topics.prefix, status: false, sessionExpirySeconds: 300, backoff: BACKOFF });
    closing(4, () => primaryT.close());
    const events: PrimaryEvent[] = [];
    const primary = new PrimaryNode({
      transport: primaryT, topics, params: PARAMS, clerks, genesis, maxAttempts: 20, authority: new StaticSealAuthority([[NODE, key.publicKeyPem]]),
      transactions: new TxGenerator({ seed: `restart/${label}` }), onEvent: (e) => { events.push(e); note(`primary ${JSON.stringify(e).slice(0, 120)}`); },
    });
    closing(0, () => primary.stop());
    await primaryT.online();
    await primary.start();
    const clerkSubscribedAt = Date.now();

    // The agent as btn-node run wires it: client id from the sealing key, clean session, protocol auto.
    const journal = await openSealJournal(join(dir, label, 'seal-journal'));
    closing(2, () => journal.close());
    const agentT = createMqttTransport({ url: mq.url, nodeId: NODE, sealingKeySpki: new Uint8Array(createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' })), prefix: topics.prefix, backoff: BACKOFF });
    closing(3, () => agentT.close());
    const signer = new SealSigner(journal, tpm, key.handle);
    const agent = createAgent({
      nodeId: NODE, tpm, sealingHandle: key.handle, transport: agentT, topics, journal, gate: alwaysActive(NODE), network: await NetworkState.open({ source: primary.keys.source }),
      stateDir: join(dir, label), statusIntervalMs: 500, sealAuthority: null, signer,
    });
    closing(1, async () => { await agent.stop(); signer.close(); });
    const seals: Seen[] = [];
    const errors: string[] = [];
    agent.on('seal', (e: SealEvent) => {
      seals.push({ ...e, at: Date.now(), transportState: agentT.state });
      note(`agent seal h${e.seal.height} clerk ${e.seal.clerk.slice(0, 8)} round ${e.seal.round} reused ${e.reused} (${agentT.state})`);
    });
    agent.on('error', (e: Error) => errors.push(e.message));
    agent.on('rejected', (e: RejectedEvent) => note(`agent rejected h${e.height} ${e.code}`));
    agentT.on('state', (st: string) => note(`agent transport ${st}`));
    await agent.start();
    await agentT.online();

    // Everything the agent puts on the wire, and the moment a candidate is out (to kill the broker then).
    const wire: SealMessage[] = [];
    let onCandidate: ((height: number) => void) | null = null;
    const watcher = createMqttTransport({ url: mq.url, nodeId: 'watcher', clientId: `watcher-${label}-${process.pid}`, prefix: topics.prefix, status: false, backoff: BACKOFF });
    closing(5, () => watcher.close());
    watcher.subscribe(topics.allSeals, (m) => { wire.push(m.value); }, { qos: 1, schema: sealMessage });
    watcher.subscribe<Uint8Array>(topics.candidates, (m) => { if (!m.retain) onCandidate?.(decodeCandidate(m.value, DEFAULT_BLOCK_CAPS).block.header.height); }, { qos: 1, raw: true, maxBytes: DEVICE_MAX_INBOUND_BYTES });
    await watcher.online();

    const finals = (): FinalBlockRecord[] => events.flatMap((e) => (e.type === 'final' && e.block.final ? [e.block] : []));
    const producing = primary.produce(1000).catch((e: unknown) => e);
    await until('two blocks before the outage', () => finals().length >= 2, { ms: 30_000, everyMs: 20 });
    // A broker that crashes has saved its state some time before: wait for a save that holds the clerk's session.
    if (mq.dbFile !== null) await until('an autosave after the clerk subscribed', () => savedAfter(mq.dbFile!, clerkSubscribedAt), { ms: 5000, everyMs: 20 });

    // Kill the broker the moment a candidate is out; the agent spins on without it.
    let offline: { seal: Seen; killedAt: number } | null = null;
    let restartedAt = 0;
    const connectsBefore = agentT.stats().connects;
    for (let attempt = 0; attempt < 4 && offline === null; attempt++) {
      const { height, killedAt } = await new Promise<{ height: number; killedAt: number }>((resolve) => {
        onCandidate = (h) => { onCandidate = null; void mq.kill(); note(`broker killed at candidate h${h}`); resolve({ height: h, killedAt: Date.now() }); };
      });
      await until('the seal of the open candidate', () => seals.some((s) => s.seal.height === height), { ms: 2500, everyMs: 20 }).catch(() => undefined);
      const s = seals.find((x) => x.seal.height === height && x.at > killedAt && !x.reused);
      if (s) offline = { seal: s, killedAt };
      // Down for longer than one status interval: a status snapshot is queued, as in a real outage.
      // (A fixed wait on purpose: the outage's length is what is tested.)
      await sleep(Math.max(200, killedAt + 800 - Date.now()));
      restartedAt = Date.now();
      await mq.start();
      note('broker started');
      await until('the agent back online', () => agentT.state === 'online', { ms: 15_000, everyMs: 20 });
    }
    expect(offline, 'no seal was decided while the broker was down in 4 outages').not.toBeNull();
    const s = offline!.seal.seal;
    const hash = toHex(s.blockHash);

    // Reconnected by itself (no call from here), and announced: a client subscribing now sees it online.
    expect(agentT.stats().connects).toBeGreaterThan(connectsBefore);
    // The status taken while the broker was down is queued; the fresh one sent on reconnect must win.
    const status = await retainedStatus(mq.url, topics.prefix, NODE);
    note(`retained status ${JSON.stringify(status)}`);
    expect(status).toMatchObject({ state: 'online', nodeId: NODE });
    expect(Number(status!['at'])).toBeGreaterThanOrEqual(restartedAt);

    // Blocks go on being sealed: two more finals carry a seal this agent made after the restart.
    const fresh = (): FinalBlockRecord[] => finals().filter((b) => b.height > s.height && b.seals.some((x) => x.node === NODE && seals.some((e) => e.at > restartedAt && toHex(e.seal.signature) === x.signature)));
    await until('two blocks sealed after the restart', () => fresh().length >= 2, { ms: 40_000, everyMs: 20 });
    expect(agent.status().broker.connected).toBe(true);

    // The seal decided while the broker was down: accepted by the clerk at most once. Without the
    // broker's state it may be lost (the agent's flush can beat the clerk's resubscription): then
    // it is not acted on and the height is redrawn. With the clerk's session kept (persistence) it
    // arrives exactly once and makes the block final.
    const accepted = events.filter((e) => e.type === 'seal' && e.node === NODE && e.hash === hash);
    expect(accepted.length).toBeLessThanOrEqual(1);
    const finalAtH = finals().find((b) => b.height === s.height);
    if (accepted.length === 0) expect(finalAtH?.hash).not.toBe(hash);
    if (persistence) {
      expect(accepted).toHaveLength(1);
      expect(finalAtH?.hash).toBe(hash);
      expect(finalAtH?.seals.find((x) => x.node === NODE)?.signature).toBe(toHex(s.signature));
    }

    await primary.stop();
    await producing;
    await agent.stop();

    // Never two seals for one (height, clerk) (docs/seal-journal.md): the journal, the agent's events, the
    // wire and the final blocks agree, seal for seal.
    const entries = new Map<string, JournalEntry>();
    for (const e of journal.export().entries) {
      expect(entries.has(`${e.height}/${e.clerk}`)).toBe(false);
      entries.set(`${e.height}/${e.clerk}`, e);
    }
    const made = seals.filter((e) => !e.reused);
    expect(new Set(made.map((e) => `${e.seal.height}/${e.seal.clerk}`)).size).toBe(made.length);
    for (const m of [...made.map((e) => e.seal), ...wire.filter((w) => w.nodeId === NODE)]) {
      const e = entries.get(`${m.height}/${m.clerk}`);
      expect(e?.blockHash).toBe(toHex(m.blockHash));
      expect(e?.seal).toEqual({ round: m.round, signature: toHex(m.signature) });
    }
    for (const b of finals()) for (const x of b.seals.filter((y) => y.node === NODE)) expect(entries.get(`${b.height}/${b.clerk}`)?.seal?.signature).toBe(x.signature);
    expect(errors).toEqual([]);
    console.log(JSON.stringify({
      scenario: label, finals: finals().length, offlineSeal: { height: s.height, round: s.round, transportState: offline!.seal.transportState, msAfterKill: offline!.seal.at - offline!.killedAt },
      acceptedOnce: accepted.length === 1, finalAtOfflineHeight: finalAtH?.hash === hash ? 'offline seal' : 'redrawn block', wireCopies: wire.filter((w) => toHex(w.signature) === toHex(s.signature)).length,
      rejected: primary.stats().sealsRejected, agentSeals: agent.status().seals, reconnects: agentT.stats().connects - connectsBefore,
    }));
  } catch (err) {
    console.error(`${label} scenario failed; timeline:\n${timeline.join('\n')}\nmosquitto: ${mq.output()}`);
    throw err;
  } finally {
    for (const c of closers) if (c) await c().catch(() => undefined);
    await mq.destroy();
  }
}

describe('agent across a mosquitto restart (swtpm, PrimaryNode, real mosquitto)', () => {
  it('with persistence: reconnects, status back, sealing goes on, the seal made while down is delivered once', { timeout: 60_000 }, () => scenario(true));
  it('without persistence: the same, and the seal made while down reaches the clerk at most once', { timeout: 60_000 }, () => scenario(false));
});
