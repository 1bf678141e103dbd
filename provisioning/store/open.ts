// Store chosen by URL: `sqlite:PATH` (the default) or `postgres://...` / `postgresql://...`.
import { ProvisioningError } from '../errors.ts';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { ProvisioningStore } from './types.ts';

export const DEFAULT_STORE_URL = 'sqlite:provisioning.db';

export async function openStore(url: string = DEFAULT_STORE_URL, options: { schema?: string } = {}): Promise<ProvisioningStore> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path.length === 0) throw new ProvisioningError('ERR_PROV_STORE_URL', 'sqlite: URL needs a path, e.g. sqlite:/var/lib/btn/provisioning.db');
    return openSqliteStore(path);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return openPostgresStore(url, options);
  throw new ProvisioningError('ERR_PROV_STORE_URL', `store URL must start with sqlite: or postgres:// (got "${url.slice(0, 20)}...")`);
}
