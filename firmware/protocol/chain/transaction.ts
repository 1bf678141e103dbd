// Transactions: the BTW whitepaper's account model.
//
// Canonical bytes (all integers big-endian, see encoding.ts):
//   body      = u8 type || u32 timestamp (Unix seconds) || senderPublicKey (32, Ed25519)
//               || u64 recipientId || u64 amount || u64 fee                      (61 bytes)
//   signature       = Ed25519(sender, body)                                      (64 bytes)
//   secondSignature = Ed25519(second key, body || signature), optional           (64 bytes)
//   full      = body || signature || u8 hasSecond (0|1) || [secondSignature]     (126 or 190 bytes)
//   id        = SHA-256(full), shown as 64 hex characters
// The id covers the signatures, so the Merkle root (merkle.ts) commits to them too.
// address    = first 8 bytes of SHA-256(publicKey), reversed, read as a u64, in decimal.
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ByteReader, ByteWriter, U64_MAX } from './encoding.ts';
import { fromHex, toHex } from '../../core/bytes.ts';
import { ChainError, malformed } from './errors.ts';
import { hexText, integer, invalid, map, object, optional, refine, string, type Reader } from '../../core/json.ts';
import { hexBytes, readChain, u64Decimal } from './wire.ts';

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SEED_BYTES = 32;
export const TX_BODY_BYTES = 1 + 4 + PUBLIC_KEY_BYTES + 8 + 8 + 8;
export const TX_MAX_BYTES = TX_BODY_BYTES + SIGNATURE_BYTES + 1 + SIGNATURE_BYTES;
/** Without a second signature. */
export const TX_MIN_BYTES = TX_BODY_BYTES + SIGNATURE_BYTES + 1;
/** Generous cap for one transaction's JSON text. */
export const TX_MAX_JSON_BYTES = 1024;

export interface Transaction {
  readonly type: number;
  /** Unix seconds, u32. */
  readonly timestamp: number;
  readonly senderPublicKey: Uint8Array;
  /** u64 address in decimal. */
  readonly recipientId: string;
  readonly amount: bigint;
  readonly fee: bigint;
  readonly signature: Uint8Array;
  readonly secondSignature?: Uint8Array | undefined;
}

export type UnsignedTransaction = Omit<Transaction, 'signature' | 'secondSignature'>;

/** JSON wire form: bytes as lower-case hex, u64 values as decimal strings. */
export interface TransactionJson {
  type: number;
  timestamp: number;
  senderPublicKey: string;
  recipientId: string;
  amount: string;
  fee: string;
  signature: string;
  secondSignature?: string;
  /** Optional on input; when present it must equal the computed id. */
  id?: string;
}

const ADDRESS = /^(0|[1-9][0-9]{0,19})$/;

/** First 8 bytes of SHA-256(publicKey), reversed, read as an unsigned 64-bit integer, in decimal. */
export function addressFromPublicKey(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', `public key must be ${PUBLIC_KEY_BYTES} bytes`, 'publicKey');
  }
  const digest = createHash('sha256').update(publicKey).digest();
  let n = 0n;
  for (let i = 7; i >= 0; i--) n = (n << 8n) | BigInt(digest[i]!);
  return n.toString(10);
}

function addressToU64(address: string, field: string): bigint {
  if (typeof address !== 'string' || !ADDRESS.test(address)) throw malformed(`${field} must be a u64 decimal string`, field);
  const n = BigInt(address);
  if (n > 0xffff_ffff_ffff_ffffn) throw malformed(`${field} exceeds 2^64-1`, field);
  return n;
}

/** The 61 body bytes: what the sender signs. */
export function transactionBody(tx: UnsignedTransaction): Uint8Array {
  return new ByteWriter(TX_BODY_BYTES, TX_BODY_BYTES)
    .u8(tx.type, 'type')
    .u32(tx.timestamp, 'timestamp')
    .fixed(tx.senderPublicKey, PUBLIC_KEY_BYTES, 'senderPublicKey')
    .u64(addressToU64(tx.recipientId, 'recipientId'), 'recipientId')
    .u64(tx.amount, 'amount')
    .u64(tx.fee, 'fee')
    .finish();
}

/** body || signature: what the second signature signs. */
export function secondSignatureMessage(tx: Transaction): Uint8Array {
  return new ByteWriter(TX_BODY_BYTES + SIGNATURE_BYTES).raw(transactionBody(tx)).fixed(tx.signature, SIGNATURE_BYTES, 'signature').finish();
}

export function encodeTransaction(tx: Transaction): Uint8Array {
  const w = new ByteWriter(TX_MAX_BYTES, TX_MAX_BYTES)
    .raw(transactionBody(tx))
    .fixed(tx.signature, SIGNATURE_BYTES, 'signature')
    .u8(tx.secondSignature === undefined ? 0 : 1, 'hasSecondSignature');
  if (tx.secondSignature !== undefined) w.fixed(tx.secondSignature, SIGNATURE_BYTES, 'secondSignature');
  return w.finish();
}

export function decodeTransaction(bytes: Uint8Array): Transaction {
  const r = new ByteReader(bytes, TX_MAX_BYTES, 'transaction');
  const tx = readTransaction(r);
  r.end('transaction');
  return tx;
}

