// The provisioned devnet's root node and factory (docs/activation.md steps 1 and 3), in-process: the
// provisioning registrar (HTTP API) on a SQLite file in the run's state directory, a root
// Ed25519 key, one manufacturer whose key signs the batch, and the swtpm CA directory as the
// TPM-vendor trust directory. Devnet tooling for the development host only, never device code:
// it imports provisioning/ (the registrar, its store with better-sqlite3, the factory station),
// which firmware/ otherwise does not (docs/layers.md); devnet-command.ts loads it lazily.
import { request as httpRequest } from 'node:http';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { enrollDevice, type EnrollResult, type FactoryTpm } from '../../provisioning/factory/index.ts';
import { generateEd25519, type Ed25519Key } from '../../provisioning/keys.ts';
import { toHex } from '../core/bytes.ts';
import { TrustStore } from '../../provisioning/manifest/index.ts';
import { signManifest } from '../../provisioning/manifest/signature.ts';
import { startRegistrar, type RunningRegistrar } from '../../provisioning/server/index.ts';
import { openStore } from '../../provisioning/store/index.ts';
import type { ProvisioningStore } from '../../provisioning/store/types.ts';
import { DevnetError } from './errors.ts';

/** A registrar reply as read here: an object, with `error` when refused. */
type RegistrarReply = { readonly error?: { readonly code?: string; readonly message?: string } } & Readonly<Record<string, unknown>>;

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
}

export interface UploadReport {
  readonly batchId: string;
  readonly lines: number;
  readonly filed: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly results: readonly { readonly line: number; readonly status: string; readonly code?: string; readonly reason?: string }[];
}

export interface ProvisionedRoot {
  readonly url: string;
  /** Root Ed25519 public key (32 bytes): verifies registrations and revocation lists. */
  readonly rootPublicKey: Uint8Array;
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
  close(): Promise<void>;
}

export async function startProvisionedRoot(options: ProvisionedRootOptions): Promise<ProvisionedRoot> {
  await mkdir(options.dir, { recursive: true });
  const log = options.logger.child({ component: 'devnet-root' });
  const root: Ed25519Key = options.rootKey ?? generateEd25519().key;
  const maker: Ed25519Key = generateEd25519().key;
  // An operator token for this run only (HTTP revocation is off without one).
  const adminToken = toHex(generateEd25519().key.publicKey);
  const store = await openStore(`sqlite:${join(options.dir, 'registrar.db')}`);
  let registrar: RunningRegistrar;
  try {
    await store.addManufacturer({ name: DEVNET_MANUFACTURER, publicKey: maker.publicKey, createdAt: Date.now() });
    const trust = await TrustStore.fromDirectory(options.trustDir);
    registrar = await startRegistrar({
      store, rootKey: root, trust, adminToken, logger: log,
      ...(options.certificateTtlMs === undefined ? {} : { certificateTtlMs: options.certificateTtlMs }),
    });
  } catch (err) {
    await store.close().catch(() => undefined);
    throw new DevnetError('ERR_DEVNET_STARTUP', `the devnet's root node did not start: ${(err as Error).message}`, {}, { cause: err });
  }
  const url = registrar.url;
  const batchPath = join(options.dir, 'batch.jsonl');
  log.info({ url }, 'root node (registrar) up');

  const call = async (method: 'GET' | 'POST', path: string, body: Uint8Array | string | undefined, headers: Record<string, string | number>): Promise<{ status: number; doc: RegistrarReply }> => {
    const target = new URL(path, url);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(target, { method, headers, timeout: 30_000 }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
    let doc: RegistrarReply | null = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) doc = parsed as RegistrarReply;
    } catch { /* reported below */ }
    if (status !== 200 || doc === null) {
      throw new DevnetError('ERR_DEVNET_STARTUP', `${method} ${path}: HTTP ${status} ${doc?.error?.code ?? ''} ${doc?.error?.message ?? text.slice(0, 200)}`.trim());
    }
    return { status, doc };
  };

  return {
    url, rootPublicKey: root.publicKey, store, registrar, batchPath,
    enroll: (tpm, serial, board = 'devnet') => enrollDevice({ tpm, batchPath, serial, board, logger: log }),
    async uploadBatch() {
      const manifest = new Uint8Array(await readFile(batchPath));
      const sig = signManifest(manifest, maker, DEVNET_MANUFACTURER);
      const { doc } = await call('POST', '/v1/batches', manifest, {
        'content-type': 'application/x-ndjson', 'content-length': manifest.length,
        'x-btn-manufacturer': sig.manufacturer, 'x-btn-signature': sig.signature,
      });
      if (typeof doc['rejected'] !== 'number' || !Array.isArray(doc['results'])) {
        throw new DevnetError('ERR_DEVNET_STARTUP', 'the root node answered the batch upload without rejected/results');
      }
      const report = doc as unknown as UploadReport;
      // Devnet batches come from our own factory station: a refused line is a bug to stop on.
      if (report.rejected > 0) {
        const why = report.results.filter((r) => r.status === 'rejected').map((r) => `line ${r.line}: ${r.code} ${r.reason}`).join('; ');
        throw new DevnetError('ERR_DEVNET_STARTUP', `the root node refused lines of the batch: ${why}`);
      }
      return report;
    },
    async revoke(nodeId, reason) {
      const body = JSON.stringify({ reason });
      const { doc } = await call('POST', `/v1/nodes/${nodeId}/revoke`, body, {
        'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${adminToken}`,
      });
      return Number(doc.revocationVersion);
    },
    async revocations() {
      return (await call('GET', '/v1/revocations', undefined, {})).doc as unknown;
    },
    async close() {
      await registrar.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'registrar close failed'));
      await store.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'store close failed'));
    },
  };
}
