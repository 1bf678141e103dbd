// Blocks: a header signed by the clerk, and its transactions.
//
// Canonical header bytes (all integers big-endian, see encoding.ts):
//   unsigned header = u16 version || u32 height || previousHash (32) || u64 timestamp (Unix ms)
//                     || txRoot (32) || u32 txCount || bytes16 clerkPublicKey (RSA SPKI DER)
//                     || u32 drawRound || bytes16 drawSignature
//   block hash      = SHA-256(unsigned header)  (the header hash; what seals sign, docs/lottery.md)
//   clerkSignature  = RSASSA-PKCS1-v1_5-SHA256 by the clerk over the unsigned header bytes,
//                     i.e. a PKCS#1 signature whose DigestInfo digest is the block hash (a TPM
//                     makes it with signDigest(blockHash)).
//   signed header   = unsigned header || bytes16 clerkSignature
//   block           = signed header || txCount x bytes16 transaction (transaction.ts)
import { createHash } from 'node:crypto';
import { ByteReader, ByteWriter } from './encoding.ts';
import { array, hexText, integer, invalid, map, object, optional, type Reader } from '../../core/json.ts';
import { toHex } from '../../core/bytes.ts';
import { malformed, oversize } from './errors.ts';
import { encodeTransaction, readTransaction, TRANSACTION_JSON, transactionToJson, TX_MAX_BYTES, TX_MIN_BYTES } from './transaction.ts';
import type { Transaction, TransactionJson } from './transaction.ts';
import { hexBytes, list, parseJsonText, readChain } from './wire.ts';

export const BLOCK_VERSION = 1;
export const HASH_BYTES = 32;
/** An RSA-4096 SPKI DER is 550 bytes. */
export const MAX_CLERK_KEY_BYTES = 1024;
/** RSA-4096 signatures are 512 bytes. */
export const MAX_RSA_SIGNATURE_BYTES = 512;
export const MAX_HEADER_BYTES = 2 + 4 + HASH_BYTES + 8 + HASH_BYTES + 4 + 2 + MAX_CLERK_KEY_BYTES + 4 + 2 + MAX_RSA_SIGNATURE_BYTES + 2 + MAX_RSA_SIGNATURE_BYTES;

export interface BlockCaps {
  /** Most transactions in one block. */
  readonly maxTxs: number;
  /** Most bytes of the canonical block encoding (and of its JSON text, times jsonFactor). */
  readonly maxBlockBytes: number;
}

export const DEFAULT_BLOCK_CAPS: BlockCaps = { maxTxs: 20_000, maxBlockBytes: 4 * 1024 * 1024 };
/**
 * JSON text (hex, decimal strings, field names) is larger than the binary form: a compact
 * block's JSON is 3.1x its canonical bytes (at most about 3.3x), so 4x leaves room; pretty-printed
 * JSON may not fit.
 */
export const JSON_FACTOR = 4;

export interface BlockHeader {
  readonly version: number;
  readonly height: number;
  readonly previousHash: Uint8Array;
  /** Unix milliseconds (safe integer). */
  readonly timestamp: number;
  readonly txRoot: Uint8Array;
  readonly txCount: number;
  /** The clerk's RSA public key, SPKI DER. */
  readonly clerkPublicKey: Uint8Array;
  readonly drawRound: number;
  /** RSASSA-PKCS1-v1_5-SHA256 over lotteryMessage(previousHash, drawRound). */
  readonly drawSignature: Uint8Array;
}

export interface SignedBlockHeader extends BlockHeader {
  readonly clerkSignature: Uint8Array;
}

export interface Block {
  readonly header: SignedBlockHeader;
  readonly transactions: readonly Transaction[];
}

export interface BlockJson {
  version: number;
  height: number;
  previousHash: string;
  timestamp: number;
  txRoot: string;
  txCount: number;
  clerkPublicKey: string;
  drawRound: number;
  drawSignature: string;
  clerkSignature: string;
  transactions: TransactionJson[];
  /** Optional on input; when present it must equal the computed block hash. */
  hash?: string;
}

export function encodeUnsignedHeader(h: BlockHeader): Uint8Array {
  return writeUnsigned(new ByteWriter(MAX_HEADER_BYTES, 512), h).finish();
}

