// The same attacker (a broker client with no key) against the devnet on a real mosquitto, while
// it produces blocks: the provisioned devnet (root node, registrations, revocation), where it also
// publishes qualifying seals of a revoked and of an unfiled node with their real TPM keys; and
// the unprovisioned devnet with everything but forged seals (anyone can halt that one with seals,
// as documented: here the warning it prints at start is checked instead). Shown: every block is
// final, no forged value reaches a node's tip, journal or status.json, each refusal is counted,
// and no node reports an error.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createClerks } from '../../../firmware/devnet/clerks.ts';
import { runDevnet, type DevnetEvent, type DevnetResult } from '../../../firmware/devnet/devnet.ts';
import { realAgentFactory } from '../../../firmware/devnet/agent-factory.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { runProvisionedDevnet, type ProvisionedEvent } from '../../../firmware/devnet/provisioned-devnet.ts';
import type { SignedManifest } from '../../../firmware/protocol/network-manifest.ts';
import type { Json } from '../../../firmware/protocol/message-schema.ts';
import { topicsFor, type Topics } from '../../../firmware/protocol/topics.ts';
import { readJournalView } from '../../../firmware/sealing/journal-view.ts';
import { readStatusFile } from '../../../firmware/status/index.ts';
import { generateEd25519 } from '../../../provisioning/keys.ts';
import { startMosquitto, type Mosquitto } from '../transport/mosquitto.ts';
import { connectAttacker, encodeFinal, forgedFinals, forgedManifests, garbageByTopic, qualifyingSeal, type Attacker } from './attacker.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Rogue {
  readonly nodeId: string;
  readonly sign: (m: Uint8Array) => Promise<Uint8Array>;
  registration: Json | null;
  /** Seals count as refused only from here on (the revoked node's, after its revocation). */
  armed: boolean;
}

/** The attacker's prefix: the devnet runs under a prefix of its own, found from its retained manifest. */
async function topicsOf(url: string): Promise<Topics> {
  const probe = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    const topic = await new Promise<string>((resolve) => {
      probe.on('message', (t) => resolve(t));
      void probe.subscribeAsync('btn/+/manifest');
    });
    return topicsFor(topic.slice(0, -'/manifest'.length));
  } finally {
    await probe.endAsync(true);
  }
}

/** Rounds of every attack until the run is over; returns how many ran. */
function storm(o: { url: string; keys: NetworkKeys; manifest: () => SignedManifest | null; rogues: readonly Rogue[]; sealZeros: number; done: Promise<unknown>; abovePacketSize?: boolean }): Promise<{ rounds: number; attacker: Attacker | null }> {
  let over = false;
  void o.done.finally(() => { over = true; });
  return (async () => {
    const t = await topicsOf(o.url);
    const a = await connectAttacker(o.url, t);
    cleanups.push(() => a.close());
    let n = 0;
    while (!over) {
      const last = a.lastFinal();
      for (const [i, f] of forgedFinals({ members: o.keys, tipHeight: last?.height ?? 0, last, salt: n }).entries()) await a.pub(`final ${f.kind}`, t.final, encodeFinal(f.value), i === 0);
      const held = o.manifest();
      if (held !== null) for (const [i, m] of forgedManifests(held, o.keys.root.privateKey).entries()) await a.pub(`manifest ${m.kind}`, t.manifest, JSON.stringify(m.value), i === 0);
      const c = a.candidate();
      if (c !== null) {
        for (const r of o.rogues.filter((x) => x.armed)) {
          // The devnet closes the rogues' TPMs when it ends, possibly in the middle of a signature.
          const seal = await qualifyingSeal(c, { ...r, sealZeros: o.sealZeros }).catch((err: unknown) => {
            if (over || (err as { code?: string }).code === 'ERR_TPM_CLOSED') return null;
            throw err;
          });
          if (seal === null) break;
          await a.pub(`seal ${r.nodeId}`, t.sealFrom(c.clerk, r.nodeId), seal);
        }
      }
      const sealTopic = t.sealFrom(c?.clerk ?? '0'.repeat(64), 'garbage');
      for (const g of garbageByTopic(t, sealTopic, n === 0)) if (g.kind !== 'garbage oversize' || n < 2) await a.pub(g.kind, g.topic, g.value);
      for (const topic of [t.final, t.manifest, t.candidates, t.revocations, sealTopic]) {
        // 600 KiB: above the final's, manifest's and seal's caps, not JSON for the others.
        if (o.abovePacketSize === true && n < 2) await a.pub('garbage above the packet size', topic, Buffer.alloc(600 * 1024, 0x7b));
      }
      if (n === 1) for (const topic of [t.final, t.manifest, t.candidates, t.revocations]) await a.pub('empty retained', topic, '', true);
      n++;
      await new Promise((r) => setTimeout(r, 300));
    }
    return { rounds: n, attacker: a };
  })();
}

