// btn-provision trust list|bundle:
//   list: every certificate of a trust directory (and of a signed vendor CA bundle) with what
//   the registrar loads it as (root, anchor, duplicate, ignored), why, and where it came from, so
//   an operator sees before starting `serve` which vendors' TPMs it will accept.
//   bundle: a signed, versioned vendor CA bundle of CA certificate files, for releases.
import { parseArgs } from 'node:util';
import { open } from 'node:fs/promises';
import { writeFileAtomic } from '../../firmware/core/atomic-write.ts';
import { parseHexKey, readKeyFile } from '../keys.ts';
import { TrustStore } from '../manifest/trust.ts';
import { makeVendorBundle, MAX_BUNDLE_CERTIFICATES, readVendorBundle, type LoadedBundle } from '../manifest/vendor-bundle.ts';
import { ProvisioningError } from '../errors.ts';
import { parse, required, UsageError } from './args.ts';

const USAGE = `usage:
  btn-provision trust list --trust DIR [--vendor-ca-bundle FILE --vendor-ca-key HEX] [--json]
  btn-provision trust bundle --out FILE --key KEYFILE --version N CERT.pem...`;
const MAX_CERT_FILE_BYTES = 1024 * 1024;

export async function trustCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'bundle') return bundleCommand(rest);
  if (sub !== 'list') throw new UsageError(USAGE);
  const a = parse(rest, { trust: { type: 'string' }, json: { type: 'boolean' }, 'vendor-ca-bundle': { type: 'string' }, 'vendor-ca-key': { type: 'string' } }, USAGE);
  const bundle = await vendorBundleOption(a['vendor-ca-bundle'], a['vendor-ca-key'], USAGE);
  const store = await TrustStore.fromDirectory(required(a.trust, '--trust', USAGE), bundle === null ? [] : [bundle.source]);
  if (a.json === true) {
    for (const e of store.entries) process.stdout.write(`${JSON.stringify(e)}\n`);
    return 0;
  }
  for (const e of store.entries) process.stdout.write(`${e.role.padEnd(9)} ${e.subject}\n          ${e.why}; from ${e.source}; valid until ${e.notAfter.slice(0, 10)}; sha256 ${e.sha256.slice(0, 16)}...\n`);
  const count = (role: string): number => store.entries.filter((e) => e.role === role).length;
  process.stdout.write(`${store.size} CA certificates trusted (${count('root')} self-signed roots, ${count('anchor')} anchors that are not self-signed); ${count('duplicate')} duplicates, ${count('ignored')} ignored\n`);
  return 0;
}

/** The verified bundle of --vendor-ca-bundle (with its release key), or null without one. */
export async function vendorBundleOption(path: string | undefined, keyHex: string | undefined, usage: string): Promise<LoadedBundle | null> {
  if (path === undefined) {
    if (keyHex !== undefined) throw new UsageError(`--vendor-ca-key is only used with --vendor-ca-bundle\n${usage}`);
    return null;
  }
  if (keyHex === undefined) throw new UsageError(`--vendor-ca-bundle needs --vendor-ca-key HEX, the release key that signed it\n${usage}`);
  return readVendorBundle(path, parseHexKey(keyHex, '--vendor-ca-key'));
}

async function bundleCommand(argv: readonly string[]): Promise<number> {
  let values: { out?: string; key?: string; version?: string };
  let files: string[];
  try {
    const p = parseArgs({ args: [...argv], options: { out: { type: 'string' }, key: { type: 'string' }, version: { type: 'string' } }, allowPositionals: true, strict: true });
    values = p.values;
    files = p.positionals;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const out = required(values.out, '--out', USAGE);
  const versionText = required(values.version, '--version', USAGE);
  if (!/^[1-9]\d{0,14}$/.test(versionText)) throw new UsageError(`--version must be a whole number from 1, above the last released bundle's\n${USAGE}`);
  if (files.length === 0) throw new UsageError(`at least one certificate file is required\n${USAGE}`);
  if (files.length > MAX_BUNDLE_CERTIFICATES) throw new UsageError(`at most ${MAX_BUNDLE_CERTIFICATES} certificate files`);
  const key = await readKeyFile(required(values.key, '--key', USAGE));
  const pemTexts: { name: string; text: string }[] = [];
  for (const name of files) pemTexts.push({ name, text: await readBounded(name) });
  const bundle = makeVendorBundle({ version: Number(versionText), created: new Date(), pemTexts, key });
  await writeFileAtomic(out, `${JSON.stringify(bundle, null, 1)}\n`);
  process.stdout.write(`${out}: vendor CA bundle version ${bundle.version}, ${bundle.certificates.length} certificates, signed by ${Buffer.from(key.publicKey).toString('hex')}\n`);
  return 0;
}

async function readBounded(path: string): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_CERT_FILE_BYTES) throw new ProvisioningError('ERR_PROV_BUNDLE_INVALID', `${path} is ${size} bytes, more than ${MAX_CERT_FILE_BYTES}`);
      return await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof ProvisioningError) throw err;
    throw new ProvisioningError('ERR_PROV_BUNDLE_INVALID', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
