// An attacker with nothing but a broker connection (no key at all) against `btn-node run` on a
// real mosquitto, while the host network (root node, primary, committee) produces blocks. It
// publishes, retained and live: forged, short, non-member, duplicate-voter, replayed and
// re-timed finals, a final at the largest height; forged, rolled-back, maximal-version,
// foreign-network and foreign-genesis manifests; qualifying seals of a revoked and of an
// unregistered node; garbage on every topic. Shown: every block still becomes final and the honest
// device keeps sealing; no forged value reaches its tip, its journal's finalized height or
// status.json; each refusal is counted; a valid manifest update is taken while running.
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { activate } from '../../../firmware/activation/index.ts';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { startDeviceNetwork, type DeviceNetwork } from '../../../firmware/devnet/device-network.ts';
import { runProvisionedDevnet } from '../../../firmware/devnet/provisioned-devnet.ts';
import { NetworkKeys } from '../../../firmware/devnet/network-keys.ts';
import { lotteryMessage, scoreTicket } from '../../../firmware/protocol/chain/lottery.ts';
import { encodeFinalMessage, finalMessage, type FinalMessage } from '../../../firmware/protocol/final-message.ts';
import { keyFingerprint, nodeIdOf } from '../../../firmware/protocol/identity.ts';
import { blockHash, DEFAULT_BLOCK_CAPS } from '../../../firmware/protocol/chain/block.ts';
import { decodeCandidate } from '../../../firmware/protocol/chain/candidate-wire.ts';
import { signManifest, type SignedManifest } from '../../../firmware/protocol/network-manifest.ts';
import { signVote } from '../../../firmware/protocol/quorum.ts';
import { toHex } from '../../../firmware/core/bytes.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { encodeSealMessage } from '../../../firmware/protocol/seal-message.ts';
import { readStatusFile, type NodeStatus } from '../../../firmware/status/index.ts';
import { openTpm, type Tpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { startMosquitto, type Mosquitto } from '../transport/mosquitto.ts';
import { until } from '../../until.ts';

// Payloads above every cap on the device's topics: off by default. With them (BTN_HOSTILE_OVERSIZE=1)
// the device missed the primary's final or candidate in 2 of 3 runs on mosquitto 2.0.11 (its
// messages after a 600 KiB one did not arrive, although the broker should drop such a packet for a
// client whose MQTT 5 maximum packet size is 256 KiB). The device now announces a 16 MiB ceiling
// and refuses such payloads by each topic's own cap (firmware/transport/README.md).
const OVERSIZE = process.env['BTN_HOSTILE_OVERSIZE'] === '1';
let work = '';
let broker: Mosquitto | undefined;
let network: DeviceNetwork | undefined;
let attacker: MqttClient | undefined;
let rogueTpm: Tpm | undefined;
const tpms: SwtpmInstance[] = [];
const device = new AbortController();
let running: Promise<number> | undefined;

afterAll(async () => {
  device.abort();
  await running?.catch(() => undefined);
  await attacker?.endAsync(true).catch(() => undefined);
  await rogueTpm?.close();
  await network?.close();
  await broker?.destroy();
  for (const t of tpms) await t.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a broker client with no key', () => {
  it('cannot move btn-node run\'s tip, journal, params or committee, nor stop the network', { timeout: 240_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), 'btn-hostile-'));
    broker = await startMosquitto();
    const caDir = join(work, 'ca');
    tpms.push(await startSwtpm({ caDir, stateDir: join(work, 'tpm-device') }), await startSwtpm({ caDir, stateDir: join(work, 'tpm-rogue') }));
    // Few zero bits: the device and the forged seals qualify often.
    const params = { ...DEFAULT_PARAMS, sealZeros: 2 };
    const net = await startDeviceNetwork({ brokerUrl: broker.url, stateDir: join(work, 'root'), trustDir: caDir, logger: pino({ level: 'silent' }), clerks: 3, params });
    network = net;
    for (const [i, t] of tpms.entries()) {
      const factory = await openTpm({ tcti: t.tcti });
      await factory.ensureSealingKey();
      await net.file(factory, `DEV-${i}`);
      await factory.close();
    }
    expect((await net.upload()).filed).toBe(2);
    // The rogue activates like any device, and is then revoked.
    rogueTpm = await openTpm({ tcti: tpms[1]!.tcti });
    const rogueKey = await rogueTpm.ensureSealingKey();
    const rogueState = await activate({ rootUrl: net.rootUrl, tpm: rogueTpm, stateDir: join(work, 'rogue'), rootPublicKey: net.network.rootPublicKey });
    await net.revoke(rogueState.nodeId, 'stolen');
    const rogueSign = rogueTpm.lotteryKey({ handle: rogueKey.handle }).sign;

    const stateDir = join(work, 'device');
    const config = join(work, 'config.json');
    await writeFile(config, JSON.stringify({
      tcti: tpms[0]!.tcti, broker: broker.url, stateDir, network: net.network.network, logLevel: 'silent',
      root: { url: net.rootUrl, publicKey: net.rootPublicKey, revocationPollMs: 1000 },
    }));
    let deviceId = '';
    running = runCommand(['--config', config], { signal: device.signal, onStarted: (i) => { deviceId = i.nodeId; } });
    const status = async (): Promise<NodeStatus | null> => readStatusFile(stateDir).catch(() => null);
    await until('the device active with the manifest', async () => { const s = await status(); return s?.activation.state === 'active' && s.chain.paramsVersion === 1; }, 60_000, 200);

    // The attacker: a plain client, anonymous, nothing to sign with that anyone trusts.
    attacker = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'attacker' });
    const t = net.topics;
    const keys = net.keys;
    const forger = new NetworkKeys({ network: keys.network, members: keys.members.length });
    const unregistered = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const unregisteredId = nodeIdOf(unregistered.publicKey);
    let lastFinal: FinalMessage | null = null;
    attacker.on('message', (topic, payload) => {
      if (topic === t.final && payload.length > 0) {
        try {
          lastFinal = finalMessage.parse(payload);
        } catch { /* the attacker's own garbage */ }
      }
    });
    await attacker.subscribeAsync(t.final, { qos: 1 });
    const manifestBody = (over: Partial<SignedManifest>): SignedManifest => ({ ...net.manifest, ...over });
    const resign = (m: SignedManifest, root = keys.root.privateKey): SignedManifest => signManifest(m, root);
    const pub = (topic: string, payload: string | Buffer, retain = false): Promise<unknown> => attacker!.publishAsync(topic, payload, { qos: 1, retain }).catch(() => undefined);
    const grind = async (hash: Uint8Array, signWith: (m: Uint8Array) => Promise<Uint8Array> | Uint8Array): Promise<{ round: number; signature: Uint8Array }> => {
      for (let round = 0; ; round++) {
        const signature = await signWith(lotteryMessage(hash, round));
        if (scoreTicket(signature, round).zeros >= params.sealZeros) return { round, signature };
      }
    };
    // The open candidate, as any subscriber sees it: the attacker seals it too.
    let candidate: { height: number; hash: Uint8Array; clerk: string } | null = null;
    attacker.on('message', (topic, payload) => {
      if (topic !== t.candidates || payload.length === 0) return;
      try {
        const b = decodeCandidate(payload, DEFAULT_BLOCK_CAPS).block;
        candidate = { height: b.header.height, hash: blockHash(b.header), clerk: keyFingerprint(b.header.clerkPublicKey) };
      } catch { /* the attacker's own garbage */ }
    });
    await attacker.subscribeAsync(t.candidates, { qos: 1 });

    const attacks = async (round: number): Promise<void> => {
      const tip = (await status())?.chain;
      const height = (tip?.height ?? 0) + 1;
      const block = { height, hash: new Uint8Array(32).fill(round % 255), timestamp: Date.now(), clerk: 'c'.repeat(64), sealedBy: [] };
      const finals: FinalMessage[] = [
        forger.final(block), // votes of non-members
        keys.final(block, keys.quorum - 1), // too few votes
        { ...keys.final(block, 1), votes: Array.from({ length: keys.quorum }, () => keys.votes(block, 1)[0]!) }, // one voter, many times
        { ...forger.final(block), height: Number.MAX_SAFE_INTEGER },
      ];
      if (lastFinal !== null) {
        finals.push({ ...lastFinal, height: lastFinal.height + 1000 }); // a valid final replayed higher
        finals.push({ ...lastFinal, timestamp: lastFinal.timestamp + 3_600_000 }); // re-timed
      }
      for (const [i, f] of finals.entries()) await pub(t.final, encodeFinalMessage(f), i === 0);
      const v = net.manifest.version;
      const manifests = [
        forger.manifest({ version: v + 1, params: { ...params, sealZeros: 0 }, primaries: [unregistered.publicKey], genesis: { hash: new Uint8Array(32), height: 0, timestamp: 0 } }),
        resign(manifestBody({ version: 2 ** 40, params: { ...net.manifest.params, sealZeros: 256 } })), // by the real root, but jumping
        resign(manifestBody({ network: 'elsewhere', version: v + 1 })),
        resign(manifestBody({ version: v + 1, genesis: { ...net.manifest.genesis, hash: 'ee'.repeat(32) } })),
        { ...net.manifest, version: v + 1, params: { ...net.manifest.params, sealZeros: 0 } }, // changed after signing
      ];
      for (const [i, m] of manifests.entries()) await pub(t.manifest, JSON.stringify(m), i === 0);
      // Seals: the revoked node's (real registration, real TPM signature) and an unregistered one's.
      const c = candidate;
      if (c !== null) {
        const revoked = await grind(c.hash, rogueSign);
        await pub(t.sealFrom(c.clerk, rogueState.nodeId), encodeSealMessage({ nodeId: rogueState.nodeId, height: c.height, blockHash: c.hash, clerk: c.clerk, ...revoked, registration: rogueState.certificate, expiresAt: Date.now() + 20_000 }));
        const stranger = await grind(c.hash, (m) => new Uint8Array(sign('sha256', m, unregistered.privateKey)));
        await pub(t.sealFrom(c.clerk, unregisteredId), encodeSealMessage({ nodeId: unregisteredId, height: c.height, blockHash: c.hash, clerk: c.clerk, ...stranger, registration: null, expiresAt: Date.now() + 20_000 }));
      }
      // Garbage on every topic.
      for (const topic of [t.final, t.manifest, t.candidates, t.revocations, t.sealFrom('c'.repeat(64), 'x')]) {
        await pub(topic, 'not json');
        await pub(topic, JSON.stringify({ v: 1, height: 'x', extra: true }));
        if (OVERSIZE) await pub(topic, Buffer.alloc(600 * 1024, 0x7b)); // above the manifest's, final's and seal's caps; not JSON for the others
      }
    };

    // Blocks are produced while the attacker keeps going: a round of every attack each second. (An
    // unthrottled flood of ~160 QoS 1 messages a second on an open mosquitto made the broker drop
    // the primary's messages for the device: that is what the broker's per-client limits and
    // access control are for, not something a node can fix by checking signatures.)
    const attackerDone = new AbortController();
    let attackRounds = 0;
    const storm = (async () => {
      while (!attackerDone.signal.aborted) {
        await attacks(attackRounds++);
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    const blocks = await net.produce(6);
    attackerDone.abort();
    await storm;
    expect(attackRounds).toBeGreaterThan(3);
    expect(blocks.map((b) => b.final), `device: ${JSON.stringify({ ...(await status()), tpm: undefined })}`).toEqual([true, true, true, true, true, true]);
    const last = blocks[blocks.length - 1]!;
    const s = await until('the device at the last final block', async () => {
      const st = await status();
      return st !== null && st.chain.height === last.height && st.chain.finalizedHeight === last.height ? st : undefined;
    }, 30_000, 200);
    expect(s.chain.tipHash).toBe(last.hash);
    expect(s.chain.paramsVersion).toBe(1);
    expect(s.seals.made).toBeGreaterThan(0);
    expect(s.state).toBe('running');
    const invalid = s.invalidMessages;
    for (const k of ['final', 'final-below-quorum', 'manifest', 'manifest-refused', 'seal-revoked', 'seal-unregistered']) expect(invalid[k] ?? 0, `${k} in ${JSON.stringify(invalid)}`).toBeGreaterThan(0);
    console.log(`hostile: ${attackRounds} attack rounds; device ${deviceId.slice(0, 12)} refused ${JSON.stringify(invalid)}; blocks ${blocks.map((b) => b.height).join(',')} all final`);

    // A valid update by the real root is taken while running, without a restart: new parameters
    // and a committee without its first member (quorum 2 of the other two).
    const [removed, ...kept] = keys.members;
    const update = resign(manifestBody({
      version: net.manifest.version + 1, params: { ...net.manifest.params, timestampWindowMs: 45_000 },
      committee: { members: kept.map((m) => toHex(m.publicKey)), quorum: 2 },
    }));
    await pub(t.manifest, JSON.stringify(update), true);
    await until('manifest version 2 taken', async () => (await status())?.chain.paramsVersion === 2, 20_000, 200);
    // The primary's finals still carry three votes: the two current members' make the quorum.
    const [after] = await net.produce(1);
    expect(after!.final).toBe(true);
    await until('the device at the new final block', async () => (await status())?.chain.height === after!.height, 20_000, 200);
    // The removed member and one current member: one valid vote, below the new quorum.
    const before = (await status())!.invalidMessages['final-below-quorum'] ?? 0;
    const next = { height: after!.height + 1, hash: new Uint8Array(32).fill(0x42), timestamp: Date.now(), clerk: 'c'.repeat(64), sealedBy: [] };
    await pub(t.final, encodeFinalMessage({ ...next, votes: [signVote(removed!.privateKey, removed!.publicKey, keys.network, next), signVote(kept[0]!.privateKey, kept[0]!.publicKey, keys.network, next)] }));
    await until('the removed member\'s final refused', async () => ((await status())?.invalidMessages['final-below-quorum'] ?? 0) > before, 20_000, 200);
    expect((await status())?.chain.height).toBe(after!.height);
  });

  it('cannot stop the provisioned devnet: forged finals, manifests and seals and garbage on every topic while it runs', { timeout: 240_000 }, async () => {
    const mq = await startMosquitto();
    const client = await mqtt.connectAsync(mq.url, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'devnet-attacker' });
    const forger = new NetworkKeys({ network: 'devnet', members: 3 });
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const strangerId = nodeIdOf(stranger.publicKey);
    // The attacker learns the run's prefix and open candidate from the broker, as anyone could.
    const seen: { prefix: string | null; open: { height: number; hash: Uint8Array; clerk: string } | null } = { prefix: null, open: null };
    client.on('message', (topic, payload) => {
      const m = /^(btn\/devnet-[^/]+)\/(manifest|candidates)$/.exec(topic);
      if (m === null) return;
      seen.prefix = m[1]!;
      if (m[2] !== 'candidates' || payload.length === 0) return;
      try {
        const b = decodeCandidate(payload, DEFAULT_BLOCK_CAPS).block;
        seen.open = { height: b.header.height, hash: blockHash(b.header), clerk: keyFingerprint(b.header.clerkPublicKey) };
      } catch { /* garbage */ }
    });
    await client.subscribeAsync('btn/#', { qos: 1 });
    const stop = new AbortController();
    let rounds = 0;
    const storm = (async () => {
      while (!stop.signal.aborted) {
        await new Promise((r) => setTimeout(r, 1000));
        const prefix = seen.prefix;
        if (prefix === null) continue;
        rounds++;
        const t = { final: `${prefix}/final`, manifest: `${prefix}/manifest`, candidates: `${prefix}/candidates`, revocations: `${prefix}/revocations` };
        const o = seen.open;
        const block = { height: o?.height ?? 1, hash: o?.hash ?? new Uint8Array(32), timestamp: Date.now(), clerk: 'c'.repeat(64), sealedBy: [] };
        const pub = (topic: string, payload: string | Buffer, retain = false): Promise<unknown> => client.publishAsync(topic, payload, { qos: 1, retain }).catch(() => undefined);
        await pub(t.final, encodeFinalMessage(forger.final(block)), true);
        await pub(t.final, encodeFinalMessage({ ...forger.final(block), height: Number.MAX_SAFE_INTEGER }));
        await pub(t.manifest, JSON.stringify(forger.manifest({ version: 2, params: { ...DEFAULT_PARAMS, sealZeros: 0 }, primaries: [stranger.publicKey], genesis: { hash: new Uint8Array(32), height: 0, timestamp: 0 } })), true);
        if (o !== null) {
          for (let round = 0; ; round++) {
            const signature = new Uint8Array(sign('sha256', lotteryMessage(o.hash, round), stranger.privateKey));
            if (scoreTicket(signature, round).zeros < 2) continue;
            await pub(`${prefix}/seals/${o.clerk}/${strangerId}`, encodeSealMessage({ nodeId: strangerId, height: o.height, blockHash: o.hash, clerk: o.clerk, round, signature, registration: null, expiresAt: Date.now() + 20_000 }));
            break;
          }
        }
        for (const topic of Object.values(t)) {
          await pub(topic, 'not json');
          await pub(topic, Buffer.alloc(600 * 1024, 0x7b));
        }
      }
    })();
    try {
      const result = await runProvisionedDevnet({ nodes: 2, blocks: 5, brokerUrl: mq.url, params: { sealZeros: 2 }, logger: pino({ level: 'silent' }) });
      stop.abort();
      await storm;
      expect(rounds).toBeGreaterThan(2);
      expect(result.ok, JSON.stringify({ blocks: result.blocks.map((b) => ({ h: b.height, final: b.final, attempts: b.attempts, seals: b.seals.length })), stats: result.stats, provisioned: result.provisioned })).toBe(true);
      expect(result.blocks.map((b) => b.final)).toEqual([true, true, true, true, true]);
      for (const b of result.blocks) expect(b.seals.map((x) => x.node)).not.toContain(strangerId);
      expect(result.stats.sealsRejected.unregistered + result.stats.sealsRejected.malformed).toBeGreaterThan(0);
      console.log(`hostile devnet: ${rounds} attack rounds, 5 blocks final, clerks refused ${JSON.stringify(result.stats.sealsRejected)}`);
    } finally {
      stop.abort();
      await storm.catch(() => undefined);
      await client.endAsync(true).catch(() => undefined);
      await mq.destroy();
    }
  });
});