/** What every honest node shows after the run: a real tip, a real finalized height, version 1, the refusals counted, no error. */
async function checkNodes(dir: string, honest: readonly string[], result: DevnetResult, expected: readonly string[]): Promise<Record<string, number>[]> {
  expect(result.ok).toBe(true);
  const real = new Map(result.blocks.map((b) => [b.hash, b.height]));
  const last = result.blocks[result.blocks.length - 1]!.height;
  const out: Record<string, number>[] = [];
  for (const node of honest) {
    const s = await readStatusFile(join(dir, node));
    if (s === null) throw new Error(`${node}: no status.json`);
    const finalized = (await readJournalView(join(dir, node, 'seal-journal'))).slots.finalized;
    // The agents stop right after the last final: a node may not have taken it yet.
    expect(real.get(s.chain.tipHash), `${node} tip ${JSON.stringify(s.chain)}`).toBe(s.chain.height);
    expect(s.chain.height).toBeGreaterThanOrEqual(last - 1);
    expect(s.chain.finalizedHeight).toBe(s.chain.height);
    expect(finalized).toBe(s.chain.height);
    expect(s.chain.paramsVersion).toBe(1);
    expect(s.lastErrors).toEqual([]);
    for (const k of expected) expect(s.invalidMessages[k] ?? 0, `${node}: ${k} in ${JSON.stringify(s.invalidMessages)}`).toBeGreaterThan(0);
    out.push(s.invalidMessages);
  }
  return out;
}