export function readTransaction(r: ByteReader): Transaction {
  const type = r.u8('type');
  const timestamp = r.u32('timestamp');
  const senderPublicKey = r.fixed(PUBLIC_KEY_BYTES, 'senderPublicKey');
  const recipientId = r.u64('recipientId').toString(10);
  const amount = r.u64('amount');
  const fee = r.u64('fee');
  const signature = r.fixed(SIGNATURE_BYTES, 'signature');
  const secondSignature = r.flag('hasSecondSignature') ? r.fixed(SIGNATURE_BYTES, 'secondSignature') : undefined;
  return { type, timestamp, senderPublicKey, recipientId, amount, fee, signature, secondSignature };
}

/** SHA-256 of the full canonical encoding (signatures included). */
export function transactionIdBytes(tx: Transaction): Uint8Array {
  return new Uint8Array(createHash('sha256').update(encodeTransaction(tx)).digest());
}

export function transactionId(tx: Transaction): string {
  return toHex(transactionIdBytes(tx));
}

export function transactionToJson(tx: Transaction): TransactionJson {
  const json: TransactionJson = {
    type: tx.type,
    timestamp: tx.timestamp,
    senderPublicKey: toHex(tx.senderPublicKey),
    recipientId: tx.recipientId,
    amount: tx.amount.toString(10),
    fee: tx.fee.toString(10),
    signature: toHex(tx.signature),
  };
  if (tx.secondSignature !== undefined) json.secondSignature = toHex(tx.secondSignature);
  json.id = transactionId(tx);
  return json;
}

const sig = hexBytes(SIGNATURE_BYTES, SIGNATURE_BYTES);
const transactionReader: Reader<Transaction> = map(object({
  type: integer({ min: 0, max: 0xff }),
  timestamp: integer({ min: 0, max: 0xffff_ffff }),
  senderPublicKey: hexBytes(PUBLIC_KEY_BYTES, PUBLIC_KEY_BYTES),
  recipientId: refine(string({ max: 20, pattern: ADDRESS, what: 'a u64 decimal string' }), (a) => (BigInt(a) > U64_MAX ? 'expected at most 2^64-1' : undefined)),
  amount: u64Decimal,
  fee: u64Decimal,
  signature: sig,
  secondSignature: optional(sig),
  id: optional(hexText({ bytes: 32 })),
}), (o, path): Transaction => {
  const tx: Transaction = {
    type: o.type, timestamp: o.timestamp, senderPublicKey: o.senderPublicKey, recipientId: o.recipientId, amount: o.amount, fee: o.fee,
    signature: o.signature, secondSignature: o.secondSignature,
  };
  if (o.id !== undefined && o.id !== transactionId(tx)) invalid(`${path}.id`, "does not match the transaction's canonical bytes");
  return tx;
});

/** The wire form's reader (types, sizes, ranges, unknown fields, id if given), for readers of lists of transactions. */
export const TRANSACTION_JSON: Reader<Transaction> = transactionReader;

/** Validates the wire form (types, sizes, ranges, unknown fields, id if given); throws ChainError. */
export function transactionFromJson(value: unknown, where = 'transaction'): Transaction {
  return readChain(transactionReader, value, where);
}

// --- Ed25519 through node:crypto (faster than @noble/curves here; see README and the bench) ---

// RFC 8410 DER prefixes: a raw 32-byte key becomes an SPKI / PKCS#8 structure.
const SPKI_ED25519_PREFIX = fromHex('302a300506032b6570032100');
const PKCS8_ED25519_PREFIX = fromHex('302e020100300506032b657004220420');

export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', `Ed25519 public key must be ${PUBLIC_KEY_BYTES} bytes`, 'publicKey');
  }
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', 'not an Ed25519 public key', 'publicKey', { cause });
  }
}

export interface Ed25519KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
  readonly address: string;
}

/** Key pair from a 32-byte seed (RFC 8032 §5.1.5), as the devnet's accounts use. */
export function keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new ChainError('ERR_CHAIN_INVALID_ARGUMENT', `Ed25519 seed must be ${SEED_BYTES} bytes`, 'seed');
  }
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
  return { publicKey, privateKey, address: addressFromPublicKey(publicKey) };
}

export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, privateKey));
}

/** False (never a throw) for a bad key, bad signature or wrong message. */
export function ed25519Verify(publicKey: Uint8Array | KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = publicKey instanceof Uint8Array ? ed25519PublicKeyObject(publicKey) : publicKey;
    return signature.length === SIGNATURE_BYTES && nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

/** Signs a transaction with the sender's key pair (and optionally a second key). */
export function signTransaction(unsigned: UnsignedTransaction, sender: Ed25519KeyPair, second?: Ed25519KeyPair): Transaction {
  const signature = ed25519Sign(sender.privateKey, transactionBody(unsigned));
  const tx: Transaction = { ...unsigned, signature };
  if (second === undefined) return tx;
  return { ...tx, secondSignature: ed25519Sign(second.privateKey, secondSignatureMessage(tx)) };
}