function writeUnsigned(w: ByteWriter, h: BlockHeader): ByteWriter {
  if (!Number.isSafeInteger(h.timestamp) || h.timestamp < 0) throw malformed('timestamp must be a non-negative safe integer', 'timestamp');
  return w
    .u16(h.version, 'version')
    .u32(h.height, 'height')
    .fixed(h.previousHash, HASH_BYTES, 'previousHash')
    .u64(BigInt(h.timestamp), 'timestamp')
    .fixed(h.txRoot, HASH_BYTES, 'txRoot')
    .u32(h.txCount, 'txCount')
    .bytes16(h.clerkPublicKey, MAX_CLERK_KEY_BYTES, 'clerkPublicKey')
    .u32(h.drawRound, 'drawRound')
    .bytes16(h.drawSignature, MAX_RSA_SIGNATURE_BYTES, 'drawSignature');
}

export function encodeSignedHeader(h: SignedBlockHeader): Uint8Array {
  return writeUnsigned(new ByteWriter(MAX_HEADER_BYTES, 1024), h).bytes16(h.clerkSignature, MAX_RSA_SIGNATURE_BYTES, 'clerkSignature').finish();
}

/** SHA-256 of the unsigned header bytes: the block hash. */
export function blockHash(h: BlockHeader): Uint8Array {
  return new Uint8Array(createHash('sha256').update(encodeUnsignedHeader(h)).digest());
}

export function encodeBlock(block: Block, caps: BlockCaps = DEFAULT_BLOCK_CAPS): Uint8Array {
  if (block.transactions.length > caps.maxTxs) throw oversize(`block has ${block.transactions.length} transactions, at most ${caps.maxTxs}`, 'transactions');
  if (block.transactions.length !== block.header.txCount) throw malformed(`txCount ${block.header.txCount} but ${block.transactions.length} transactions`, 'txCount');
  const w = new ByteWriter(caps.maxBlockBytes, 1024 + 200 * block.transactions.length);
  w.raw(encodeSignedHeader(block.header), 'header');
  for (const tx of block.transactions) w.bytes16(encodeTransaction(tx), TX_MAX_BYTES, 'transaction');
  return w.finish();
}

export function readSignedHeader(r: ByteReader): SignedBlockHeader {
  const version = r.u16('version');
  const height = r.u32('height');
  const previousHash = r.fixed(HASH_BYTES, 'previousHash');
  const ts = r.u64('timestamp');
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('timestamp exceeds 2^53-1', 'timestamp');
  const txRoot = r.fixed(HASH_BYTES, 'txRoot');
  const txCount = r.u32('txCount');
  const clerkPublicKey = r.bytes16(MAX_CLERK_KEY_BYTES, 'clerkPublicKey');
  const drawRound = r.u32('drawRound');
  const drawSignature = r.bytes16(MAX_RSA_SIGNATURE_BYTES, 'drawSignature');
  const clerkSignature = r.bytes16(MAX_RSA_SIGNATURE_BYTES, 'clerkSignature');
  return { version, height, previousHash, timestamp: Number(ts), txRoot, txCount, clerkPublicKey, drawRound, drawSignature, clerkSignature };
}

export function decodeSignedHeader(bytes: Uint8Array): SignedBlockHeader {
  const r = new ByteReader(bytes, MAX_HEADER_BYTES, 'header');
  const h = readSignedHeader(r);
  r.end('header');
  return h;
}

export function decodeBlock(bytes: Uint8Array, caps: BlockCaps = DEFAULT_BLOCK_CAPS): Block {
  return decodeBlockEncoded(bytes, caps).block;
}

/** A decoded block with each transaction's canonical bytes as they came (no re-encoding to hash them). */
export interface EncodedBlock {
  readonly block: Block;
  readonly encodings: readonly Uint8Array[];
}

