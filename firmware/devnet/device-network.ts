// A network on the development host for devices that run elsewhere (a Raspberry Pi on the LAN,
// the image under QEMU): the root node (registrar on SQLite) with its factory station, and the
// reference primary node with its clerks, on a broker the devices reach. Unlike runDevnet it
// starts no TPM and no agent: the devices bring their own. What a device needs to join goes on
// its boot partition (bootFiles()).
// Host tooling only, like provisioned-devnet.ts: it imports provisioning/ (the registrar).
import { candidateByteCaps } from '../protocol/chain/candidate-wire.ts';
import type { Logger } from 'pino';
import { DEFAULT_PARAMS, type NetworkParams } from '../protocol/params.ts';
import { createMqttTransport, topicsFor, DEFAULT_TOPIC_PREFIX, type MqttTransport, type Topics } from '../transport/index.ts';
import { generateEd25519 } from '../../provisioning/keys.ts';
import { toHex } from '../core/bytes.ts';
import type { FactoryTpm } from '../../provisioning/factory/index.ts';
import type { SignedManifest } from '../protocol/network-manifest.ts';
import { createClerks } from './clerks.ts';
import type { DevnetBroker } from './devnet-broker.ts';
import type { NetworkKeys, SignedNetworkSource } from './network-keys.ts';
import { genesisTip, PrimaryNode, type FinalBlockRecord, type PrimaryEvent } from './primary.ts';
import { startProvisionedRoot, type ProvisionedRoot, type UploadReport } from './provisioned-root.ts';
import { RegistrationAuthority } from '../protocol/registration-authority.ts';
import { TxGenerator } from './tx-generator.ts';

/** The file on a device's boot partition that holds the CA of the network's broker (firstboot.sh pins it). */
export const BROKER_CA_BOOT_FILE = 'btn-node-broker-ca.pem';

export interface DeviceNetworkOptions {
  /** The broker the devices use (the primary connects to it too). */
  readonly brokerUrl: string;
  /** Directory for the registrar's SQLite file and the factory batch. */
  readonly stateDir: string;
  /** PEM files of the CA that issued the devices' EK certificates. */
  readonly trustDir: string;
  /** The network's parameters, in its root-signed manifest (default DEFAULT_PARAMS). */
  readonly params?: NetworkParams;
  readonly clerks?: number;
  /** The network's name in its manifest and votes (default 'devnet'). */
  readonly network?: string;
  readonly txPerBlock?: number;
  /** The devices' topicPrefix (default btn/v1, what a device uses without one). */
  readonly topicPrefix?: string;
  /** A label the genesis hash is derived from (default: a new one per network). */
  readonly genesisLabel?: string;
  readonly logger: Logger;
  readonly onEvent?: (event: PrimaryEvent) => void;
  /**
   * A secure broker (devnet-broker.ts, TLS and dynamic security): the primary connects with its
   * account and pins the CA, the root creates each device's account at activation, and the boot
   * files carry the CA for the devices to pin.
   */
  readonly secureBroker?: Required<Pick<DevnetBroker, 'ca' | 'primary' | 'accounts'>>;
}

export interface DeviceNetwork {
  readonly rootUrl: string;
  /** The root's Ed25519 public key, hex: a device's ROOT_PUBLIC_KEY. */
  readonly rootPublicKey: string;
  /** What a device trusts for the network's terms and final blocks: manifests signed by the root key. */
  readonly network: SignedNetworkSource;
  /** The root-signed manifest the primary publishes retained on topics.manifest. */
  readonly manifest: SignedManifest;
  /** The root key and the committee's vote keys (host tooling: tests sign updates and replays with them). */
  readonly keys: NetworkKeys;
  readonly topics: Topics;
  /** The clerks' public keys (one PEM file): a device's primaries. */
  readonly primariesPem: string;
  /** The genesis hash, hex: a device's genesis. */
  readonly genesisHash: string;
  /** The factory station: one manifest line for this TPM (its EK, EK certificate and sealing key). */
  file(tpm: FactoryTpm, serial: string, board?: string): Promise<void>;
  /** The manufacturer signs the batch and uploads it to the root node. */
  upload(): Promise<UploadReport>;
  /**
   * The files a device's boot partition carries to join this network (btn-node.txt, and the
   * broker's CA on a secure broker); rootHost replaces the root's host (e.g. 10.0.2.2 under QEMU).
   */
  bootFiles(o: { readonly brokerUrl: string; readonly rootHost?: string; readonly board?: string }): Record<string, string>;
  /**
   * The operator revokes a node: the root signs a new revocation list, the clerks apply it at once
   * and it goes out retained on the revocations topic for every device. Returns the list version.
   */
  revoke(nodeId: string, reason: string): Promise<number>;
  /** Produces `blocks` final blocks with the devices that are online. */
  produce(blocks: number, signal?: AbortSignal): Promise<FinalBlockRecord[]>;
  close(): Promise<void>;
}

