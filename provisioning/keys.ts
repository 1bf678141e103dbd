// Ed25519 keys (root and manufacturers) through node:crypto, and the key file format.
// node:crypto verifies Ed25519 about 10x faster than @noble/curves here (test/bench/chain.bench.ts).
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmod, open } from 'node:fs/promises';
import { ProvisioningError } from './errors.ts';
import { fromHex, toHex } from '../firmware/core/bytes.ts';
import { hexText, JsonError, literal, object, optional, parseJson, readWith, string } from '../firmware/core/json.ts';
import { readPrivateFile } from '../firmware/core/private-file.ts';

// RFC 8410 DER prefixes: a raw 32-byte key or seed completes the structure.
const SPKI_PREFIX = fromHex('302a300506032b6570032100');
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');

export const KEY_FILE_FORMAT = 'btn-ed25519-key/v1';

export interface Ed25519Key {
  /** 32-byte public key. */
  readonly publicKey: Uint8Array;
  readonly privateKeyObject: KeyObject;
  readonly publicKeyObject: KeyObject;
}

export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', 'Ed25519 public key must be 32 bytes', 'publicKey');
  }
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

export function ed25519FromSeed(seed: Uint8Array): Ed25519Key {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', 'Ed25519 private key seed must be 32 bytes', 'privateKey');
  }
  const privateKeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKeyObject = createPublicKey(privateKeyObject);
  const spki = publicKeyObject.export({ format: 'der', type: 'spki' });
  return { publicKey: new Uint8Array(spki.subarray(spki.length - 32)), privateKeyObject, publicKeyObject };
}

export function generateEd25519(): { key: Ed25519Key; seed: Uint8Array } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = new Uint8Array(der.subarray(der.length - 32));
  return { key: ed25519FromSeed(seed), seed };
}

export function ed25519Sign(key: Ed25519Key, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, key.privateKeyObject));
}

/** false (never a throw) for a wrong signature or malformed input: the chain's verifier, also used by clerks. */
export { ed25519Verify } from '../firmware/protocol/chain/transaction.ts';

const MAX_KEY_FILE_BYTES = 4096;
// Open (exact: false): operators keep key files by hand and may note things in them; the public
// key is optional (derived from the seed) and checked when given.
const keyFile = object({
  format: literal(KEY_FILE_FORMAT),
  privateKey: hexText({ bytes: 32, lowercase: true }),
  publicKey: optional(string({ max: 128 })),
}, { exact: false });

export function parseKeyFile(text: string, path = 'key file'): { key: Ed25519Key; seed: Uint8Array } {
  let doc: unknown;
  try {
    doc = parseJson(text, MAX_KEY_FILE_BYTES, path);
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_KEY_FILE', err instanceof JsonError && err.code === 'ERR_JSON_OVERSIZE' ? err.message : `${path} is not JSON`);
  }
  const d = readWith(keyFile, doc, path, (err) => new ProvisioningError('ERR_PROV_KEY_FILE', err.path === `${path}.format` ? `${path} is not a ${KEY_FILE_FORMAT} key file` : err.message));
  const seed = fromHex(d.privateKey);
  const key = ed25519FromSeed(seed);
  if (d.publicKey !== undefined && d.publicKey !== toHex(key.publicKey)) {
    throw new ProvisioningError('ERR_PROV_KEY_FILE', `${path}: publicKey does not belong to privateKey`);
  }
  return { key, seed };
}

/** A key file the owner alone can read (a private key left 0644 is refused, with the chmod to run). */
export async function readKeyFile(path: string): Promise<Ed25519Key> {
  let text: string;
  try {
    text = await readPrivateFile(path, { what: 'key file', maxBytes: MAX_KEY_FILE_BYTES });
  } catch (err) {
    throw new ProvisioningError('ERR_PROV_KEY_FILE', (err as Error).message);
  }
  return parseKeyFile(text, path).key;
}

/** Write a new key file with mode 0600; refuses to overwrite an existing file. */
export async function writeKeyFile(path: string, seed: Uint8Array): Promise<Ed25519Key> {
  const key = ed25519FromSeed(seed);
  const body = JSON.stringify({
    format: KEY_FILE_FORMAT,
    publicKey: toHex(key.publicKey),
    privateKey: toHex(seed),
  }) + '\n';
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ProvisioningError('ERR_PROV_KEY_FILE', code === 'EEXIST' ? `${path} exists already; not overwriting a key` : `cannot create ${path}: ${code ?? 'error'}`);
  }
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(path, 0o600); // the umask may have narrowed it further, never widened; make it exact
  return key;
}

export function parseHexKey(text: string, field = 'publicKey'): Uint8Array {
  if (typeof text !== 'string' || !/^[0-9a-f]{64}$/.test(text.toLowerCase())) {
    throw new ProvisioningError('ERR_PROV_INVALID_ARGUMENT', `${field} must be 64 hex digits (a 32-byte Ed25519 public key)`, field);
  }
  return fromHex(text);
}
