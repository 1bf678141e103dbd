// The broker a devnet runs on, one of four: the embedded in-process aedes (the default: nothing
// to install), a running broker at a URL, a real mosquitto 2 started here with TLS, no
// anonymous clients and dynamic security (secure-mosquitto.ts), where the root node creates each
// device's account at activation and the device connects with the credential its TPM released:
// the production broker path, with one command; or a three-member nats-server cluster
// (nats-cluster.ts), the clients spread over its members, each able to move to another.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { freePort } from '../core/free-port.ts';
import { startBroker } from '../transport/index.ts';
import type { BrokerAccounts } from '../../provisioning/server/broker-rotation.ts';
import type { BrokerAdmin } from '../../provisioning/broker/dynsec.ts';
import { DevnetError } from './errors.ts';
import type { NatsCluster } from './nats-cluster.ts';

export type DevnetBrokerChoice =
  | { readonly kind: 'in-process' }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'mosquitto' }
  /** Started here, or one already running (the caller keeps it: kills members, stops it). */
  | { readonly kind: 'nats-cluster'; readonly cluster?: NatsCluster };

export interface DevnetBroker {
  readonly kind: DevnetBrokerChoice['kind'];
  readonly url: string;
  /** The broker's own process (a mosquitto started here); undefined in process or elsewhere. */
  readonly pid?: number;
  /** A cluster's members' MQTT URLs (url is the first); see clientUrls. */
  readonly members?: readonly string[];
  /** aedes and nats-server speak MQTT 3.1.1 only; mosquitto 2 speaks 5 (reason codes for refusals). */
  readonly protocol: 'auto' | 4 | 5;
  /** The CA every client pins (mqtts://). */
  readonly ca?: string;
  /**
   * The primary's account: the clerk role (candidates, finals) and, because the devnet's primary
   * process also publishes what its root node signs, the root role (manifest, revocation lists).
   * A device only ever holds its own node's role.
   */
  readonly primary?: { readonly username: string; readonly password: string };
  /** The broker's accounts as the root node manages them (creating a node's at activation, disabling it at revocation). */
  readonly accounts?: BrokerAccounts;
  /**
   * A node's account made directly (the unprovisioned devnet has no root to release one through
   * the TPM); undefined on a broker that takes anyone.
   */
  nodeCredentials?(nodeId: string): Promise<{ readonly username: string; readonly password: string }>;
  close(): Promise<void>;
}

export interface DevnetBrokerOptions {
  /** The run's directory (a secure broker keeps its CA, config and plugin state in <dir>/broker). */
  readonly dir: string;
  /** The network's topic prefix: the roles a secure broker gets are for it. */
  readonly prefix: string;
  readonly logger: Logger;
  /** More addresses a secure broker's certificate names, for clients that reach it by another one (a QEMU guest: 10.0.2.2). */
  readonly extraIps?: readonly string[];
}

export async function openDevnetBroker(choice: DevnetBrokerChoice, o: DevnetBrokerOptions): Promise<DevnetBroker> {
  switch (choice.kind) {
    case 'in-process': {
      const handle = await startBroker();
      return { kind: 'in-process', url: handle.url, protocol: 4, close: () => handle.close() };
    }
    case 'url':
      return { kind: 'url', url: choice.url, protocol: 'auto', close: async () => undefined };
    case 'mosquitto':
      return openSecureMosquitto(o);
    case 'nats-cluster':
      return openNatsCluster(choice.cluster, o);
  }
}

/**
 * Where client i connects (0: the primary, i: node-i). On a cluster, member i mod size, with the
 * other members after it as fallbacks in turn, so a client whose member dies goes on elsewhere.
 */
export function clientUrls(broker: DevnetBroker, i: number): { readonly url: string; readonly fallbackUrls?: readonly string[]; readonly maxSubscribeQos?: 0 } {
  const m = broker.members;
  if (m === undefined || m.length === 0) return { url: broker.url };
  const at = i % m.length;
  // QoS 0 subscriptions on the cluster: no JetStream consumer per subscription (MqttTransportOptions.maxSubscribeQos).
  return { url: m[at]!, fallbackUrls: [...m.slice(at + 1), ...m.slice(0, at)], maxSubscribeQos: 0 };
}

async function openNatsCluster(running: NatsCluster | undefined, o: DevnetBrokerOptions): Promise<DevnetBroker> {
  const { startNatsCluster } = await import('./nats-cluster.ts');
  const cluster = running ?? await startNatsCluster({ dir: join(o.dir, 'broker') });
  // nats-server's MQTT is 3.1.1 only: no MQTT 5 attempt to be refused first.
  return { kind: 'nats-cluster', url: cluster.mqttUrls[0]!, members: cluster.mqttUrls, protocol: 4, close: () => (running === undefined ? cluster.stop() : Promise.resolve()) };
}

async function openSecureMosquitto(o: DevnetBrokerOptions): Promise<DevnetBroker> {
  // Host tooling loaded only here: the broker's administration lives with the registrar.
  const { startSecureMosquitto } = await import('./secure-mosquitto.ts');
  const dynsec = await import('../../provisioning/broker/dynsec.ts');
  const broker = await startSecureMosquitto({ dir: join(o.dir, 'broker'), port: await freePort(), ...(o.extraIps === undefined ? {} : { extraIps: o.extraIps }) });
  let admin: BrokerAdmin | null = null;
  try {
    admin = await dynsec.BrokerAdmin.connect({ url: broker.url, ...broker.admin, ca: broker.caPem });
    const primary = { username: 'btn-devnet-primary', password: randomBytes(24).toString('base64url') };
    await admin.upsertClient(primary.username, primary.password, await admin.ensureRole('clerk', o.prefix));
    await admin.upsertClient(primary.username, primary.password, await admin.ensureRole('root', o.prefix));
    const a = admin;
    return {
      kind: 'mosquitto', url: broker.url, pid: broker.pid, protocol: 5, ca: broker.caPem, primary, accounts: dynsec.brokerAccounts(a, o.prefix),
      async nodeCredentials(nodeId) {
        const password = randomBytes(24).toString('base64url');
        await a.upsertNode(nodeId, password, o.prefix);
        return { username: nodeId, password };
      },
      async close() {
        await a.close().catch((err: unknown) => o.logger.warn({ err: (err as Error).message }, 'broker admin close failed'));
        await broker.stop();
      },
    };
  } catch (err) {
    await admin?.close().catch(() => undefined);
    await broker.stop();
    throw new DevnetError('ERR_DEVNET_STARTUP', `the secure mosquitto broker did not start: ${(err as Error).message}\n${broker.output().slice(-2000)}`, {}, { cause: err });
  }
}
