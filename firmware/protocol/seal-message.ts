// The seal a secondary node sends to a clerk (docs/protocol.md step 2): which block, which round,
// the RSASSA-PKCS1-v1_5-SHA256 signature over lotteryMessage(blockHash, round), and the node's
// root-signed registration, whose sealing key is the only key the clerk verifies it under.
import { ProtocolError } from './errors.ts';
import { hexBytes, integer, object, onlyKeys, parseJson, text, type Json } from './fields.ts';
import { toHex } from '../core/bytes.ts';

export interface SealMessage {
  readonly nodeId: string;
  readonly height: number;
  readonly blockHash: Uint8Array;
  /** Fingerprint of the clerk the seal is addressed to. */
  readonly clerk: string;
  readonly round: number;
  readonly signature: Uint8Array;
  /** Registration certificate as issued by the root node (verified by the clerk), or null in an unregistered devnet. */
  readonly registration: Json | null;
  /** Milliseconds since the epoch after which the seal is worthless (the round deadline). */
  readonly expiresAt: number;
}

export const MAX_SEAL_MESSAGE_BYTES = 16 * 1024;
const ID = /^[0-9a-zA-Z_-]+$/;

export function encodeSealMessage(seal: SealMessage): string {
  return JSON.stringify({
    v: 1,
    nodeId: seal.nodeId,
    height: seal.height,
    blockHash: toHex(seal.blockHash),
    clerk: seal.clerk,
    round: seal.round,
    signature: toHex(seal.signature),
    registration: seal.registration,
    expiresAt: seal.expiresAt,
  });
}

const SEAL_KEYS: ReadonlySet<string> = new Set(['v', 'nodeId', 'height', 'blockHash', 'clerk', 'round', 'signature', 'registration', 'expiresAt']);

/** A seal from its bytes (size-capped, then JSON). */
export function parseSealMessage(payload: Uint8Array | string): SealMessage {
  return readSealMessage(parseJson(payload, MAX_SEAL_MESSAGE_BYTES, 'seal message'));
}

/** A seal from a JSON value the transport already parsed (under its size cap): no second parse. */
export function readSealMessage(value: unknown): SealMessage {
  const o = object(value, 'seal');
  onlyKeys(o, SEAL_KEYS, 'seal.');
  if (o['v'] !== 1) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', 'seal.v must be 1', 'v');
  const registration = o['registration'] === null || o['registration'] === undefined ? null : object(o['registration'], 'seal.registration');
  return {
    nodeId: text(o, 'nodeId', 128, ID, 'seal.'),
    height: integer(o, 'height', 0, Number.MAX_SAFE_INTEGER, 'seal.'),
    blockHash: hexBytes(o, 'blockHash', 32, 32, 'seal.'),
    clerk: text(o, 'clerk', 128, ID, 'seal.'),
    round: integer(o, 'round', 0, 0xffff_ffff, 'seal.'),
    signature: hexBytes(o, 'signature', 64, 512, 'seal.'),
    registration,
    expiresAt: integer(o, 'expiresAt', 0, Number.MAX_SAFE_INTEGER, 'seal.'),
  };
}

