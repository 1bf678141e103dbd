// btn-provision nodes list --db URL [--state filed|active|revoked] [--limit N] [--after NODE_ID]
import { DEFAULT_STORE_URL, openStore } from '../store/open.ts';
import { DEVICE_STATES, type DeviceState } from '../store/types.ts';
import { parse, printJson, UsageError } from './args.ts';

const USAGE = 'usage: btn-provision nodes list --db URL [--state filed|active|revoked] [--limit N] [--after NODE_ID]';

export async function nodesCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'list') throw new UsageError(USAGE);
  const a = parse(rest, { db: { type: 'string' }, state: { type: 'string' }, limit: { type: 'string' }, after: { type: 'string' } }, USAGE);
  if (a.state !== undefined && !(DEVICE_STATES as readonly string[]).includes(a.state)) throw new UsageError(`--state must be one of ${DEVICE_STATES.join(', ')}\n${USAGE}`);
  const limit = a.limit === undefined ? 1000 : Number(a.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError(`--limit must be 1..100000\n${USAGE}`);
  const store = await openStore(a.db ?? DEFAULT_STORE_URL);
  try {
    const rows = await store.listDevices({
      limit,
      ...(a.state === undefined ? {} : { state: a.state as DeviceState }),
      ...(a.after === undefined ? {} : { after: a.after }),
    });
    printJson(rows.map((d) => ({
      nodeId: d.nodeId, state: d.state, serial: d.serial, board: d.board, manufacturer: d.manufacturer, batchId: d.batchId,
      filedAt: new Date(d.filedAt).toISOString(), activatedAt: d.activatedAt === null ? null : new Date(d.activatedAt).toISOString(),
      revokedAt: d.revokedAt === null ? null : new Date(d.revokedAt).toISOString(),
    })));
  } finally {
    await store.close();
  }
  return 0;
}
