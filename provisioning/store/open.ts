// Store chosen by URL: `sqlite:PATH` (the default) or `postgres://...` / `postgresql://...`.
import { ProvisioningError } from '../errors.ts';
import type { ProvisioningStore } from './types.ts';

export const DEFAULT_STORE_URL = 'sqlite:provisioning.db';

export async function openStore(url: string = DEFAULT_STORE_URL, options: { schema?: string } = {}): Promise<ProvisioningStore> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path.length === 0) throw new ProvisioningError('ERR_PROV_STORE_URL', 'sqlite: URL needs a path, e.g. sqlite:/var/lib/btn/provisioning.db');
    // Loaded on demand: each driver is a native or server-only package (never in the device image), so a
    // registrar that uses one store does not need the other installed.
    const { openSqliteStore } = await import('./sqlite.ts').catch((err: unknown) => missingDriver('better-sqlite3', err));
    return openSqliteStore(path);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { openPostgresStore } = await import('./postgres.ts').catch((err: unknown) => missingDriver('pg', err));
    return openPostgresStore(url, options);
  }
  throw new ProvisioningError('ERR_PROV_STORE_URL', `store URL must start with sqlite: or postgres:// (got "${url.slice(0, 20)}...")`);
}

function missingDriver(pkg: string, err: unknown): never {
  const code = (err as { code?: string }).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    throw new ProvisioningError('ERR_PROV_STORE_URL', `the ${pkg} package is not installed: the registrar needs it for this store URL (npm ci installs it)`);
  }
  throw err;
}
