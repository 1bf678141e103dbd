// The registrar's HTTP API over node:http (README "HTTP API", openapi.yaml). No state in memory
// beyond per-instance metrics and the network manifest the signer follows (read again from the
// store on a timer): every decision reads the store, so instances can be replicated.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import pino, { type Logger } from 'pino';
import { makeCredential } from '../credential.ts';
import { ProvisioningError } from '../errors.ts';
import type { Ed25519Key } from '../keys.ts';
import { LineCheckPool } from '../manifest/line-check-pool.ts';
import { ingestBatch } from '../manifest/ingest.ts';
import { spoolSignedBatch, type SpooledBatch } from '../manifest/spool.ts';
import { DEFAULT_UPLOADS_PER_MANUFACTURER, UPLOAD_RETRY_AFTER_S, UploadSlots } from './upload-slots.ts';
import { MAX_BATCH_LINES, MAX_LINE_BYTES } from '../manifest/line.ts';
import { checkManufacturerName, parseSignatureHex } from '../manifest/signature.ts';
import type { TrustStore } from '../manifest/trust.ts';
import { signRevocationList } from '../registration/revocation-list.ts';
import type { DeviceRecord, ProvisioningStore } from '../store/types.ts';
import { completeProof, createChallenge, type ActivationDeps, type BrokerAccounts, type MakeCredential } from './activation.ts';
import { errorBody, JSON_BODY_DEADLINE_MS, MAX_JSON_BODY, readJsonBody, sendJson, statusOf } from './http.ts';
import { Metrics } from './metrics.ts';
import { challengeRequest, matchRoute, proofRequest, revokeRequest } from './routes.ts';
import { ManifestFollower, type RefreshOutcome } from './manifest-follower.ts';
import { etagMatches, MANIFEST_CACHE_CONTROL, manifestEtag, publishManifest, rotationChainText } from './network-manifest.ts';
import { RootSigner } from './root-signer.ts';
import { anyObject } from '../../firmware/core/json.ts';
import { MAX_MANIFEST_BYTES } from '../../firmware/protocol/network-manifest.ts';
import { METRICS_CONTENT_TYPE } from '../../firmware/core/prometheus.ts';
import type { HealthResponse, NodeResponse, RevokeResponse } from '../../firmware/protocol/registrar-api/index.ts';

export interface RegistrarOptions {
  readonly store: ProvisioningStore;
  readonly rootKey: Ed25519Key;
  /** The root's next key: registrations and revocation lists are signed with it once a held manifest announces it and its window opens. */
  readonly nextRootKey?: Ed25519Key;
  readonly trust: TrustStore;
  /** Operator bearer token for the operator routes (revoke, publish the network manifest); they are off without it. */
  readonly adminToken?: string;
  readonly now?: () => number;
  readonly logger?: Logger;
  /**
   * The broker's accounts (provisioning/broker/): when given, activation creates the node's account
   * and hands its secret to the TPM alone, and revocation disables it at once.
   */
  readonly broker?: BrokerAccounts;
  /** MakeCredential; by default provisioning/credential.ts (tests inject tpm2-tools' for a cross-check). */
  readonly makeCredential?: MakeCredential;
  readonly challengeTtlMs?: number;
  readonly certificateTtlMs?: number;
  readonly maxBatchLines?: number;
  readonly maxLineBytes?: number;
  /** Cap on a whole batch body. */
  readonly maxBatchBytes?: number;
  /** Worker threads verifying EK certificate signatures of batches; 0 = on the main thread. Default: cores, at most 4. */
  readonly verifyWorkers?: number;
  /** How long a JSON request body may take to arrive (ms); batch uploads have the server's longer timeout. */
  readonly jsonBodyDeadlineMs?: number;
  /** Batch uploads one manufacturer may run at once on this instance; more are refused with 429 (default DEFAULT_UPLOADS_PER_MANUFACTURER). */
  readonly maxUploadsPerManufacturer?: number;
  /** Where upload bodies are spooled while their signature is checked (default: the system's temp dir). */
  readonly spoolDir?: string;
  /** How often the stored network manifest is read again, to follow one another instance published (ms, 1 s..5 min; default 15 s). */
  readonly manifestRefreshMs?: number;
}

export const DEFAULT_MAX_BATCH_BYTES = 512 * 1024 * 1024;
/**
 * How long a registration certificate is valid: one year. Nodes renew in its last 30 days by
 * re-activating (firmware/activation/renewal.ts), so a stolen certificate alone stops being
 * useful within a year, and a root key rotation reaches every node within one.
 */
