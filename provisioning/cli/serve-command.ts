// btn-provision serve --db URL --port N --root-key FILE [--next-root-key FILE] --trust DIR [--host H] [--admin-token-file FILE] [--certificate-days N] [--manifest-refresh-s N]
//   [--vendor-ca-bundle FILE --vendor-ca-key HEX] [--broker-admin URL --broker-admin-file FILE [--broker-ca FILE] [--topic-prefix P]]
// A vendor CA bundle (signed with the release key HEX) adds its certificates as anchors; one
// that is unsigned, wrongly signed or older than the newest the store has seen stops the start.
// Runs until SIGINT/SIGTERM. The operator token may also come from BTN_ADMIN_TOKEN. With
// --broker-admin the root manages the broker's accounts (mosquitto dynamic security): each
// activation creates the node's account, released to its TPM alone; revocation disables it.
// The admin file holds "username:password" of the plugin's admin. The root key, the token file
// and the admin file must be the owner's alone (mode 0600 or narrower); anything wider is refused.
// --next-root-key: the key a root key rotation moves to (`btn-provision root rotate`); once the
// network manifest announces it and its window opens, registrations are signed with it.
// --manifest-refresh-s: how often the stored network manifest is read again, so that a manifest
// published through another instance on the same database is followed without a restart (default 15).
import { readFile } from 'node:fs/promises';
import { readPrivateFile } from '../../firmware/core/private-file.ts';
import pino from 'pino';
import { readKeyFile } from '../keys.ts';
import { acceptVendorBundle } from '../manifest/vendor-bundle.ts';
import { vendorBundleOption } from './trust-command.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { TrustStore } from '../manifest/trust.ts';
import { startRegistrar } from '../server/app.ts';
import { MAX_MANIFEST_REFRESH_MS, MIN_MANIFEST_REFRESH_MS } from '../server/manifest-follower.ts';
import { DEFAULT_STORE_URL, openStore } from '../store/open.ts';
import { parse, required, UsageError } from './args.ts';
import { BrokerAdmin, brokerAccounts } from '../broker/dynsec.ts';
import { DEFAULT_TOPIC_PREFIX, topicPrefix } from '../../firmware/protocol/topics.ts';

const USAGE = 'usage: btn-provision serve --db URL --port N --root-key FILE [--next-root-key FILE] --trust DIR [--host HOST] [--admin-token-file FILE] [--certificate-days N] [--manifest-refresh-s N]'
  + ' [--vendor-ca-bundle FILE --vendor-ca-key HEX] [--broker-admin mqtts://HOST:PORT --broker-admin-file FILE [--broker-ca FILE] [--topic-prefix P]]';

export async function serveCommand(argv: readonly string[], signal?: AbortSignal): Promise<number> {
  const a = parse(argv, {
    db: { type: 'string' }, port: { type: 'string' }, 'root-key': { type: 'string' }, 'next-root-key': { type: 'string' }, trust: { type: 'string' },
    host: { type: 'string' }, 'admin-token-file': { type: 'string' }, 'certificate-days': { type: 'string' },
    'broker-admin': { type: 'string' }, 'broker-admin-file': { type: 'string' }, 'broker-ca': { type: 'string' }, 'topic-prefix': { type: 'string' },
    'vendor-ca-bundle': { type: 'string' }, 'vendor-ca-key': { type: 'string' }, 'manifest-refresh-s': { type: 'string' },
  }, USAGE);
  const port = Number(required(a.port, '--port', USAGE));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535\n${USAGE}`);
  const refreshS = a['manifest-refresh-s'] === undefined ? undefined : Number(a['manifest-refresh-s']);
  const [minS, maxS] = [MIN_MANIFEST_REFRESH_MS / 1000, MAX_MANIFEST_REFRESH_MS / 1000];
  if (refreshS !== undefined && (!Number.isInteger(refreshS) || refreshS < minS || refreshS > maxS)) {
    throw new UsageError(`--manifest-refresh-s must be an integer in ${minS}..${maxS} (how often a manifest published through another instance is picked up)\n${USAGE}`);
  }
  const log = pino({ name: 'btn-provision' });
  const rootKey = await readKeyFile(required(a['root-key'], '--root-key', USAGE));
  const nextRootKey = a['next-root-key'] === undefined ? undefined : await readKeyFile(a['next-root-key']);
  const trustDir = required(a.trust, '--trust', USAGE);
  const bundle = await vendorBundleOption(a['vendor-ca-bundle'], a['vendor-ca-key'], USAGE);
  const trust = await TrustStore.fromDirectory(trustDir, bundle === null ? [] : [bundle.source]);
  for (const x of trust.ignored) log.warn({ subject: x.subject, reason: x.reason }, 'trust directory certificate ignored');
  if (trust.size === 0) log.warn('trust directory holds no usable CA certificate: every EK certificate will be rejected');
  let adminToken = process.env['BTN_ADMIN_TOKEN'];
  if (a['admin-token-file'] !== undefined) adminToken = (await secret(a['admin-token-file'], 'operator token file')).trim();
  if (adminToken !== undefined && adminToken.length < 16) throw new UsageError('the operator token must be at least 16 characters');
  let brokerAdmin: BrokerAdmin | null = null;
  if (a['broker-admin'] !== undefined) {
    const [username, ...rest] = (await secret(required(a['broker-admin-file'], '--broker-admin-file', USAGE), 'broker admin file')).trim().split(':');
    if (!username || rest.length === 0) throw new UsageError('--broker-admin-file must hold "username:password"');
    const ca = a['broker-ca'] === undefined ? undefined : await readFile(a['broker-ca'], 'utf8');
    brokerAdmin = await BrokerAdmin.connect({ url: a['broker-admin'], username, password: rest.join(':'), ...(ca === undefined ? {} : { ca }) });
  }
  const days = a['certificate-days'] === undefined ? undefined : Number(a['certificate-days']);
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 3650)) throw new UsageError(`--certificate-days must be an integer in 1..3650 (how long a registration certificate is valid; nodes renew in its last third)\n${USAGE}`);
  const store = await openStore(a.db ?? DEFAULT_STORE_URL);
  if (bundle !== null) {
    try {
      await acceptVendorBundle(bundle, store, Date.now());
    } catch (err) {
      await store.close();
      throw err;
    }
    log.info({ version: bundle.version, created: bundle.created, certificates: bundle.count }, 'vendor CA bundle loaded');
  }
  const server = await startRegistrar({
    store, rootKey, ...(nextRootKey === undefined ? {} : { nextRootKey }), trust, logger: log, port, host: a.host ?? '127.0.0.1', ...(adminToken === undefined ? {} : { adminToken }),
    ...(days === undefined ? {} : { certificateTtlMs: days * 24 * 3600_000 }),
    ...(refreshS === undefined ? {} : { manifestRefreshMs: refreshS * 1000 }),
    ...(brokerAdmin === null ? {} : { broker: brokerAccounts(brokerAdmin, topicPrefix(a['topic-prefix'] ?? DEFAULT_TOPIC_PREFIX)) }),
  });
  log.info({ url: server.url, store: store.kind, trustedCas: trust.size, rootPublicKey: toHex(rootKey.publicKey), signingKey: toHex(server.signer.current().publicKey), httpRevocation: adminToken !== undefined }, 'registrar listening');
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  log.info('shutting down');
  await server.close();
  await brokerAdmin?.close();
  await store.close();
  return 0;
}

/** A secret the service reads at start: the owner's alone, or a usage error saying how to fix it. */
async function secret(path: string, what: string): Promise<string> {
  try {
    return await readPrivateFile(path, { what, maxBytes: 4096 });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