export async function startDeviceNetwork(o: DeviceNetworkOptions): Promise<DeviceNetwork> {
  const log = o.logger.child({ component: 'device-network' });
  const params = o.params ?? DEFAULT_PARAMS;
  const topics = topicsFor(o.topicPrefix ?? DEFAULT_TOPIC_PREFIX);
  const rootKey = generateEd25519().key;
  const secure = o.secureBroker;
  const root: ProvisionedRoot = await startProvisionedRoot({ dir: o.stateDir, trustDir: o.trustDir, logger: log, rootKey, ...(secure === undefined ? {} : { broker: secure.accounts }) });
  let transport: MqttTransport | null = null;
  const authority = new RegistrationAuthority({ rootPublicKey: rootKey.publicKey, logger: log, pollMs: 5000, fetchRevocations: () => root.revocations() });
  try {
    const maxOutboundBytes = candidateByteCaps({ maxTxs: params.maxBlockTxs, maxBlockBytes: params.maxBlockBytes }).json;
    transport = createMqttTransport({
      url: o.brokerUrl, nodeId: 'primary', clientId: `btn-primary-${toHex(rootKey.publicKey).slice(0, 8)}`, prefix: topics.prefix, status: false, logger: log, maxOutboundBytes,
      ...(secure === undefined ? {} : { ca: secure.ca, ...secure.primary }),
    });
    transport.start();
    await transport.online();
    authority.follow(transport, topics.revocations);
    await authority.start();
    const label = o.genesisLabel ?? `device-network/${toHex(rootKey.publicKey).slice(0, 16)}`;
    const genesis = genesisTip(label, Date.now());
    const primary = new PrimaryNode({
      transport, topics, params, clerks: createClerks(o.clerks ?? 3), authority, genesis,
      transactions: new TxGenerator({ seed: label }), ...(o.txPerBlock === undefined ? {} : { txPerBlock: o.txPerBlock }),
      logger: log, ...(o.onEvent === undefined ? {} : { onEvent: o.onEvent }), ...(o.network === undefined ? {} : { network: o.network }),
      // One root key signs registrations, revocation lists and the network manifest.
      root: { publicKey: rootKey.publicKey, privateKey: rootKey.privateKeyObject },
    });
    await primary.start();
    // Served by the root over HTTP as well: the copy a device trusts does not depend on the broker's.
    await root.store.publishManifest({ network: primary.manifest.network, version: primary.manifest.version, manifest: JSON.stringify(primary.manifest), publishedAt: Date.now() });
    const primariesPem = primary.clerks.map((c) => c.publicKey.export({ type: 'spki', format: 'pem' }).toString()).join('');
    const genesisHash = toHex(genesis.hash);
    const t = transport;
    return {
      rootUrl: root.url, rootPublicKey: toHex(rootKey.publicKey), network: primary.keys.source, manifest: primary.manifest, keys: primary.keys, topics, primariesPem, genesisHash,
      file: async (tpm, serial, board) => {
        await root.enroll(tpm, serial, board);
      },
      upload: () => root.uploadBatch(),
      bootFiles(b) {
        const url = new URL(root.url);
        if (b.rootHost !== undefined) url.hostname = b.rootHost;
        return {
          'btn-node.txt': [
            `ROOT_URL=${url.origin}`, `ROOT_PUBLIC_KEY=${toHex(rootKey.publicKey)}`, `BROKER_URL=${b.brokerUrl}`, `NETWORK=${primary.keys.network}`,
            ...(b.board === undefined ? [] : [`BOARD=${b.board}`]), '',
          ].join('\n'),
          // The broker's CA, pinned by the device (its account arrives at activation, through its TPM).
          ...(secure === undefined ? {} : { [BROKER_CA_BOOT_FILE]: secure.ca }),
        };
      },
      async revoke(nodeId, reason) {
        const version = await root.revoke(nodeId, reason);
        const list = await root.revocations();
        authority.applyRevocationList(list);
        await t.publish(topics.revocations, list as Record<string, unknown>, { qos: 1, retain: true });
        return version;
      },
      produce: (blocks, signal) => primary.produce(blocks, signal),
      async close() {
        authority.stop();
        await primary.stop({ clearRetained: true }).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'primary stop failed'));
        await t.close().catch(() => undefined);
        await root.close();
      },
    };
  } catch (err) {
    authority.stop();
    await transport?.close().catch(() => undefined);
    await root.close();
    throw err;
  }
}
