// `btn-node run` and the devnets build their nodes with the same createNode, so they judge other
// nodes' seals by the same check. Here the run side: a device configured as a household's is,
// on a host network with a root node, sees the seals of a node the root has revoked and refuses
// them as competition with the code `seal-revoked`, the same code the provisioned devnet's nodes
// count in test/firmware/devnet/provisioned.test.ts. Real parts: swtpm, aedes, the registrar on
// SQLite, credential activation.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../../until.ts';
import { activate } from '../../../firmware/activation/index.ts';
import { readStatusFile } from '../../../firmware/status/index.ts';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { startDeviceNetwork, type DeviceNetwork } from '../../../firmware/devnet/device-network.ts';
import { DEFAULT_PARAMS } from '../../../firmware/protocol/params.ts';
import { createMqttTransport, startBroker, type BrokerHandle, type MqttTransport } from '../../../firmware/transport/index.ts';
import { openTpm, type Tpm } from '../../../tpm/index.ts';
import { startSwtpm, type SwtpmInstance } from '../../../tpm/swtpm.ts';
import { standInAgent, type StandInAgent } from '../devnet/stand-in-secondary.ts';

let work = '';
let broker: BrokerHandle | undefined;
let network: DeviceNetwork | undefined;
const tpms: SwtpmInstance[] = [];
let rogueTpm: Tpm | undefined;
let rogueTransport: MqttTransport | undefined;
let rogue: StandInAgent | undefined;
const device = new AbortController();
let running: Promise<number> | undefined;
afterAll(async () => {
  device.abort();
  await running?.catch(() => undefined);
  rogue?.stop();
  await rogueTransport?.close();
  await rogueTpm?.close();
  await network?.close();
  await broker?.close();
  for (const t of tpms) await t.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('one node assembly', () => {
  it('btn-node run refuses a revoked node\'s seals as competition (seal-revoked), as the devnet nodes do', { timeout: 180_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), 'btn-same-wiring-'));
    broker = await startBroker();
    const caDir = join(work, 'ca');
    tpms.push(await startSwtpm({ caDir, stateDir: join(work, 'tpm-device') }));
    tpms.push(await startSwtpm({ caDir, stateDir: join(work, 'tpm-rogue') }));
    // Fewer zero bits than the default: the rogue seals often, so the device sees its seals soon.
    const params = { ...DEFAULT_PARAMS, sealZeros: 2 };
    network = await startDeviceNetwork({ brokerUrl: broker.url, stateDir: join(work, 'root'), trustDir: caDir, logger: pino({ level: 'silent' }), clerks: 3, params });
    for (const [i, t] of tpms.entries()) {
      const factory = await openTpm({ tcti: t.tcti });
      await factory.ensureSealingKey();
      await network.file(factory, `DEV-${i}`);
      await factory.close();
    }
    expect((await network.upload()).filed).toBe(2);
    const rootPublicKey = new Uint8Array(Buffer.from(network.rootPublicKey, 'hex'));

    // The rogue activates like any device, so its seals carry a valid registration.
    rogueTpm = await openTpm({ tcti: tpms[1]!.tcti });
    const rogueKey = await rogueTpm.ensureSealingKey();
    const rogueState = await activate({ rootUrl: network.rootUrl, tpm: rogueTpm, stateDir: join(work, 'rogue'), rootPublicKey });

    // The device: btn-node run from a household's configuration.
    const stateDir = join(work, 'device');
    const config = join(work, 'config.json');
    await writeFile(config, JSON.stringify({
      tcti: tpms[0]!.tcti, broker: broker.url, stateDir, network: network.network.network,
      root: { url: network.rootUrl, publicKey: network.rootPublicKey, revocationPollMs: 1000 },
    }));
    running = runCommand(['--config', config], { signal: device.signal });
    await until('the device to activate', async () => {
      const s = await readStatusFile(stateDir).catch(() => null);
      return s?.activation.state === 'active' ? s : undefined;
    }, 60_000, 100);

    // The root revokes the rogue; it goes on sealing every candidate with its registration.
    await network.revoke(rogueState.nodeId, 'stolen');
    rogueTransport = createMqttTransport({ url: broker.url, nodeId: rogueState.nodeId, clientId: 'rogue-device', prefix: network.topics.prefix, protocol: 4, status: false });
    rogueTransport.start();
    const registration = rogueState.certificate;
    rogue = standInAgent({
      transport: rogueTransport, nodeId: rogueState.nodeId, topics: network.topics, params,
      sign: rogueTpm.lotteryKey({ handle: rogueKey.handle }).sign,
      tamper: (seal) => ({ ...seal, registration }),
    });
    rogue.start();

    // The rogue and the device draw with the same odds, and a block is voted on one spin interval
    // after its first seal, so the rogue misses a given block about 3 times in 7: produce blocks
    // until it has sent (at most 12, which all miss about once in 25,000 runs).
    const blocks = [];
    while (rogue.sent.length === 0 && blocks.length < 12) blocks.push(...await network.produce(1));
    expect(blocks.every((b) => b.final)).toBe(true);
    for (const b of blocks) expect(b.seals.map((s) => s.publicKeyPem)).not.toContain(rogueKey.publicKeyPem);
    expect(rogue.sent.length).toBeGreaterThan(0);
    const status = await until('the device to count the revoked seals', async () => {
      const s = await readStatusFile(stateDir).catch(() => null);
      return (s?.invalidMessages['seal-revoked'] ?? 0) > 0 ? s : undefined;
    }, 20_000, 200);
    expect(status.invalidMessages['seal-revoked']).toBeGreaterThan(0);
  });
});
