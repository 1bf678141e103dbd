// btn-provision manifest sign --body FILE --out FILE --root-key FILE [--current FILE] [--publish URL] [--token-file FILE]
// btn-provision manifest publish --manifest FILE --url URL [--token-file FILE]
// The root signs the network manifest with the key its registrar serves with; a body is signed
// only if it may follow the current manifest (given as a file, or fetched from --publish URL) by
// the protocol's own rules (verifyManifest), so a node would never refuse what the root signs.
import { writeFileAtomic } from '../../firmware/core/atomic-write.ts';
import { fromHex, toHex } from '../../firmware/core/bytes.ts';
import { anyObject, JsonError } from '../../firmware/core/json.ts';
import {
  MAX_MANIFEST_BYTES, manifestMessage, signManifest, verifyManifest, type ManifestBody, type NetworkManifest, type SignedManifest,
} from '../../firmware/protocol/network-manifest.ts';
import type { ManifestPublishResponse, ManifestResponse } from '../../firmware/protocol/registrar-api/index.ts';
import { ProvisioningError } from '../errors.ts';
import { readKeyFile, type Ed25519Key } from '../keys.ts';
import { manifestRefusal } from '../server/network-manifest.ts';
import { parse, printJson, required, UsageError } from './args.ts';
import { readJsonFile, readManifestBody } from './manifest-body.ts';
import { callRegistrar, operatorToken, registrarAt } from './registrar-call.ts';

const USAGE = `usage: btn-provision manifest sign --body FILE --out FILE --root-key FILE [--current FILE] [--publish URL] [--token-file FILE]
       btn-provision manifest publish --manifest FILE --url URL [--token-file FILE]
The current manifest is --current FILE, else the one published at --publish URL (none: the first).`;

export async function manifestCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'sign') return sign(rest);
  if (sub === 'publish') return publish(rest);
  throw new UsageError(USAGE);
}

async function sign(argv: readonly string[]): Promise<number> {
  const a = parse(argv, {
    body: { type: 'string' }, out: { type: 'string' }, 'root-key': { type: 'string' }, current: { type: 'string' },
    publish: { type: 'string' }, 'token-file': { type: 'string' },
  }, USAGE);
  const bodyPath = required(a.body, '--body', USAGE);
  const out = required(a.out, '--out', USAGE);
  const key = await readKeyFile(required(a['root-key'], '--root-key', USAGE));
  const client = a.publish === undefined ? null : registrarAt(a.publish, USAGE);
  const token = client === null ? null : await operatorToken(a['token-file'], 'publishing', USAGE);
  const body = await readManifestBody(bodyPath);

  let raw: ManifestResponse | null = null;
  let source = '';
  if (a.current !== undefined) {
    source = a.current;
    raw = await readJsonFile(a.current, MAX_MANIFEST_BYTES, 'current manifest', anyObject({ maxKeys: 64 }));
  } else if (client !== null) {
    source = client.url.href;
    const got = await callRegistrar(async () => ({ manifest: await client.fetchManifest() }));
    if (got === null) return 1;
    raw = got.manifest;
  }
  const current = raw === null ? null : currentManifest(raw, key, body.network, source);
  const signed = signChecked(body, key, current);
  await writeFileAtomic(out, JSON.stringify(signed) + '\n', { mode: 0o644 });

  let published: ManifestPublishResponse | null = null;
  if (client !== null && token !== null) {
    published = await callRegistrar(() => client.publishManifest(signed, token));
    if (published === null) return 1;
  }
  printJson({ out, network: signed.network, version: signed.version, validFrom: signed.validFrom, signature: signed.signature, current: current?.version ?? null, published });
  return 0;
}

/**
 * The manifest in force, verified under the same root key, or under the key that announced this
 * one (a rotation's first manifest under the new key): signing on top of a forged one would be
 * worse than none.
 */
function currentManifest(raw: ManifestResponse, key: Ed25519Key, network: string, source: string): NetworkManifest {
  const anchors = [key.publicKey];
  const r = (raw as { rootRotation?: { previous?: unknown; next?: unknown } }).rootRotation;
  if (typeof r?.previous === 'string' && /^[0-9a-f]{64}$/.test(r.previous) && r.next === toHex(key.publicKey)) anchors.push(fromHex(r.previous));
  try {
    return verifyManifest(raw, anchors, network);
  } catch (err) {
    throw manifestRefusal(err, `current manifest (${source}): `);
  }
}

function signChecked(body: ManifestBody, key: Ed25519Key, current: NetworkManifest | null): SignedManifest {
  let signed: SignedManifest;
  try {
    signed = signManifest(body, key.privateKeyObject);
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `manifest body: ${err.message}`, err.path === '' ? undefined : err.path);
  }
  // verifyManifest takes the held version again (the same manifest); a new one must be above it.
  if (current !== null && signed.version <= current.version) {
    throw new ProvisioningError('ERR_PROV_MANIFEST_SUCCESSION', `manifest version ${signed.version} is not above version ${current.version} in force`, 'version');
  }
  try {
    verifyManifest(signed, key.publicKey, body.network, current);
  } catch (err) {
    throw manifestRefusal(err);
  }
  return signed;
}

async function publish(argv: readonly string[]): Promise<number> {
  const a = parse(argv, { manifest: { type: 'string' }, url: { type: 'string' }, 'token-file': { type: 'string' } }, USAGE);
  const path = required(a.manifest, '--manifest', USAGE);
  const client = registrarAt(required(a.url, '--url', USAGE), USAGE);
  const token = await operatorToken(a['token-file'], 'publishing', USAGE);
  const raw = await readJsonFile(path, MAX_MANIFEST_BYTES, 'manifest', anyObject({ maxKeys: 64 }));
  let signed: SignedManifest;
  try {
    signed = manifestMessage.read(raw);
  } catch (err) {
    throw manifestRefusal(err, `manifest ${path}: `);
  }
  const published = await callRegistrar(() => client.publishManifest(signed, token));
  if (published === null) return 1;
  printJson(published);
  return 0;
}
