// btn-provision serve --db URL --port N --root-key FILE --trust DIR [--host H] [--admin-token-file FILE]
// Runs until SIGINT/SIGTERM. The operator token may also come from BTN_ADMIN_TOKEN.
import { readFile } from 'node:fs/promises';
import pino from 'pino';
import { readKeyFile } from '../keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { TrustStore } from '../manifest/trust.ts';
import { startRegistrar } from '../server/app.ts';
import { DEFAULT_STORE_URL, openStore } from '../store/open.ts';
import { parse, required, UsageError } from './args.ts';

const USAGE = 'usage: btn-provision serve --db URL --port N --root-key FILE --trust DIR [--host HOST] [--admin-token-file FILE]';

export async function serveCommand(argv: readonly string[], signal?: AbortSignal): Promise<number> {
  const a = parse(argv, {
    db: { type: 'string' }, port: { type: 'string' }, 'root-key': { type: 'string' }, trust: { type: 'string' },
    host: { type: 'string' }, 'admin-token-file': { type: 'string' },
  }, USAGE);
  const port = Number(required(a.port, '--port', USAGE));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535\n${USAGE}`);
  const log = pino({ name: 'btn-provision' });
  const rootKey = await readKeyFile(required(a['root-key'], '--root-key', USAGE));
  const trust = await TrustStore.fromDirectory(required(a.trust, '--trust', USAGE));
  for (const x of trust.ignored) log.warn({ subject: x.subject, reason: x.reason }, 'trust directory certificate ignored');
  if (trust.size === 0) log.warn('trust directory holds no usable CA certificate: every EK certificate will be rejected');
  let adminToken = process.env['BTN_ADMIN_TOKEN'];
  if (a['admin-token-file'] !== undefined) adminToken = (await readFile(a['admin-token-file'], 'utf8')).trim();
  if (adminToken !== undefined && adminToken.length < 16) throw new UsageError('the operator token must be at least 16 characters');
  const store = await openStore(a.db ?? DEFAULT_STORE_URL);
  const server = await startRegistrar({
    store, rootKey, trust, logger: log, port, host: a.host ?? '127.0.0.1', ...(adminToken === undefined ? {} : { adminToken }),
  });
  log.info({ url: server.url, store: store.kind, trustedCas: trust.size, rootPublicKey: toHex(rootKey.publicKey), httpRevocation: adminToken !== undefined }, 'registrar listening');
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  log.info('shutting down');
  await server.close();
  await store.close();
  return 0;
}
