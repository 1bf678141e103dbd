// btn-provision root rotate --root-key FILE --next-root-key FILE --url URL [--token-file FILE] [--from ISO] [--overlap-days N] [--out FILE]
// Announces the root's next key: the manifest published at URL, one version up, with the next key
// and its overlap window, signed by the current root key and published. The next key file is made
// (mode 0600) when it does not exist yet; an existing one is used, and refused when others can
// read it. Start (or restart) the registrar with --next-root-key FILE before the window opens:
// from then on it signs registrations with the new key, and nodes renew under it.
import { writeFileAtomic } from '../../firmware/core/atomic-write.ts';
import { toHex } from '../../firmware/core/bytes.ts';
import { signManifest, verifyManifest, type ManifestBody, type NetworkManifest, type SignedManifest } from '../../firmware/protocol/network-manifest.ts';
import { MAX_ROOT_OVERLAP_MS, MIN_ROOT_OVERLAP_MS } from '../../firmware/protocol/root-keys.ts';
import { ProvisioningError } from '../errors.ts';
import { generateEd25519, readKeyFile, writeKeyFile, type Ed25519Key } from '../keys.ts';
import { manifestRefusal } from '../server/network-manifest.ts';
import { parse, printJson, required, UsageError } from './args.ts';
import { callRegistrar, operatorToken, registrarAt } from './registrar-call.ts';

const DAY_MS = 24 * 3600_000;
/** The window's default: a day's notice before it opens, then 30 days (the renewal lead) of overlap. */
const DEFAULT_NOTICE_MS = DAY_MS;
const DEFAULT_OVERLAP_DAYS = 30;

const USAGE = `usage: btn-provision root rotate --root-key FILE --next-root-key FILE --url URL [--token-file FILE] [--from ISO-TIME] [--overlap-days N] [--out FILE]
  --root-key FILE       the root key in force (signs the announcement)
  --next-root-key FILE  the next root key; made (mode 0600) when the file does not exist
  --from ISO-TIME       when the new key starts signing (default: in one day)
  --overlap-days N      how long the old key still counts after --from (${MIN_ROOT_OVERLAP_MS / DAY_MS}..${MAX_ROOT_OVERLAP_MS / DAY_MS}, default ${DEFAULT_OVERLAP_DAYS})
  --out FILE            also write the signed manifest there`;

export async function rootCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'rotate') return rotate(rest);
  throw new UsageError(USAGE);
}

async function rotate(argv: readonly string[]): Promise<number> {
  const a = parse(argv, {
    'root-key': { type: 'string' }, 'next-root-key': { type: 'string' }, url: { type: 'string' }, 'token-file': { type: 'string' },
    from: { type: 'string' }, 'overlap-days': { type: 'string' }, out: { type: 'string' },
  }, USAGE);
  const root = await readKeyFile(required(a['root-key'], '--root-key', USAGE));
  const nextPath = required(a['next-root-key'], '--next-root-key', USAGE);
  const client = registrarAt(required(a.url, '--url', USAGE), USAGE);
  const token = await operatorToken(a['token-file'], 'publishing', USAGE);
  const now = Date.now();
  const from = a.from === undefined ? now + DEFAULT_NOTICE_MS : Date.parse(a.from);
  if (!Number.isFinite(from)) throw new UsageError(`--from must be an ISO-8601 time\n${USAGE}`);
  const days = a['overlap-days'] === undefined ? DEFAULT_OVERLAP_DAYS : Number(a['overlap-days']);
  if (!Number.isFinite(days) || days * DAY_MS < MIN_ROOT_OVERLAP_MS || days * DAY_MS > MAX_ROOT_OVERLAP_MS) {
    throw new UsageError(`--overlap-days must be ${MIN_ROOT_OVERLAP_MS / DAY_MS}..${MAX_ROOT_OVERLAP_MS / DAY_MS}\n${USAGE}`);
  }
  const got = await callRegistrar(async () => ({ manifest: await client.fetchManifest() }));
  if (got === null) return 1;
  if (got.manifest === null) throw new ProvisioningError('ERR_PROV_NOT_FOUND', `${client.url.href} serves no network manifest yet: publish one before rotating its root key`);
  const current = currentManifest(got.manifest, root, now);
  const next = await nextKey(nextPath);
  const signed = announce(current, root, next, { from, until: from + Math.round(days * DAY_MS) }, now);
  if (a.out !== undefined) await writeFileAtomic(a.out, JSON.stringify(signed) + '\n', { mode: 0o644 });
  const published = await callRegistrar(() => client.publishManifest(signed, token));
  if (published === null) return 1;
  printJson({
    network: signed.network, version: signed.version, previous: toHex(root.publicKey), next: toHex(next.publicKey),
    from: new Date(signed.rootRotation!.from).toISOString(), until: new Date(signed.rootRotation!.until).toISOString(), published,
  });
  return 0;
}

/** The manifest in force, signed by the root key given: only that key may announce its successor. */
function currentManifest(raw: unknown, root: Ed25519Key, now: number): NetworkManifest {
  try {
    const m = verifyManifest(raw, root.publicKey, (raw as { network: string }).network, null, now);
    if (m.rootKeys.rotation !== null && now <= m.rootKeys.rotation.until) {
      throw new ProvisioningError('ERR_PROV_MANIFEST_SUCCESSION', `the manifest in force already announces root key ${m.rootKeys.rotation.next.slice(0, 16)}… until ${new Date(m.rootKeys.rotation.until).toISOString()}; a window holds until it ends`);
    }
    return m;
  } catch (err) {
    throw manifestRefusal(err, 'current manifest (not signed by --root-key?): ');
  }
}

async function nextKey(path: string): Promise<Ed25519Key> {
  const { seed } = generateEd25519();
  try {
    return await writeKeyFile(path, seed);
  } catch (err) {
    // An existing file is the operator's prepared key: read it as serve would (owner-only).
    if (!(err instanceof ProvisioningError) || !err.message.includes('exists already')) throw err;
    return readKeyFile(path);
  } finally {
    seed.fill(0);
  }
}

function announce(current: NetworkManifest, root: Ed25519Key, next: Ed25519Key, window: { from: number; until: number }, now: number): SignedManifest {
  const { format: _format, signature: _signature, ...body } = current.signed;
  const nextBody: ManifestBody = {
    ...body, version: current.version + 1, validFrom: now,
    rootRotation: { previous: toHex(root.publicKey), next: toHex(next.publicKey), from: window.from, until: window.until },
  };
  try {
    const signed = signManifest(nextBody, root.privateKeyObject);
    // A node applies this very check: what the root publishes, every node holding `current` takes.
    verifyManifest(signed, root.publicKey, current.signed.network, current, now);
    return signed;
  } catch (err) {
    throw manifestRefusal(err, 'announcement: ');
  }
}