export function decodeBlockEncoded(bytes: Uint8Array, caps: BlockCaps = DEFAULT_BLOCK_CAPS): EncodedBlock {
  const r = new ByteReader(bytes, caps.maxBlockBytes, 'block');
  const header = readSignedHeader(r);
  if (header.txCount > caps.maxTxs) throw oversize(`block has ${header.txCount} transactions, at most ${caps.maxTxs}`, 'txCount');
  if (header.txCount * (2 + TX_MIN_BYTES) > r.remaining) throw malformed(`truncated: txCount ${header.txCount} needs at least ${header.txCount * (2 + TX_MIN_BYTES)} bytes, have ${r.remaining}`, 'txCount');
  const transactions: Transaction[] = [];
  const encodings: Uint8Array[] = [];
  for (let i = 0; i < header.txCount; i++) {
    const len = r.u16(`transactions[${i}]`);
    if (len > TX_MAX_BYTES) throw oversize(`transactions[${i}] is ${len} bytes, at most ${TX_MAX_BYTES}`, `transactions[${i}]`);
    const enc = r.fixed(len, `transactions[${i}]`);
    const inner = new ByteReader(enc, TX_MAX_BYTES, `transactions[${i}]`);
    transactions.push(readTransaction(inner));
    inner.end(`transactions[${i}]`);
    encodings.push(enc);
  }
  r.end('block');
  return { block: { header, transactions }, encodings };
}

export function blockToJson(block: Block): BlockJson {
  const h = block.header;
  return {
    version: h.version,
    height: h.height,
    previousHash: toHex(h.previousHash),
    timestamp: h.timestamp,
    txRoot: toHex(h.txRoot),
    txCount: h.txCount,
    clerkPublicKey: toHex(h.clerkPublicKey),
    drawRound: h.drawRound,
    drawSignature: toHex(h.drawSignature),
    clerkSignature: toHex(h.clerkSignature),
    transactions: block.transactions.map(transactionToJson),
    hash: toHex(blockHash(h)),
  };
}

const hash32 = hexBytes(HASH_BYTES, HASH_BYTES);
const u32 = integer({ min: 0, max: 0xffff_ffff });
const txList = (caps: BlockCaps): Reader<Transaction[]> => array(TRANSACTION_JSON, { max: caps.maxTxs });

function makeBlockReader(caps: BlockCaps): Reader<Block> {
  const transactions = txList(caps);
  return map(object({
    version: integer({ min: 0, max: 0xffff }),
    height: u32,
    previousHash: hash32,
    timestamp: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    txRoot: hash32,
    txCount: u32,
    clerkPublicKey: hexBytes(1, MAX_CLERK_KEY_BYTES),
    drawRound: u32,
    drawSignature: hexBytes(1, MAX_RSA_SIGNATURE_BYTES),
    clerkSignature: hexBytes(1, MAX_RSA_SIGNATURE_BYTES),
    // Counted here, read below once the header's counts agree (the cheap checks first).
    transactions: list(caps.maxTxs, 'block.transactions'),
    hash: optional(hexText({ bytes: HASH_BYTES })),
  }), (o, path): Block => {
    const { transactions: items, hash, ...header } = o;
    if (header.txCount > caps.maxTxs) throw oversize(`${path}.txCount ${header.txCount} exceeds ${caps.maxTxs}`, `${path}.txCount`);
    if (header.txCount !== items.length) invalid(`${path}.txCount`, `is ${header.txCount} but there are ${items.length} transactions`);
    const txs = transactions.read(items, `${path}.transactions`);
    if (hash !== undefined && hash !== toHex(blockHash(header))) invalid(`${path}.hash`, "does not match the header's canonical bytes");
    return { header, transactions: txs };
  });
}

// Caps come from the network's terms and rarely change: the reader is built once per caps object.
let cached: { readonly caps: BlockCaps; readonly reader: Reader<Block> } | null = null;

/** Validates the wire form: types, sizes, caps, unknown fields, hash if given. Throws ChainError. */
export function blockFromJson(value: unknown, caps: BlockCaps = DEFAULT_BLOCK_CAPS): Block {
  if (cached?.caps !== caps) cached = { caps, reader: makeBlockReader(caps) };
  return readChain(cached.reader, value, 'block');
}

/** JSON text (or UTF-8 bytes) -> Block, with the text itself capped. */
export function parseBlockJson(payload: Uint8Array | string, caps: BlockCaps = DEFAULT_BLOCK_CAPS): Block {
  return blockFromJson(parseJsonText(payload, caps.maxBlockBytes * JSON_FACTOR, 'block JSON'), caps);
}
