// btn-provision manufacturer add --db URL --name NAME --public-key HEX | list --db URL
import { parseHexKey } from '../keys.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { checkManufacturerName } from '../manifest/signature.ts';
import { DEFAULT_STORE_URL, openStore } from '../store/open.ts';
import { parse, printJson, required, UsageError } from './args.ts';

const USAGE = 'usage: btn-provision manufacturer add --db URL --name NAME --public-key HEX\n       btn-provision manufacturer list --db URL';

export async function manufacturerCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'add') {
    const a = parse(rest, { db: { type: 'string' }, name: { type: 'string' }, 'public-key': { type: 'string' } }, USAGE);
    const name = checkManufacturerName(required(a.name, '--name', USAGE), 'name');
    const publicKey = parseHexKey(required(a['public-key'], '--public-key', USAGE), 'public-key');
    const store = await openStore(a.db ?? DEFAULT_STORE_URL);
    try {
      const outcome = await store.addManufacturer({ name, publicKey, createdAt: Date.now() });
      printJson({ name, publicKey: toHex(publicKey), outcome });
    } finally {
      await store.close();
    }
    return 0;
  }
  if (sub === 'list') {
    const a = parse(rest, { db: { type: 'string' } }, USAGE);
    const store = await openStore(a.db ?? DEFAULT_STORE_URL);
    try {
      printJson((await store.listManufacturers()).map((m) => ({ name: m.name, publicKey: toHex(m.publicKey), createdAt: new Date(m.createdAt).toISOString() })));
    } finally {
      await store.close();
    }
    return 0;
  }
  throw new UsageError(USAGE);
}
