// The set of known primary nodes (clerks), keyed by their RSA SPKI DER bytes. A block names its
// clerk's key, but only a key already in this set is ever used to verify (docs/lottery.md: a
// ticket is unique only under a key the verifier already trusts).
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { toHex } from '../../core/bytes.ts';
import { ChainError } from './errors.ts';
import { MAX_CLERK_KEY_BYTES } from './block.ts';
import { spkiOf } from '../identity.ts';

export interface KnownPrimaries {
  /** The trusted key object for these SPKI DER bytes, or undefined when not a known primary. */
  get(spkiDer: Uint8Array): KeyObject | undefined;
  readonly size: number;
}

export class PrimaryKeySet implements KnownPrimaries {
  private readonly keys = new Map<string, KeyObject>();

  /** Each key as SPKI DER bytes, a PEM string, or a node:crypto KeyObject; RSA only. */
  constructor(keys: Iterable<Uint8Array | string | KeyObject> = []) {
    for (const k of keys) this.add(k);
  }

  add(key: Uint8Array | string | KeyObject): Uint8Array {
    let object: KeyObject;
    try {
      object = key instanceof Uint8Array
        ? createPublicKey({ key: Buffer.from(key), format: 'der', type: 'spki' })
        : typeof key === 'string' ? createPublicKey(key) : key.type === 'public' ? key : createPublicKey(key);
    } catch (cause) {
      throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', 'primary key is not a public key', 'primaries', { cause });
    }
    if (object.asymmetricKeyType !== 'rsa') {
      throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', `primary key must be RSA, got ${object.asymmetricKeyType ?? 'unknown'}`, 'primaries');
    }
    const der = spkiOf(object);
    this.keys.set(toHex(der), object);
    return der;
  }

  get(spkiDer: Uint8Array): KeyObject | undefined {
    if (spkiDer.length > MAX_CLERK_KEY_BYTES) return undefined;
    return this.keys.get(toHex(spkiDer));
  }

  get size(): number {
    return this.keys.size;
  }
}


/** RSASSA-PKCS1-v1_5 with SHA-256; false (never a throw) on any failure. */
export function rsaVerify(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return nodeVerify('sha256', message, key, signature);
  } catch {
    return false;
  }
}
