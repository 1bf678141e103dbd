// A broker client with no key anyone trusts against `btn-node run` on a real mosquitto, while the
// host network (root node on SQLite, primary, committee of three clerks) produces blocks. It
// publishes, retained and live: forged finals (a forger's votes, too few, one voter many times,
// wrong signatures, too many votes, upper-case hex, the largest height, a real final replayed
// higher or re-timed); root-signed manifests that must still be refused (jumping to 2^40 and by
// more than 1,000, another network, another genesis, the held version with other content, a
// rolled-back version) and one of another key; qualifying seals of a revoked and of an
// unregistered node (real TPM signatures), one under another node's name; garbage on every topic.
// Shown: every block becomes final, the device keeps sealing, no forged value reaches its tip,
// its journal's finalized height or status.json, each kind of refusal is counted and the process
// keeps running. Then a valid manifest (version 2: new parameters, one member replaced, quorum 2)
// is taken without a restart; the primary cannot change its committee while running, so the
// committee half is finals signed here with the clerks' vote keys: the new committee's are taken,
// the removed member's with too few others are not.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { activate } from '../../../firmware/activation/index.ts';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { startDeviceNetwork, type DeviceNetwork } from '../../../firmware/devnet/device-network.ts';
import { keyPairFromSeed } from '../../../firmware/protocol/chain/transaction.ts';
import { nodeIdOf } from '../../../firmware/protocol/identity.ts';
import { signManifest } from '../../../firmware/protocol/network-manifest.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { signVote } from '../../../firmware/protocol/quorum.ts';
import { readJournalView } from '../../../firmware/sealing/journal-view.ts';
import { readStatusFile, type NodeStatus } from '../../../firmware/status/index.ts';
import { openTpm, type Tpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { startMosquitto, type Mosquitto } from '../transport/mosquitto.ts';
import { until } from '../../until.ts';
import { connectAttacker, encodeFinal, forgedFinals, forgedManifests, garbageByTopic, qualifyingSeal, type Attacker } from './attacker.ts';

// 600 KiB payloads on every topic. While the device announced a 256 KiB maximum packet size, the
// device missed the primary's final or candidate in 2 of 3 runs on mosquitto 2.0.11; it now
// announces a 16 MiB ceiling and refuses such payloads by each topic's own cap
// (firmware/transport/README.md), and the runs pass. BTN_HOSTILE_OVERSIZE=0 leaves them out. A
// payload one byte above each topic's cap is always sent: the device drops and counts it.
const OVERSIZE = process.env['BTN_HOSTILE_OVERSIZE'] !== '0';
let work = '';
let broker: Mosquitto | undefined;
let network: DeviceNetwork | undefined;
let attacker: Attacker | undefined;
const opened: Tpm[] = [];
const tpms: SwtpmInstance[] = [];
const device = new AbortController();
let running: Promise<number> | undefined;

afterAll(async () => {
  device.abort();
  await running?.catch(() => undefined);
  await attacker?.close();
  for (const t of opened) await t.close();
  await network?.close();
  await broker?.destroy();
  for (const t of tpms) await t.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a broker client with no key against btn-node run', () => {
  it('moves no tip, journal, params or committee and stops nothing; a valid manifest update is taken while running', { timeout: 150_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), 'btn-hostile-'));
    broker = await startMosquitto();
    const caDir = join(work, 'ca');
    for (const name of ['device', 'revoked', 'stranger']) tpms.push(await startSwtpm({ caDir, stateDir: join(work, `tpm-${name}`) }));
    // Few zero bits: the device and the forged seals qualify often.
    const params = { ...DEFAULT_PARAMS, sealZeros: 2 };
    const net = await startDeviceNetwork({ brokerUrl: broker.url, stateDir: join(work, 'root'), trustDir: caDir, logger: pino({ level: 'silent' }), clerks: 3, params });
    network = net;
    const keys = net.keys;
    expect(keys.quorum).toBe(3);
    // The device and the node to be revoked are filed; the stranger's TPM never is.
    for (const [i, t] of tpms.slice(0, 2).entries()) {
      const factory = await openTpm({ tcti: t.tcti });
      await factory.ensureSealingKey();
      await net.file(factory, `DEV-${i}`);
      await factory.close();
    }
    expect((await net.upload()).filed).toBe(2);
    const revokedTpm = await openTpm({ tcti: tpms[1]!.tcti });
    opened.push(revokedTpm);
    const revokedKey = await revokedTpm.ensureSealingKey();
    const revoked = await activate({ rootUrl: net.rootUrl, tpm: revokedTpm, stateDir: join(work, 'revoked'), rootPublicKey: net.network.rootPublicKey });
    await net.revoke(revoked.nodeId, 'stolen');
    const strangerTpm = await openTpm({ tcti: tpms[2]!.tcti });
    opened.push(strangerTpm);
    const strangerKey = await strangerTpm.ensureSealingKey();
    const strangerId = nodeIdOf(strangerKey.publicKeyPem);
    // Each TPM hands its lottery key out once.
    const signAsRevoked = revokedTpm.lotteryKey({ handle: revokedKey.handle }).sign;
    const signAsStranger = strangerTpm.lotteryKey({ handle: strangerKey.handle }).sign;

    const stateDir = join(work, 'device');
    const config = join(work, 'config.json');
    await writeFile(config, JSON.stringify({
      tcti: tpms[0]!.tcti, broker: broker.url, stateDir, network: keys.network, logLevel: 'silent',
      root: { url: net.rootUrl, publicKey: net.rootPublicKey, revocationPollMs: 1000 },
    }));
    let exited: string | null = null;
    running = runCommand(['--config', config], { signal: device.signal });
    running.then((code) => { exited = `btn-node run exited with ${code}`; }, (err: unknown) => { exited = `btn-node run failed: ${String(err)}`; });
    const status = async (): Promise<NodeStatus | null> => readStatusFile(stateDir).catch(() => null);
    let seen: NodeStatus | null = null;
    const waitStatus = (what: string, ok: (s: NodeStatus) => boolean, ms = 30_000): Promise<NodeStatus> => until(what, async () => {
      seen = await status();
      return seen !== null && ok(seen) ? seen : undefined;
    }, { ms, everyMs: 200, stopIf: () => exited, lastSeen: () => seen === null ? null : { chain: seen.chain, invalid: seen.invalidMessages, state: seen.state } });
    await waitStatus('the device active with manifest version 1', (s) => s.activation.state === 'active' && s.chain.paramsVersion === 1, 60_000);

    const t = net.topics;
    const a = await connectAttacker(broker.url, t);
    attacker = a;
    const seals = { revoked: 0, unregistered: 0, wrongSender: 0 };
    const round = async (n: number): Promise<void> => {
      const tip = (await status())?.chain.height ?? 0;
      for (const [i, f] of forgedFinals({ members: keys, tipHeight: tip, last: a.lastFinal(), salt: n }).entries()) await a.pub(`final ${f.kind}`, t.final, encodeFinal(f.value), i === 0);
      for (const [i, m] of forgedManifests(net.manifest, keys.root.privateKey).entries()) await a.pub(`manifest ${m.kind}`, t.manifest, JSON.stringify(m.value), i === 0);
      const c = a.candidate();
      if (c !== null) {
        const asRevoked = await qualifyingSeal(c, { nodeId: revoked.nodeId, sealZeros: params.sealZeros, registration: revoked.certificate, sign: signAsRevoked });
        await a.pub('seal revoked', t.sealFrom(c.clerk, revoked.nodeId), asRevoked);
        await a.pub('seal wrong-sender', t.sealFrom(c.clerk, strangerId), asRevoked);
        const asStranger = await qualifyingSeal(c, { nodeId: strangerId, sealZeros: params.sealZeros, registration: null, sign: signAsStranger });
        await a.pub('seal unregistered', t.sealFrom(c.clerk, strangerId), asStranger);
        seals.revoked++;
        seals.unregistered++;
        seals.wrongSender++;
      }
      // Garbage on every topic the node reads; the oversize one is just above the node's inbound cap.
      const sealTopic = t.sealFrom(c?.clerk ?? '0'.repeat(64), 'garbage');
      for (const g of garbageByTopic(t, sealTopic, n === 0)) if (g.kind !== 'garbage oversize' || n < 2) await a.pub(g.kind, g.topic, g.value);
      for (const topic of [t.final, t.manifest, t.candidates, t.revocations, sealTopic]) {
        if (OVERSIZE) await a.pub('garbage above the packet size', topic, Buffer.alloc(600 * 1024, 0x7b));
      }
      // Empty retained messages delete what the broker holds; live subscribers get an empty payload.
      if (n === 1) for (const topic of [t.final, t.manifest, t.candidates, t.revocations]) await a.pub('empty retained', topic, '', true);
    };
    // A round of every attack each second while blocks are produced (an unthrottled flood on an
    // open mosquitto makes the broker drop the primary's messages: per-client limits and access
    // control are the broker's part, not something signatures can fix).
    const stop = new AbortController();
    let rounds = 0;
    const roundMs: number[] = [];
    const storm = (async () => {
      while (!stop.signal.aborted) {
        const t0 = Date.now();
        await round(rounds++);
        roundMs.push(Date.now() - t0);
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    // At least 5 blocks and 4 rounds of attacks (blocks may come faster than the rounds).
    const attacked: Awaited<ReturnType<typeof net.produce>>[number][] = [];
    try {
      while (attacked.length < 5 || rounds < 4) attacked.push(...await net.produce(1));
    } finally {
      stop.abort();
    }
    await storm;
    // One block after the storm: a device that missed a live final while the attacker held the
    // retained copy catches up with it.
    const blocks = [...attacked, ...await net.produce(1)];
    expect(rounds).toBeGreaterThan(3);
    expect(seals.revoked).toBeGreaterThan(0);
    expect(blocks.map((b) => b.final)).toEqual(blocks.map(() => true));
    const last = blocks[blocks.length - 1]!;
    const s = await waitStatus('the device at the last final block', (x) => x.chain.height === last.height && x.chain.finalizedHeight === last.height);
    expect(s.chain).toEqual({ height: last.height, tipHash: last.hash, finalizedHeight: last.height, paramsVersion: 1 });
    expect((await readJournalView(join(stateDir, 'seal-journal'))).slots.finalized).toBe(last.height);
    expect(s.seals.made).toBeGreaterThan(0);
    expect(blocks.some((b) => b.seals.some((x) => x.node === s.nodeId))).toBe(true);
    expect(s.state).toBe('running');
    expect(exited).toBeNull();
    const invalid = s.invalidMessages;
    const expected = [
      'final', 'final-below-quorum', 'manifest', 'manifest-refused',
      'seal', 'seal-revoked', 'seal-unregistered', 'seal-wrong-sender', 'revocations',
    ];
    for (const k of expected) expect(invalid[k] ?? 0, `${k} in ${JSON.stringify(invalid)}`).toBeGreaterThan(0);
    expect(s.rejected['malformed'] ?? 0).toBeGreaterThan(0);
    console.log(`hostile run: ${rounds} attack rounds, ${Object.values(a.sent).reduce((x, y) => x + y, 0)} messages; device refused ${JSON.stringify(invalid)}; blocks ${blocks.map((b) => b.height).join(',')} all final; ms per round ${roundMs.join(',')}; ms to final ${blocks.map((b) => b.msToFinal).join(',')}`);

    // A valid update by the real root, taken while running: new parameters, one member replaced by
    // a new one, and quorum 2 of 3. The primary's finals (votes of all three clerks) still certify:
    // two of its voters remain members.
    const [m1, m2, removed] = keys.members;
    const added = keyPairFromSeed(new Uint8Array(32).fill(42));
    const v2 = signManifest({
      ...net.manifest, version: 2, params: { ...net.manifest.params, timestampWindowMs: 45_000, sealDeadlineMs: 9000 },
      committee: { members: [m1!, m2!, added].map((m) => toHex(m.publicKey)), quorum: 2 },
    }, keys.root.privateKey);
    await a.pub('manifest valid', t.manifest, JSON.stringify(v2), true);
    await waitStatus('manifest version 2 taken', (x) => x.chain.paramsVersion === 2, 20_000);
    const [after] = await net.produce(1);
    expect(after!.final).toBe(true);
    await waitStatus('the device at the first final under version 2', (x) => x.chain.height === after!.height && x.chain.finalizedHeight === after!.height);
    // Rolled back: version 1, as the root once signed it.
    const refusedBefore = (await status())!.invalidMessages['manifest-refused'] ?? 0;
    await a.pub('manifest rolled-back', t.manifest, JSON.stringify(net.manifest), true);
    await waitStatus('the rolled-back manifest refused', (x) => (x.invalidMessages['manifest-refused'] ?? 0) > refusedBefore);

    // The committee half, signed here: the removed member with one kept member is below the quorum.
    const next = { height: after!.height + 1, hash: new Uint8Array(32).fill(0x5a), timestamp: Date.now(), clerk: after!.clerk, sealedBy: [] };
    const vote = (m: typeof added, b = next) => signVote(m.privateKey, m.publicKey, keys.network, b);
    const belowBefore = (await status())!.invalidMessages['final-below-quorum'] ?? 0;
    await a.pub('final removed-member', t.final, encodeFinal({ ...next, votes: [vote(removed!), vote(m1!)] }), true);
    const refused = await waitStatus('the removed member\'s final refused', (x) => (x.invalidMessages['final-below-quorum'] ?? 0) > belowBefore);
    expect(refused.chain.height).toBe(after!.height);
    const taken = { ...next, hash: new Uint8Array(32).fill(0x5b) };
    await a.pub('final new-committee', t.final, encodeFinal({ ...taken, votes: [vote(m2!, taken), vote(added, taken)] }), true);
    const end = await waitStatus('the new committee\'s final taken', (x) => x.chain.height === taken.height && x.chain.finalizedHeight === taken.height);
    expect(end.chain).toEqual({ height: taken.height, tipHash: toHex(taken.hash), finalizedHeight: taken.height, paramsVersion: 2 });
    expect((await readJournalView(join(stateDir, 'seal-journal'))).slots.finalized).toBe(taken.height);
    expect(end.state).toBe('running');
    expect(exited).toBeNull();
  });
});
