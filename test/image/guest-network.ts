// The host's side of an image test, as the boot test sets it up: the production broker (mosquitto,
// TLS, dynamic security; its certificate names 10.0.2.2), the root node and a primary with three
// clerks; a swtpm manufactured and filed with the root node before the device ever boots; a copy
// of the built disk on a larger "card" with the network's boot files written onto its FAT
// partition. Also the root's hand in the fleet's updates: a signed announcement, published
// retained on <prefix>/updates (what `btn-provision update announce --broker` does).
import { copyFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Logger } from 'pino';
import { X86_LAYOUT } from '../../image-build/build.ts';
import { writeBootFile } from '../../image-build/disk.ts';
import { sha256OfFile } from '../../firmware/core/file-hash.ts';
import { startDeviceNetwork, type DeviceNetwork } from '../../firmware/devnet/device-network.ts';
import { openDevnetBroker, type DevnetBroker } from '../../firmware/devnet/devnet-broker.ts';
import { nodeIdFromSpki } from '../../firmware/protocol/identity.ts';
import { DEFAULT_TOPIC_PREFIX } from '../../firmware/protocol/topics.ts';
import type { UpdateAnnouncement } from '../../firmware/protocol/update-announcement.ts';
import { signAnnouncement } from '../../provisioning/cli/update-command.ts';
import { ed25519PublicKeyObject } from '../../provisioning/keys.ts';
import { openTpm } from '../../tpm/index.ts';
import { publicKeySpki } from '../../tpm/public-area.ts';
import { startSwtpm } from '../../tpm/swtpm.ts';

export interface GuestNetwork {
  readonly broker: DevnetBroker;
  readonly network: DeviceNetwork;
  /** The primary's broker account (clerk and root roles) and the broker's CA. */
  readonly secure: { readonly ca: string; readonly primary: { readonly username: string; readonly password: string } };
  /** The swtpm state the guest's TPM runs on. */
  readonly tpmState: string;
  readonly nodeId: string;
  /** The guest's sealing key, as the clerks see it in a seal. */
  readonly sealingKeyPem: string;
  close(): Promise<void>;
}

export async function startGuestNetwork(work: string, logger: Logger, serial: string): Promise<GuestNetwork> {
  const broker = await openDevnetBroker({ kind: 'mosquitto' }, { dir: work, prefix: DEFAULT_TOPIC_PREFIX, logger, extraIps: ['10.0.2.2'] });
  let network: DeviceNetwork | undefined;
  try {
    const secure = { ca: broker.ca!, primary: broker.primary!, accounts: broker.accounts! };
    const caDir = join(work, 'ca');
    const tpmState = join(work, 'tpm');
    const factorySwtpm = await startSwtpm({ caDir, stateDir: tpmState });
    network = await startDeviceNetwork({ brokerUrl: broker.url, stateDir: join(work, 'root'), trustDir: caDir, logger, secureBroker: secure });
    const factoryTpm = await openTpm({ tcti: factorySwtpm.tcti });
    const sealingKey = await factoryTpm.ensureSealingKey();
    await network.file(factoryTpm, serial, 'qemu-x86_64');
    await factoryTpm.close();
    await factorySwtpm.stop();
    const filed = await network.upload();
    if (filed.filed !== 1) throw new Error(`the root node filed ${filed.filed} TPMs, not 1`);
    const n = network;
    return {
      broker, network: n, secure, tpmState, nodeId: nodeIdFromSpki(publicKeySpki(sealingKey.public)), sealingKeyPem: sealingKey.publicKeyPem,
      close: async () => {
        await n.close();
        await broker.close();
      },
    };
  } catch (err) {
    await network?.close();
    await broker.close();
    throw err;
  }
}

/** A copy of the built disk, growMiB larger (the data partition grows into it at boot), with the network's boot files and these extra btn-node.txt lines. */
export async function prepareDisk(g: GuestNetwork, imageDir: string, work: string, o: { readonly growMiB: number; readonly extraLines: readonly string[] }): Promise<string> {
  const image = join(work, 'disk.img');
  await copyFile(join(imageDir, 'btn-node-qemu-x86_64.img'), image);
  await truncate(image, (await stat(image)).size + o.growMiB * 1024 * 1024);
  const port = new URL(g.broker.url).port;
  const files = g.network.bootFiles({ brokerUrl: `mqtts://10.0.2.2:${port}`, rootHost: '10.0.2.2' });
  files['btn-node.txt'] += o.extraLines.map((l) => `${l}\n`).join('');
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(work, name), text);
    await writeBootFile(image, X86_LAYOUT, join(work, name), name);
  }
  return image;
}

/** The root signs an announcement of this bundle (its SHA-256 and size read from the file) and publishes it retained. */
export async function announceUpdate(g: GuestNetwork, o: { readonly version: string; readonly bundle: string; readonly url: string }): Promise<UpdateAnnouncement> {
  const { sha256, size } = await sha256OfFile(o.bundle);
  const root = g.network.keys.root;
  const key = { publicKey: root.publicKey, privateKeyObject: root.privateKey, publicKeyObject: ed25519PublicKeyObject(root.publicKey) };
  // No window: the only node installs at once (it still waits for a moment it is not spinning).
  const signed = signAnnouncement(key, {
    network: g.network.keys.network, version: o.version, compatible: 'btn-node-qemu-x86_64', url: o.url, sha256, size, issuedAt: Date.now(), windowMs: 0,
  });
  const client = await mqtt.connectAsync(g.broker.url, { ...g.secure.primary, ca: g.secure.ca, protocolVersion: 5, clientId: `btn-ota-root-${Date.now()}`, reconnectPeriod: 0 });
  try {
    await client.publishAsync(g.network.topics.updates, JSON.stringify(signed), { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
  return signed;
}
