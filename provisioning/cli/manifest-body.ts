// The unsigned network manifest an operator writes for `btn-provision manifest sign --body FILE`:
// the fields the root signs (network-manifest.ts, read by its own field readers), except that a
// primary may be given as {"pemFile": PATH}, a clerk's RSA public key in PEM (PATH relative to
// the body file), which is turned into the SPKI DER hex the manifest carries.
import { createPublicKey } from 'node:crypto';
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { toHex } from '../../firmware/core/bytes.ts';
import { array, hexText, JsonError, object, parseJson, string, type Reader } from '../../firmware/core/json.ts';
import { spkiOf } from '../../firmware/protocol/identity.ts';
import { MAX_MANIFEST_BYTES, MAX_PRIMARIES, manifestShape, type ManifestBody } from '../../firmware/protocol/network-manifest.ts';
import { ProvisioningError } from '../errors.ts';

/** A PEM public key is a few KiB at most (RSA-16384 is under 3 KiB). */
const MAX_PEM_BYTES = 16 * 1024;

type Primary = { readonly hex: string } | { readonly pemFile: string };

const spkiHex = hexText({ min: 64, max: 2048 });
const pemRef = object({ pemFile: string({ min: 1, max: 4096 }) });
const primary: Reader<Primary> = {
  expects: `${spkiHex.expects} (SPKI DER) or {"pemFile": PATH}`,
  read: (v, path) => (typeof v === 'string' ? { hex: spkiHex.read(v, path) } : pemRef.read(v, path)),
};

const { format: _format, signature: _signature, primaries: _primaries, ...signedFields } = manifestShape.fields;
const bodyFile = object({ ...signedFields, primaries: array(primary, { min: 1, max: MAX_PRIMARIES }) });

/** A file's bytes, refused (without reading it) when it is over `cap`. */
export async function readCappedFile(path: string, cap: number, what: string): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const { size } = await handle.stat();
    if (size > cap) throw new ProvisioningError('ERR_PROV_BODY_TOO_LARGE', `${what} ${path} is ${size} bytes, at most ${cap}`);
    return new Uint8Array(await handle.readFile());
  } finally {
    await handle.close();
  }
}

/** A JSON file read under `cap` and through `reader`; refusals name the file and the field. */
export async function readJsonFile<T>(path: string, cap: number, what: string, reader: Reader<T>): Promise<T> {
  const bytes = await readCappedFile(path, cap, what);
  try {
    return reader.read(parseJson(bytes, cap, `${what} ${path}`), '');
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `${what} ${path}: ${err.message}`, err.path === '' ? undefined : err.path);
  }
}

/** Reads the body file; the manifest's own rules (quorum, duplicates) are checked when it is signed. */
export async function readManifestBody(path: string): Promise<ManifestBody> {
  const body = await readJsonFile(path, MAX_MANIFEST_BYTES, 'manifest body', bodyFile);
  const primaries: string[] = [];
  for (const [i, p] of body.primaries.entries()) {
    primaries.push('hex' in p ? p.hex : await pemPrimary(resolve(dirname(path), p.pemFile), `primaries[${i}].pemFile`));
  }
  return { ...body, primaries };
}

async function pemPrimary(path: string, field: string): Promise<string> {
  const text = Buffer.from(await readCappedFile(path, MAX_PEM_BYTES, 'clerk key')).toString('utf8');
  const refuse = (why: string): ProvisioningError => new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `${field}: ${path} ${why}`, field);
  // A private key would do (its public half is derivable), but it has no business on this machine.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw refuse("holds a private key: give the clerk's public key");
  let key;
  try {
    key = createPublicKey(text);
  } catch {
    throw refuse('is not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw refuse(`holds a ${String(key.asymmetricKeyType)} key, not RSA`);
  return toHex(spkiOf(key));
}
