// A candidate block on the wire: the compact binary frame or JSON (for tools and people).
//
//   binary frame = u8 magic 0xB7 || u8 version (1) || encodeBlock bytes (block.ts)
//   JSON         = blockToJson text, compact; its first byte is `{` (or JSON white space)
//
// A receiver tells them apart by the first byte, so both travel on one topic and a node takes
// either. The binary frame is ~3.1x smaller than the JSON and decodes without hex, and it carries
// each transaction's canonical bytes, which validation hashes and verifies as they came.
// A frame of another version is refused by name: a later version needs new firmware, not a guess.
import { decodeBlockEncoded, encodeBlock, JSON_FACTOR, MAX_HEADER_BYTES, blockFromJson, blockToJson } from './block.ts';
import type { Block, BlockCaps } from './block.ts';
import { ChainError, malformed, oversize } from './errors.ts';
import { TX_MAX_BYTES } from './transaction.ts';
import { parseJsonText } from './wire.ts';

/** Not a byte JSON text can start with, and not printable ASCII. */
export const CANDIDATE_MAGIC = 0xb7;
export const CANDIDATE_WIRE_VERSION = 1;
/** Magic and version in front of the block bytes. */
export const CANDIDATE_FRAME_BYTES = 2;

export type CandidateEncoding = 'binary' | 'json';

export interface DecodedCandidate {
  readonly block: Block;
  readonly encoding: CandidateEncoding;
  /** Each transaction's canonical bytes as they came (binary frames only). */
  readonly encodings: readonly Uint8Array[] | undefined;
}

export interface CandidateByteCaps {
  /** Largest binary frame: the block bytes plus the frame. */
  readonly binary: number;
  /** Largest JSON text: JSON_FACTOR x the block bytes. */
  readonly json: number;
}

/**
 * Inbound caps of a candidate under the network's block caps: the canonical block is at most
 * maxBlockBytes, and never more than a header and maxTxs transactions of the largest kind.
 */
export function candidateByteCaps(caps: BlockCaps): CandidateByteCaps {
  const block = Math.min(caps.maxBlockBytes, MAX_HEADER_BYTES + caps.maxTxs * (2 + TX_MAX_BYTES));
  return { binary: block + CANDIDATE_FRAME_BYTES, json: block * JSON_FACTOR };
}

/** The encoding a payload claims by its first byte; null for neither. */
export function candidateEncodingOf(payload: Uint8Array): CandidateEncoding | null {
  const first = payload[0];
  if (first === CANDIDATE_MAGIC) return 'binary';
  // `{`, or JSON white space before it (RFC 8259 §2)
  if (first === 0x7b || first === 0x20 || first === 0x09 || first === 0x0a || first === 0x0d) return 'json';
  return null;
}

/** The largest payload accepted for a candidate of this encoding (the transport's per-message cap). */
export function candidateCapFor(payload: Uint8Array, caps: BlockCaps): number {
  const c = candidateByteCaps(caps);
  return candidateEncodingOf(payload) === 'json' ? c.json : c.binary;
}

export function encodeCandidateFrame(block: Block, caps?: BlockCaps): Uint8Array {
  const bytes = encodeBlock(block, caps);
  const out = new Uint8Array(CANDIDATE_FRAME_BYTES + bytes.length);
  out[0] = CANDIDATE_MAGIC;
  out[1] = CANDIDATE_WIRE_VERSION;
  out.set(bytes, CANDIDATE_FRAME_BYTES);
  return out;
}

export function encodeCandidate(block: Block, encoding: CandidateEncoding, caps?: BlockCaps): Uint8Array | string {
  return encoding === 'binary' ? encodeCandidateFrame(block, caps) : JSON.stringify(blockToJson(block));
}

/**
 * Either encoding -> the block, checked against `caps`. Throws ChainError: ERR_CHAIN_OVERSIZE
 * above the caps, ERR_CHAIN_WIRE_VERSION for a frame of another version, ERR_CHAIN_MALFORMED for
 * anything else (an unknown first byte, truncated bytes, bad JSON).
 */
export function decodeCandidate(payload: Uint8Array, caps: BlockCaps): DecodedCandidate {
  const encoding = candidateEncodingOf(payload);
  const limits = candidateByteCaps(caps);
  if (encoding === 'json') {
    // parsed once, here: the transport hands candidates over as bytes
    return { block: blockFromJson(parseJsonText(payload, limits.json, 'candidate JSON'), caps), encoding, encodings: undefined };
  }
  if (encoding === null) {
    throw malformed(payload.length === 0 ? 'candidate is empty' : `candidate starts with byte 0x${payload[0]!.toString(16).padStart(2, '0')}: neither a binary frame (0xb7) nor JSON`, 'candidate');
  }
  if (payload.length > limits.binary) throw oversize(`candidate frame is ${payload.length} bytes, at most ${limits.binary}`, 'candidate');
  if (payload.length < CANDIDATE_FRAME_BYTES) throw malformed('candidate frame is truncated before its version byte', 'candidate.version');
  const version = payload[1]!;
  if (version !== CANDIDATE_WIRE_VERSION) {
    throw new ChainError('ERR_CHAIN_WIRE_VERSION', `candidate frame version ${version}, this node reads version ${CANDIDATE_WIRE_VERSION}`, 'candidate.version');
  }
  const { block, encodings } = decodeBlockEncoded(payload.subarray(CANDIDATE_FRAME_BYTES), caps);
  return { block, encoding, encodings };
}
