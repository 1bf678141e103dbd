// The host network for devices that run elsewhere (firmware/devnet/device-network.ts), with a
// device made of real parts on this machine: a swtpm filed at the factory station, and
// `btn-node run` configured from nothing but the files the network puts on a device's boot
// partition (as the image's first-boot script does). The device activates itself against the
// root node and seals a block of the primary node; the clerks accept it under its registration.
// The same path under QEMU is test/image/boot.image.test.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../../until.ts';
import { fromHex } from '../../../firmware/core/bytes.ts';
import { verifyManifest } from '../../../firmware/protocol/network-manifest.ts';
import { readStatusFile } from '../../../firmware/status/index.ts';
import { runCommand } from '../../../firmware/cli/run-command.ts';
import { BROKER_CA_BOOT_FILE, startDeviceNetwork } from '../../../firmware/devnet/device-network.ts';
import { openDevnetBroker } from '../../../firmware/devnet/devnet-broker.ts';
import { DEFAULT_TOPIC_PREFIX } from '../../../firmware/protocol/topics.ts';
import { openTpm } from '../../../tpm/index.ts';
import { startSwtpm } from '../../../tpm/swtpm.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  // Last started, first stopped: the device, then the network, the broker, the TPM, the files.
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Parses btn-node.txt as the image's first-boot script does (KEY=VALUE lines, # comments). */
function parseBtnNodeTxt(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}


describe('device network', () => {
  it('a device configured from its boot files activates against the root node and seals a block', { timeout: 120_000 }, () => deviceSeals({ secure: false }));

  it('on a secure broker (TLS, dynamic security): the boot files carry the CA, the device connects with the account its TPM released and seals', { timeout: 120_000 }, () => deviceSeals({ secure: true }));
});

async function deviceSeals(o: { readonly secure: boolean }): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'btn-devnet-dev-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  const broker = await openDevnetBroker(o.secure ? { kind: 'mosquitto' } : { kind: 'in-process' }, { dir: work, prefix: DEFAULT_TOPIC_PREFIX, logger: pino({ level: 'silent' }) });
  cleanups.push(() => broker.close());
  const caDir = join(work, 'ca');
  // Factory: EK certificate (the first swtpm makes the CA the root node trusts), sealing key,
  // one line in the signed batch.
  const swtpm = await startSwtpm({ caDir, stateDir: join(work, 'tpm') });
  cleanups.push(() => swtpm.destroy());
  const network = await startDeviceNetwork({
    brokerUrl: broker.url, stateDir: join(work, 'root'), trustDir: caDir, logger: pino({ level: 'silent' }), clerks: 3,
    ...(o.secure ? { secureBroker: { ca: broker.ca!, primary: broker.primary!, accounts: broker.accounts! } } : {}),
  });
  cleanups.push(() => network.close());
  const factory = await openTpm({ tcti: swtpm.tcti });
  const sealingKey = await factory.ensureSealingKey();
  await network.file(factory, 'DEV-0001');
  await factory.close();
  expect((await network.upload()).filed).toBe(1);

  // The boot partition's files, turned into the device's config as first boot does.
  const files = network.bootFiles({ brokerUrl: broker.url });
  // With a root, the network's terms come from its signed manifest: no clerks' keys or genesis on
  // the card; a secure broker's CA is there, and no secret.
  expect(Object.keys(files).sort()).toEqual(o.secure ? [BROKER_CA_BOOT_FILE, 'btn-node.txt'] : ['btn-node.txt']);
  const txt = parseBtnNodeTxt(files['btn-node.txt']!);
  expect(txt['ROOT_PUBLIC_KEY']).toMatch(/^[0-9a-f]{64}$/);
  // The same root key signs the network manifest the primary keeps retained on the broker.
  expect(network.network).toEqual({ kind: 'signed', network: 'devnet', rootPublicKey: fromHex(txt['ROOT_PUBLIC_KEY']!) });
  expect(verifyManifest(network.manifest, network.network.rootPublicKey, 'devnet').committee.size).toBe(3);
  const stateDir = join(work, 'device');
  const config = join(work, 'config.json');
  if (o.secure) await writeFile(join(work, 'broker-ca.pem'), files[BROKER_CA_BOOT_FILE]!);
  await writeFile(config, JSON.stringify({
    tcti: swtpm.tcti, broker: txt['BROKER_URL'], stateDir, network: txt['NETWORK'], ...(o.secure ? { brokerCa: 'broker-ca.pem' } : {}),
    root: { url: txt['ROOT_URL'], publicKey: txt['ROOT_PUBLIC_KEY'] },
  }));
  const device = new AbortController();
  const running = runCommand(['--config', config], { signal: device.signal });
  cleanups.push(async () => {
    device.abort();
    await running;
  });

  const active = await until('the device to activate', async () => {
    const s = await readStatusFile(stateDir).catch(() => null);
    return s?.activation.state === 'active' ? s : undefined;
  }, 60_000, 100);
  expect(active.tpm?.manufacturer).toBe('IBM');
  if (o.secure) {
    const connected = await until('connected as its node id', async () => {
      const s = await readStatusFile(stateDir).catch(() => null);
      return s?.broker.connected === true ? s : undefined;
    }, 30_000, 100);
    expect(connected.broker.user).toBe(connected.nodeId);
  }

  // One block at a time until one carries the device's seal (the device is the only sealer;
  // with the default 4 zero bits in 64 rounds it misses a height about 1.6 % of the time).
  let seal: { height: number; zeros: number } | undefined;
  for (let i = 0; i < 4 && seal === undefined; i++) {
    const [block] = await network.produce(1);
    const s = block?.final ? block.seals.find((x) => x.publicKeyPem === sealingKey.publicKeyPem) : undefined;
    if (s) seal = { height: block!.height, zeros: s.zeros };
  }
  expect(seal).toBeDefined();
  expect(seal!.zeros).toBeGreaterThanOrEqual(4);
  const after = await until('the sealed count in status.json', async () => {
    const s = await readStatusFile(stateDir).catch(() => null);
    return s !== null && s.seals.made >= 1 ? s : undefined;
  }, 10_000, 100);
  expect(after.seals.made).toBeGreaterThanOrEqual(1);
}
