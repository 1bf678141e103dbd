// Update signing keys made with openssl: a CA (its certificate is the images' RAUC keyring) and a
// signing key with its certificate from that CA (what signs bundles). For tests and development
// only: a manufacturer makes and keeps the real ones on an offline machine (README.md).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Development keys for `npm run image` and `npm run update-bundle` when no others are given; never committed (image-build/out). */
export const DEV_KEYS_DIR = join(ROOT, 'image-build/out/dev-keys');

export interface SigningKeys {
  /** The CA certificate: what an image's keyring holds. */
  readonly caCert: string;
  readonly caKey: string;
  /** The signing certificate (issued by the CA) and its key: what `rauc bundle` signs with. */
  readonly cert: string;
  readonly key: string;
}

export function signingKeyPaths(dir: string): SigningKeys {
  return { caCert: join(dir, 'ca.cert.pem'), caKey: join(dir, 'ca.key.pem'), cert: join(dir, 'signing.cert.pem'), key: join(dir, 'signing.key.pem') };
}

/** A fresh CA and signing key in dir (P-256); name goes into the certificates' subjects. */
export async function makeSigningKeys(dir: string, name: string): Promise<SigningKeys> {
  if (!/^[A-Za-z0-9 ._-]{1,64}$/.test(name)) throw new Error(`signing key name must be 1..64 of [A-Za-z0-9 ._-], got ${JSON.stringify(name.slice(0, 80))}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const k = signingKeyPaths(dir);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', k.caKey, '-out', k.caCert, '-days', '7300', '-subj', `/CN=${name} update CA`]);
  const csr = join(dir, 'signing.csr');
  const ext = join(dir, 'signing.ext');
  await run('openssl', ['req', ...ec, '-keyout', k.key, '-out', csr, '-subj', `/CN=${name} update signing`]);
  await writeFile(ext, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', k.caCert, '-CAkey', k.caKey, '-CAcreateserial', '-out', k.cert, '-days', '3650', '-extfile', ext]);
  return k;
}

/** The development keys, made on first use. */
export async function devSigningKeys(log: (line: string) => void): Promise<SigningKeys> {
  const k = signingKeyPaths(DEV_KEYS_DIR);
  if (existsSync(k.caCert) && existsSync(k.key) && existsSync(k.cert)) return k;
  log(`no update keys given: making development keys in ${DEV_KEYS_DIR} (not for devices in the field)`);
  return makeSigningKeys(DEV_KEYS_DIR, 'btn-node development');
}