describe('a broker client with no key against the devnet', () => {
  it('the provisioned devnet: forged finals, manifests, revoked and unfiled seals and garbage change nothing', { timeout: 120_000 }, async () => {
    const broker: Mosquitto = await startMosquitto();
    cleanups.push(() => broker.destroy());
    const dir = await mkdtemp(join(tmpdir(), 'btn-hostile-p-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const clerks = createClerks(3);
    const root = generateEd25519().key;
    const keys = new NetworkKeys({ network: 'devnet', members: clerks.map((c) => c.voteKey), root: { publicKey: root.publicKey, privateKey: root.privateKeyObject } });
    const rogues = new Map<string, Rogue>();
    let manifest: SignedManifest | null = null;
    const errors: string[] = [];
    let ready!: () => void;
    const started = new Promise<void>((r) => { ready = r; });
    const onEvent = (e: DevnetEvent | ProvisionedEvent): void => {
      if (e.type === 'manifest') manifest = e.manifest;
      if (e.type === 'ready') ready();
      if (e.type === 'revoked') rogues.get(e.node)!.armed = true;
      if (e.type === 'agent' && e.kind === 'error') errors.push(`${e.nodeId}: ${e.code} ${e.message}`);
    };
    const run = runProvisionedDevnet({
      nodes: 4, blocks: 6, clerks, rootKey: root, brokerUrl: broker.url, stateDir: dir, handleSignals: false, onEvent,
      // node-3 is revoked once block 1 is final, node-4 is never filed: both run no agent, the
      // attacker seals with their TPM keys (node-3 with its real registration).
      revokeAfter: { height: 1, node: 'node-3' }, unfiled: ['node-4'],
      agentOverride: (node, ctx) => {
        if (node !== 'node-3' && node !== 'node-4') return undefined;
        const rogue: Rogue = { nodeId: ctx.registeredId, sign: ctx.tpm.lotteryKey({ handle: ctx.sealingKey.handle }).sign, registration: null, armed: node === 'node-4' };
        rogues.set(node, rogue);
        ctx.gate.onChange((g) => { if (g.state === 'active') rogue.registration = g.registration as Json; });
        return { start: () => undefined, stop: () => undefined };
      },
    });
    const attack = started.then(() => storm({ url: broker.url, keys, manifest: () => manifest, rogues: [...rogues.values()], sealZeros: 3, done: run, abovePacketSize: true }));
    const result = await run;
    const { rounds, attacker } = await attack;
    expect(rounds).toBeGreaterThan(2);
    expect(rogues.get('node-3')!.registration).not.toBeNull();
    expect(attacker!.sent[`seal ${rogues.get('node-3')!.nodeId}`] ?? 0).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    // The clerks refused the rogues' seals too: no block counts a seal of node-3 after its revocation, none of node-4.
    for (const b of result.blocks.filter((x) => x.height > 1)) expect(b.seals.map((s) => s.node)).not.toContain('node-3');
    for (const b of result.blocks) expect(b.seals.map((s) => s.node)).not.toContain('node-4');
    const clerksRefused = result.stats.sealsRejected;
    for (const code of ['revoked', 'unregistered', 'malformed'] as const) expect(clerksRefused[code], JSON.stringify(clerksRefused)).toBeGreaterThan(0);
    const counted = await checkNodes(dir, ['node-1', 'node-2'], result, [
      'final', 'final-below-quorum', 'manifest', 'manifest-refused', 'seal', 'revocations', 'seal-unregistered',
    ]);
    // The revoked node's seals: at least one honest node saw one after it held the new list.
    expect(counted.some((c) => (c['seal-revoked'] ?? 0) > 0), JSON.stringify(counted)).toBe(true);
    console.log(`hostile provisioned devnet: ${rounds} attack rounds; blocks ${result.blocks.map((b) => b.height).join(',')} all final; node-1 refused ${JSON.stringify(counted[0])}`);
  });

  it('the unprovisioned devnet: warns at start; forged finals, manifests and garbage change nothing', { timeout: 120_000 }, async () => {
    const broker: Mosquitto = await startMosquitto();
    cleanups.push(() => broker.destroy());
    const dir = await mkdtemp(join(tmpdir(), 'btn-hostile-u-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const clerks = createClerks(3);
    const root = generateEd25519().key;
    const keys = new NetworkKeys({ network: 'devnet', members: clerks.map((c) => c.voteKey), root: { publicKey: root.publicKey, privateKey: root.privateKeyObject } });
    const warnings: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _e, cb) { const line = chunk.toString('utf8'); if (line.includes('unprovisioned network')) warnings.push(line); cb(); } });
    let manifest: SignedManifest | null = null;
    const errors: string[] = [];
    let ready!: () => void;
    const started = new Promise<void>((r) => { ready = r; });
    const run = runDevnet({
      nodes: 2, blocks: 6, clerks, root: keys.root, brokerUrl: broker.url, stateDir: dir, handleSignals: false, agentFactory: realAgentFactory,
      logger: pino({ level: 'warn' }, sink),
      onEvent: (e) => {
        if (e.type === 'manifest') manifest = e.manifest;
        if (e.type === 'ready') ready();
        if (e.type === 'agent' && e.kind === 'error') errors.push(`${e.nodeId}: ${e.code} ${e.message}`);
      },
    });
    const attack = started.then(() => storm({ url: broker.url, keys, manifest: () => manifest, rogues: [], sealZeros: 3, done: run }));
    const result = await run;
    const { rounds } = await attack;
    expect(rounds).toBeGreaterThan(2);
    expect(errors).toEqual([]);
    // Every node says at start that anyone on its broker can stop it.
    expect(warnings.length).toBe(2);
    expect(warnings[0]).toContain('anyone who can publish on this broker can stop the network');
    const counted = await checkNodes(dir, ['node-1', 'node-2'], result, ['final', 'final-below-quorum', 'manifest', 'manifest-refused', 'seal']);
    console.log(`hostile unprovisioned devnet: ${rounds} attack rounds; blocks ${result.blocks.map((b) => b.height).join(',')} all final; node-1 refused ${JSON.stringify(counted[0])}`);
  });
});