export const DEFAULT_CERTIFICATE_TTL_MS = 365 * 24 * 3600_000;
const NODE_ID = /^[0-9a-f]{64}$/;

export interface Registrar {
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly metrics: Metrics;
  readonly signer: RootSigner;
  /** Resolves once the stored manifest was read at start (signing waits for it). */
  readonly ready: Promise<void>;
  /** Reads the stored network manifest now and follows it when another instance published a newer one. Function properties: passed on unbound. */
  readonly refreshManifest: () => Promise<RefreshOutcome>;
  readonly close: () => Promise<void>;
}

export function createRegistrar(options: RegistrarOptions): Registrar {
  const { store, rootKey, trust } = options;
  const now = options.now ?? Date.now;
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'registrar' });
  const signer = new RootSigner(rootKey, options.nextRootKey ?? null, now);
  // The rotation the stored manifest announces decides the signing key; signing waits for it.
  // Other instances may publish later: the follower reads the store again on a timer.
  const follower = new ManifestFollower({ store, signer, now }, log, options.manifestRefreshMs);
  const ready = follower.refresh().then((outcome) => {
    const problem = outcome === 'followed' ? null : signer.problem();
    if (problem !== null) log.warn(problem);
    follower.start();
  });
  const metrics = new Metrics();
  const credential: MakeCredential = options.makeCredential ?? makeCredential;
  const deps: ActivationDeps = {
    store, rootKey, now, signingKey: () => signer.current(),
    ...(options.broker === undefined ? {} : { broker: options.broker }),
    makeCredential: credential,
    challengeTtlMs: options.challengeTtlMs ?? 5 * 60_000,
    certificateTtlMs: options.certificateTtlMs ?? DEFAULT_CERTIFICATE_TTL_MS,
    onActivated: (nodeId, reactivated) => {
      (reactivated ? metrics.reactivations : metrics.activations).inc();
      log.info({ nodeId }, reactivated ? 'node re-activated: certificate renewed, broker secret rotated' : 'node activated');
    },
  };
  const adminHash = options.adminToken === undefined ? null : createHash('sha256').update(options.adminToken).digest();
  const maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  const bodyDeadlineMs = options.jsonBodyDeadlineMs ?? JSON_BODY_DEADLINE_MS;
  const uploads = new UploadSlots(options.maxUploadsPerManufacturer ?? DEFAULT_UPLOADS_PER_MANUFACTURER);
  const workers = options.verifyWorkers ?? Math.min(4, availableParallelism());
  const checker = workers > 0 ? new LineCheckPool(trust, workers) : undefined;

  function requireOperator(req: IncomingMessage): void {
    if (adminHash === null) throw new ProvisioningError('ERR_PROV_UNAUTHORIZED', 'operator routes over HTTP are disabled (start serve with --admin-token-file)');
    // The scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are the same.
    const m = /^Bearer +(\S{1,512})$/i.exec(req.headers.authorization ?? '');
    // Compare digests: constant time and independent of the token's length.
    const given = createHash('sha256').update(m?.[1] ?? '').digest();
    if (m === null || !timingSafeEqual(given, adminHash)) throw new ProvisioningError('ERR_PROV_UNAUTHORIZED', 'missing or wrong operator bearer token');
  }

  async function* capped(req: IncomingMessage): AsyncGenerator<Uint8Array> {
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBatchBytes) throw new ProvisioningError('ERR_PROV_BATCH_TOO_LARGE', `batch body is over the ${maxBatchBytes}-byte cap`);
      yield chunk;
    }
  }

  async function uploadBatch(req: IncomingMessage): Promise<unknown> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!['application/x-ndjson', 'application/jsonl', 'application/json-lines', 'text/plain'].includes(type)) {
      throw new ProvisioningError('ERR_PROV_UNSUPPORTED_MEDIA', 'content-type must be application/x-ndjson (the manifest bytes as signed)');
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBatchBytes) throw new ProvisioningError('ERR_PROV_BATCH_TOO_LARGE', `batch of ${declared} bytes is over the ${maxBatchBytes}-byte cap`);
    const manufacturer = checkManufacturerName(req.headers['x-btn-manufacturer'], 'x-btn-manufacturer');
    const signature = parseSignatureHex(req.headers['x-btn-signature'], 'x-btn-signature');
    const release = uploads.take(manufacturer);
    let spooled: SpooledBatch | null = null;
    try {
      spooled = await spoolSignedBatch({ body: capped(req), manufacturer, signature, store, ...(options.spoolDir === undefined ? {} : { dir: options.spoolDir }) });
      const report = await ingestBatch({
        source: spooled.source(), verifiedSha256: spooled.sha256, manufacturer, signature, store, trust, now: now(), ...(checker === undefined ? {} : { checker }),
        maxLines: options.maxBatchLines ?? MAX_BATCH_LINES, maxLineBytes: options.maxLineBytes ?? MAX_LINE_BYTES,
      });
      metrics.batches.inc({ result: 'accepted' });
      metrics.batchLines.inc({ status: 'filed' }, report.filed);
      metrics.batchLines.inc({ status: 'duplicate' }, report.duplicates);
      metrics.batchLines.inc({ status: 'rejected' }, report.rejected);
      for (const r of report.results) if (r.code !== undefined) metrics.lineRejections.inc({ reason: r.code });
      log.info({ batchId: report.batchId, manufacturer, lines: report.lines, filed: report.filed, rejected: report.rejected }, 'batch ingested');
      return report;
    } catch (err) {
      metrics.batches.inc({ result: 'rejected' });
      throw err;
    } finally {
      release();
      await spooled?.remove();
    }
  }

  function nodeView(d: DeviceRecord): NodeResponse {
    return {
      nodeId: d.nodeId, state: d.state, ekName: d.ekName, serial: d.serial, board: d.board, manufacturer: d.manufacturer,
      batchId: d.batchId, filedAt: iso(d.filedAt), activatedAt: iso(d.activatedAt), revokedAt: iso(d.revokedAt),
      revokeReason: d.revokeReason, certificate: d.certificate === null ? null : (JSON.parse(d.certificate) as NodeResponse['certificate']),
    };
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<[string, number, unknown] | null> {
    const matched = matchRoute(req.method ?? 'GET', path);
    if (matched === null) return null;
    const name = matched.route.name;
    switch (name) {
      case 'health': {
        await store.ping();
        return [name, 200, { status: 'ok', store: store.kind } satisfies HealthResponse];
      }
      case 'metrics': {
        const devices = await store.countDevices().catch(() => null);
        const text = metrics.text(devices);
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return [name, 200, undefined];
      }
      case 'batches':
        return [name, 200, await uploadBatch(req)];
      case 'challenge': {
        const body = await readJsonBody(req, challengeRequest, MAX_JSON_BODY, bodyDeadlineMs);
        const r = await createChallenge(deps, body.ekPublic, body.sealingPublic);
        metrics.challenges.inc();
        return [name, 200, r];
      }
      case 'proof': {
        const body = await readJsonBody(req, proofRequest, MAX_JSON_BODY, bodyDeadlineMs);
        await ready.catch(() => undefined);
        return [name, 200, await completeProof(deps, body.challengeId, body.secret)];
      }
      case 'revocations': {
        const { version, entries } = await store.revocations();
        await ready.catch(() => undefined);
        const list = signRevocationList(signer.current(), version, new Date(now()).toISOString(), entries.map((e) => ({
          nodeId: e.nodeId, ekName: e.ekName, revokedAt: new Date(e.revokedAt).toISOString(), reason: e.reason,
        })));
        return [name, 200, list];
      }
      case 'manifest': {
        // Served as stored: it was verified under the root key before it was stored.
        const held = await store.networkManifest();
        if (held === null) throw new ProvisioningError('ERR_PROV_NOT_FOUND', 'no network manifest is published yet');
        const headers = { etag: manifestEtag(held.version), 'cache-control': MANIFEST_CACHE_CONTROL };
        if (etagMatches(req.headers['if-none-match'], headers.etag)) {
          res.writeHead(304, headers);
          res.end();
          return [name, 304, undefined];
        }
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(held.manifest), ...headers });
        res.end(held.manifest);
        return [name, 200, undefined];
      }
      case 'rotations': {
        // Served as stored: each link was verified under the root key before it was kept.
        const text = await rotationChainText(store);
        if (text === null) throw new ProvisioningError('ERR_PROV_NOT_FOUND', 'no network manifest is published yet');
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': MANIFEST_CACHE_CONTROL });
        res.end(text);
        return [name, 200, undefined];
      }
      case 'publishManifest': {
        requireOperator(req);
        const raw = await readJsonBody(req, anyObject({ maxKeys: 64 }), MAX_MANIFEST_BYTES, bodyDeadlineMs);
        await ready.catch(() => undefined);
        const r = await publishManifest({ store, signer, now }, raw);
        if (r.outcome === 'published') log.warn({ network: r.network, version: r.version }, 'network manifest published');
        return [name, 200, r];
      }
      case 'node':
      case 'revoke': {
        let id: string;
        try {
          id = decodeURIComponent(matched.params['nodeId']!);
        } catch {
          // A malformed percent-encoding is the client's mistake, not the server's (400, not 500).
          throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', 'node id is not valid percent-encoding', 'nodeId');
        }
        if (name === 'revoke') requireOperator(req);
        if (!NODE_ID.test(id)) throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', 'node id must be 64 lower-case hex digits (SHA-256 of the sealing key SPKI)', 'nodeId');
        if (name === 'node') {
          const d = await store.getNode(id);
          if (d === null) throw new ProvisioningError('ERR_PROV_NOT_FOUND', `no node ${id}`, 'nodeId');
          return [name, 200, nodeView(d)];
        }
        const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
        const body = hasBody ? await readJsonBody(req, revokeRequest, 4096, bodyDeadlineMs) : {};
        const reason = body.reason ?? 'revoked by operator';
        const r = await store.revoke({ nodeId: id, reason, now: now() });
        if (r.outcome === 'unknown') throw new ProvisioningError('ERR_PROV_NOT_FOUND', `no node ${id}`, 'nodeId');
        if (r.outcome === 'revoked') {
          metrics.revocations.inc();
          log.warn({ nodeId: id, reason }, 'node revoked');
        }
        // Also when revoked before: a failed earlier attempt is made good by revoking again.
        await options.broker?.disable(id).catch((err: unknown) => log.error({ nodeId: id, err: (err as Error).message }, 'broker account not disabled; revoke again'));
        return [name, 200, { nodeId: id, state: 'revoked', outcome: r.outcome, revocationVersion: r.version } satisfies RevokeResponse];
      }
      default: {
        const unhandled: never = name;
        throw new Error(`route ${String(unhandled)} has no handler`);
      }
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0]!;
    let routeName = 'unknown';
    const finish = (status: number): void => {
      metrics.requests.inc({ route: routeName, status: String(status) });
      metrics.durations.observe({ route: routeName }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    const respond = async (): Promise<void> => {
      try {
        const out = await route(req, res, path);
        if (out === null) throw new ProvisioningError('ERR_PROV_NOT_FOUND', `no route ${req.method} ${path.slice(0, 100)}`);
        const [name, status, body] = out;
        routeName = name;
        if (body !== undefined) sendJson(res, status, body);
        finish(status);
      } catch (err) {
        const status = statusOf(err);
        const body = errorBody(err);
        metrics.rejections.inc({ reason: body.error.code });
        if (status >= 500) log.error({ err }, 'request failed');
        else log.debug({ code: body.error.code, path }, 'request refused');
        if (!res.headersSent) {
          // An unread request body (refused early) would otherwise stall the connection.
          const drained = req.readableEnded;
          const retry: Record<string, string> = status === 429 ? { 'retry-after': String(UPLOAD_RETRY_AFTER_S) } : {};
          sendJson(res, status, body, drained ? retry : { ...retry, connection: 'close' });
          if (!drained) res.once('finish', () => req.destroy());
        } else res.destroy();
        finish(status);
      }
    };
    void respond();
  };
  return {
    handler, metrics, signer, ready,
    refreshManifest: () => follower.refresh(),
    close: async () => {
      follower.close();
      await checker?.close();
    },
  };
}

function iso(t: number | null): string | null {
  return t === null ? null : new Date(t).toISOString();
}

export interface RunningRegistrar {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly metrics: Metrics;
  /** Which root key signs now (a rotation's next key once its window opens). */
  readonly signer: RootSigner;
  /** Reads the stored network manifest now and follows it when another instance published a newer one. */
  refreshManifest(): Promise<RefreshOutcome>;
  close(): Promise<void>;
}

/** Listen on host:port (port 0 = a free port); resolves once the service answers health checks. */
export async function startRegistrar(options: RegistrarOptions & { port?: number; host?: string }): Promise<RunningRegistrar> {
  const { handler, metrics, close, ready, signer, refreshManifest } = createRegistrar(options);
  await ready.catch(() => undefined);
  const server = createServer({ requestTimeout: 10 * 60_000, headersTimeout: 30_000 }, handler);
  server.keepAliveTimeout = 5_000;
  await options.store.ping();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    metrics,
    signer,
    refreshManifest,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await close();
    },
  };
}

