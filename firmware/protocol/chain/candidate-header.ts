// Header-first delivery of a candidate (docs/protocol.md, "Header-first delivery"): every node gets
// the header frame; the body goes only to the nodes whose ticket qualifies.
//
//   header frame = u8 magic 0xB8 || u8 version (1) || signed header (block.ts)
//                  || u32 bodyBytes || bodyHash (32)
//   body         = txCount x bytes16 transaction: the block bytes after the signed header
//   bodyHash     = SHA-256(body)
//
// A ticket signs the block hash, which the signed header fixes, so a node can spin on the header
// alone. bodyBytes and bodyHash are outside the clerk's signature: they bound the fetch and let a
// node refuse a wrong body before decoding it. What binds the body to the signed header is txRoot,
// which the full test of the joined block checks, so a forged commitment can make a node refuse a
// body, never seal a block it has not tested.
import { createHash } from 'node:crypto';
import { bytesEqual, toHex } from '../../core/bytes.ts';
import { blockHash, decodeBlockEncoded, encodeBlock, HASH_BYTES, MAX_HEADER_BYTES, readSignedHeader, type BlockCaps, type EncodedBlock, type SignedBlockHeader } from './block.ts';
import { ByteReader, ByteWriter } from './encoding.ts';
import { ChainError, malformed, oversize } from './errors.ts';
import { TX_MAX_BYTES, TX_MIN_BYTES } from './transaction.ts';

/** Not a byte JSON text can start with, nor the full candidate's 0xB7. */
export const HEADER_MAGIC = 0xb8;
export const HEADER_WIRE_VERSION = 1;
/** The largest header frame: magic, version, the largest signed header, bodyBytes, bodyHash. */
export const MAX_HEADER_FRAME_BYTES = 2 + MAX_HEADER_BYTES + 4 + HASH_BYTES;

export interface CandidateHeader {
  readonly header: SignedBlockHeader;
  /** The signed header's bytes as they came (the joined block is decoded from them and the body). */
  readonly headerBytes: Uint8Array;
  /** SHA-256 of the unsigned header: what tickets sign. */
  readonly hash: Uint8Array;
  readonly bodyBytes: number;
  readonly bodyHash: Uint8Array;
}

/** A candidate split for header-first delivery. */
export interface SplitCandidate {
  readonly frame: Uint8Array;
  readonly body: Uint8Array;
  readonly hash: Uint8Array;
}

export function isHeaderFrame(payload: Uint8Array): boolean {
  return payload[0] === HEADER_MAGIC;
}

/** The range a body of this header may have: its transactions at their smallest and largest, under the block cap. */
export function bodyBounds(header: SignedBlockHeader, headerBytes: number, caps: BlockCaps): { readonly min: number; readonly max: number } {
  return { min: header.txCount * (2 + TX_MIN_BYTES), max: Math.min(caps.maxBlockBytes - headerBytes, header.txCount * (2 + TX_MAX_BYTES)) };
}

export function splitCandidate(block: { readonly header: SignedBlockHeader; readonly transactions: EncodedBlock['block']['transactions'] }, caps?: BlockCaps): SplitCandidate {
  const bytes = encodeBlock(block, caps);
  // The signed header's length, read back from the bytes just written (no second encoding).
  const r = new ByteReader(bytes, bytes.length, 'block');
  readSignedHeader(r);
  const headerLength = bytes.length - r.remaining;
  const body = bytes.subarray(headerLength);
  const bodyHash = sha256(body);
  const w = new ByteWriter(MAX_HEADER_FRAME_BYTES, headerLength + 40);
  w.u8(HEADER_MAGIC, 'magic').u8(HEADER_WIRE_VERSION, 'version').raw(bytes.subarray(0, headerLength), 'header').u32(body.length, 'bodyBytes').fixed(bodyHash, HASH_BYTES, 'bodyHash');
  return { frame: w.finish(), body, hash: blockHash(block.header) };
}

