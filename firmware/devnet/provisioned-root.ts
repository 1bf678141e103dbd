// The provisioned devnet's root node and factory (docs/activation.md steps 1 and 3), in-process: the
// provisioning registrar (HTTP API) on a SQLite file in the run's state directory, a root
// Ed25519 key, one manufacturer whose key signs the batch, and the swtpm CA directory as the
// TPM-vendor trust directory. Devnet tooling for the development host only, never device code:
// it imports provisioning/ (the registrar, its store with better-sqlite3, the factory station),
// which firmware/ otherwise does not (docs/layers.md); devnet-command.ts loads it lazily.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { enrollDevice, type EnrollResult, type FactoryTpm } from '../../provisioning/factory/index.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { toHex } from '../core/bytes.ts';
import { TrustStore } from '../../provisioning/manifest/index.ts';
import { signManifest } from '../../provisioning/manifest/signature.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import type { BrokerAccounts } from '../../provisioning/server/activation.ts';
import { openStore } from '../../provisioning/store/index.ts';
import type { ProvisioningStore } from '../../provisioning/store/types.ts';
import { DevnetError } from './errors.ts';
import { RegistrarClient, type BatchUploadResponse } from '../protocol/registrar-api/index.ts';
import type { SignedManifest } from '../protocol/network-manifest.ts';

export const DEVNET_MANUFACTURER = 'devnet-factory';

export interface ProvisionedRootOptions {
  /** Directory for the registrar's SQLite file and the batch (created). */
  readonly dir: string;
  /** PEM files of the CA that issued the TPMs' EK certificates (swtpm's local CA). */
  readonly trustDir: string;
  readonly logger: Logger;
  /** Registration certificate lifetime (default: the registrar's, 10 years). */
  readonly certificateTtlMs?: number;
  /** The root key (default: a new one for this run). */
  readonly rootKey?: Ed25519Key;
  /** The key a root key rotation moves to (serve --next-root-key). */
  readonly nextRootKey?: Ed25519Key;
  /** The broker's accounts, when the root manages them (a secure mosquitto with dynamic security). */
  readonly broker?: BrokerAccounts;
  /** The registrar's store (default: a SQLite file in `dir`); a postgres:// URL and schema run it on PostgreSQL. */
  readonly store?: { readonly url: string; readonly schema?: string };
}

/** The registrar's report on a batch upload. */
export type UploadReport = BatchUploadResponse;

export interface ProvisionedRoot {
  readonly url: string;
  /** Root Ed25519 public key (32 bytes): verifies registrations and revocation lists. */
  readonly rootPublicKey: Uint8Array;
  /** The root's signing key (host tooling only): the network manifest of a test network is signed with it too. */
  readonly rootKey: { readonly publicKey: Uint8Array; readonly privateKey: KeyObject };
  readonly store: ProvisioningStore;
  readonly registrar: RunningRegistrar;
  readonly batchPath: string;
  /** Factory station: one manifest line for this TPM (EK, EK certificate, sealing key). */
  enroll(tpm: FactoryTpm, serial: string, board?: string): Promise<EnrollResult>;
  /** The manufacturer signs the batch and uploads it: POST /v1/batches; throws when the root refuses a line. */
  uploadBatch(): Promise<UploadReport>;
  /** Operator revocation over the API: POST /v1/nodes/:nodeId/revoke. Returns the new list version. */
  revoke(nodeId: string, reason: string): Promise<number>;
  /** GET /v1/revocations (the signed list as JSON). */
  revocations(): Promise<unknown>;
  /** Operator publication of a signed network manifest: PUT /v1/network/manifest. */
  publishManifest(manifest: SignedManifest): Promise<void>;
  close(): Promise<void>;
}

export async function startProvisionedRoot(options: ProvisionedRootOptions): Promise<ProvisionedRoot> {
  await mkdir(options.dir, { recursive: true });
  const log = options.logger.child({ component: 'devnet-root' });
  const root: Ed25519Key = options.rootKey ?? generateEd25519().key;
  const maker: Ed25519Key = generateEd25519().key;
  // An operator token for this run only (HTTP revocation is off without one).
  const adminToken = toHex(generateEd25519().key.publicKey);
  const store = options.store === undefined
    ? await openStore(`sqlite:${join(options.dir, 'registrar.db')}`)
    : await openStore(options.store.url, options.store.schema === undefined ? {} : { schema: options.store.schema });
  let registrar: RunningRegistrar;
  try {
    await store.addManufacturer({ name: DEVNET_MANUFACTURER, publicKey: maker.publicKey, createdAt: Date.now() });
    const trust = await TrustStore.fromDirectory(options.trustDir);
    registrar = await startRegistrar({
      store, rootKey: root, trust, adminToken, logger: log, ...(options.nextRootKey === undefined ? {} : { nextRootKey: options.nextRootKey }),
      ...(options.broker === undefined ? {} : { broker: options.broker }),
      ...(options.certificateTtlMs === undefined ? {} : { certificateTtlMs: options.certificateTtlMs }),
    });
  } catch (err) {
    await store.close().catch(() => undefined);
    throw new DevnetError('ERR_DEVNET_STARTUP', `the devnet's root node did not start: ${(err as Error).message}`, {}, { cause: err });
  }
  const url = registrar.url;
  const batchPath = join(options.dir, 'batch.jsonl');
  log.info({ url }, 'root node (registrar) up');

  const client = new RegistrarClient(url, { timeoutMs: 30_000 });
  // Our own registrar refusing our own factory's requests is a bug to stop on.
  const devnetCall = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      throw new DevnetError('ERR_DEVNET_STARTUP', `${what}: ${(err as Error).message}`, {}, { cause: err });
    }
  };

  return {
    url, rootPublicKey: root.publicKey, rootKey: { publicKey: root.publicKey, privateKey: root.privateKeyObject }, store, registrar, batchPath,
    enroll: (tpm, serial, board = 'devnet') => enrollDevice({ tpm, batchPath, serial, board, logger: log }),
    async uploadBatch() {
      const manifest = new Uint8Array(await readFile(batchPath));
      const sig = signManifest(manifest, maker, DEVNET_MANUFACTURER);
      const report = await devnetCall('batch upload', () => client.uploadBatch({ manifest, manufacturer: sig.manufacturer, signature: sig.signature }));
      // Devnet batches come from our own factory station: a refused line is a bug to stop on.
      if (report.rejected > 0) {
        const why = report.results.filter((r) => r.status === 'rejected').map((r) => `line ${r.line}: ${r.code} ${r.reason}`).join('; ');
        throw new DevnetError('ERR_DEVNET_STARTUP', `the root node refused lines of the batch: ${why}`);
      }
      return report;
    },
    async revoke(nodeId, reason) {
      return (await devnetCall('revocation', () => client.revoke(nodeId, reason, adminToken))).revocationVersion;
    },
    revocations: () => devnetCall('revocation list', () => client.revocations()),
    async publishManifest(manifest) {
      await devnetCall('manifest publication', () => client.publishManifest(manifest, adminToken));
    },
    async close() {
      await registrar.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'registrar close failed'));
      await store.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'store close failed'));
    },
  };
}
