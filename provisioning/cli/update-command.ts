// btn-provision update announce --root-key FILE --network N --board B --version V --url URL --bundle FILE
//                              [--window-hours H] [--out FILE] [--broker URL --broker-user U --broker-password-file F [--broker-ca F] [--topic-prefix P]]
// The fleet's update: the root key signs which version, for which board, where the bundle is, its
// SHA-256 and size (read from the bundle file), and the window over which nodes spread their
// installs; with --broker it goes out retained on <prefix>/updates (the root's account may publish
// there, nobody else may).
import { readFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import { writeFileAtomic } from '../../firmware/core/atomic-write.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { topicsFor } from '../../firmware/protocol/topics.ts';
import { MAX_UPDATE_WINDOW_MS, UPDATE_FORMAT, updateAnnouncementShape, updateSignedBytes, type UnsignedAnnouncement, type UpdateAnnouncement } from '../../firmware/protocol/update-announcement.ts';
import { sha256OfFile } from '../../firmware/core/file-hash.ts';
import { ed25519Sign, readKeyFile, type Ed25519Key } from '../keys.ts';
import { ProvisioningError } from '../errors.ts';
import { boundedInt, parse, printJson, required, UsageError } from './args.ts';

const USAGE = `usage: btn-provision update announce --root-key FILE --network NAME --board BOARD --version V --url URL --bundle FILE
         [--window-hours H] [--out FILE] [--broker mqtts://HOST:PORT --broker-user USER --broker-password-file FILE [--broker-ca FILE] [--topic-prefix P]]
  --board BOARD   the boards the bundle is for (its RAUC compatible is btn-node-BOARD)
  --url URL       where nodes download the bundle (http or https)
  --bundle FILE   the bundle itself: its SHA-256 and size go into the signed announcement
  --window-hours  nodes install at a moment of their own within this many hours (0..168, default 24)
  --broker ...    publish it retained on <prefix>/updates with the root's broker account`;

export async function updateCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'announce') throw new UsageError(`unknown update command ${JSON.stringify((sub ?? '').slice(0, 40))}\n${USAGE}`);
  const a = parse(rest, {
    'root-key': { type: 'string' }, network: { type: 'string' }, board: { type: 'string' }, version: { type: 'string' }, url: { type: 'string' },
    bundle: { type: 'string' }, 'window-hours': { type: 'string' }, out: { type: 'string' },
    broker: { type: 'string' }, 'broker-user': { type: 'string' }, 'broker-password-file': { type: 'string' }, 'broker-ca': { type: 'string' }, 'topic-prefix': { type: 'string' },
  }, USAGE);
  const key = await readKeyFile(required(a['root-key'], '--root-key', USAGE));
  const bundle = await sha256OfFile(required(a.bundle, '--bundle', USAGE)).catch((err: unknown) => {
    throw new UsageError(`--bundle: ${(err as Error).message}\n${USAGE}`);
  });
  const windowMs = boundedInt(a['window-hours'], 'window-hours', { min: 0, max: MAX_UPDATE_WINDOW_MS / 3600_000, fallback: 24 }, USAGE) * 3600_000;
  const signed = signAnnouncement(key, {
    network: required(a.network, '--network', USAGE), version: required(a.version, '--version', USAGE), compatible: `btn-node-${required(a.board, '--board', USAGE)}`,
    url: required(a.url, '--url', USAGE), sha256: bundle.sha256, size: bundle.size, issuedAt: Date.now(), windowMs,
  });
  if (a.out !== undefined) await writeFileAtomic(a.out, JSON.stringify(signed) + '\n', { mode: 0o644 });
  let published = false;
  if (a.broker !== undefined) {
    const password = (await readFile(required(a['broker-password-file'], '--broker-password-file', USAGE), 'utf8')).trim();
    const ca = a['broker-ca'] === undefined ? undefined : await readFile(a['broker-ca'], 'utf8');
    const client = await mqtt.connectAsync(a.broker, { username: required(a['broker-user'], '--broker-user', USAGE), password, ...(ca === undefined ? {} : { ca }), reconnectPeriod: 0, connectTimeout: 10_000 });
    try {
      await client.publishAsync(topicsFor(a['topic-prefix']).updates, JSON.stringify(signed), { qos: 1, retain: true });
      published = true;
    } finally {
      await client.endAsync();
    }
  }
  printJson({ ...signed, out: a.out ?? null, published });
  return 0;
}

/** The announcement signed with the root key; its fields are checked as a node will read them. */
export function signAnnouncement(key: Ed25519Key, fields: UnsignedAnnouncement): UpdateAnnouncement {
  const signed = { format: UPDATE_FORMAT, ...fields, signature: toHex(ed25519Sign(key, updateSignedBytes(fields))) };
  try {
    return updateAnnouncementShape.read(signed, 'announcement') as UpdateAnnouncement;
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', (err as Error).message);
  }
}