/**
 * A header frame -> the header and its body commitment, checked against `caps`. Throws
 * ChainError: ERR_CHAIN_OVERSIZE above the caps (the frame, txCount, or a body larger than they
 * allow), ERR_CHAIN_WIRE_VERSION for another version, ERR_CHAIN_MALFORMED for anything else.
 */
export function decodeCandidateHeader(payload: Uint8Array, caps: BlockCaps): CandidateHeader {
  if (payload[0] !== HEADER_MAGIC) throw malformed('not a header frame (first byte is not 0xb8)', 'header.magic');
  if (payload.length > MAX_HEADER_FRAME_BYTES) throw oversize(`header frame is ${payload.length} bytes, at most ${MAX_HEADER_FRAME_BYTES}`, 'header');
  if (payload.length < 2) throw malformed('header frame is truncated before its version byte', 'header.version');
  if (payload[1] !== HEADER_WIRE_VERSION) throw new ChainError('ERR_CHAIN_WIRE_VERSION', `header frame version ${payload[1]}, this node reads version ${HEADER_WIRE_VERSION}`, 'header.version');
  const r = new ByteReader(payload.subarray(2), MAX_HEADER_FRAME_BYTES, 'header');
  const header = readSignedHeader(r);
  const headerLength = payload.length - 2 - r.remaining;
  const bodyBytes = r.u32('bodyBytes');
  const bodyHash = r.fixed(HASH_BYTES, 'bodyHash');
  r.end('header');
  if (header.txCount > caps.maxTxs) throw oversize(`header announces ${header.txCount} transactions, at most ${caps.maxTxs}`, 'txCount');
  const bounds = bodyBounds(header, headerLength, caps);
  if (bodyBytes > bounds.max) throw oversize(`header announces a body of ${bodyBytes} bytes, at most ${bounds.max} for ${header.txCount} transactions under a ${caps.maxBlockBytes}-byte block cap`, 'bodyBytes');
  if (bodyBytes < bounds.min) throw malformed(`header announces a body of ${bodyBytes} bytes, too small for ${header.txCount} transactions (at least ${bounds.min})`, 'bodyBytes');
  return { header, headerBytes: payload.subarray(2, 2 + headerLength), hash: blockHash(header), bodyBytes, bodyHash };
}

export type BodyRefusalCode = 'body-oversize' | 'body-mismatch' | 'body-malformed';

export type JoinedBody =
  | ({ readonly ok: true } & EncodedBlock)
  | { readonly ok: false; readonly code: BodyRefusalCode; readonly message: string };

/**
 * The block a header and a fetched body make, or why the body is refused: larger than the header
 * announced (body-oversize), another length or hash than it commits to (body-mismatch), or bytes
 * that match the commitment but are not the header's transactions (body-malformed). The cheap
 * checks come first: length, then one SHA-256, then decoding.
 */
export function joinBody(h: CandidateHeader, body: Uint8Array, caps: BlockCaps): JoinedBody {
  if (body.length > h.bodyBytes) return { ok: false, code: 'body-oversize', message: `body is ${body.length} bytes, the header announced ${h.bodyBytes}` };
  if (body.length !== h.bodyBytes) return { ok: false, code: 'body-mismatch', message: `body is ${body.length} bytes, the header announced ${h.bodyBytes}` };
  const actual = sha256(body);
  if (!bytesEqual(actual, h.bodyHash)) return { ok: false, code: 'body-mismatch', message: `body hashes to ${toHex(actual).slice(0, 16)}…, the header commits to ${toHex(h.bodyHash).slice(0, 16)}…` };
  const bytes = new Uint8Array(h.headerBytes.length + body.length);
  bytes.set(h.headerBytes, 0);
  bytes.set(body, h.headerBytes.length);
  try {
    return { ok: true, ...decodeBlockEncoded(bytes, caps) };
  } catch (err) {
    if (err instanceof ChainError) return { ok: false, code: 'body-malformed', message: err.message };
    throw err;
  }
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}
