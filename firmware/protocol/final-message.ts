// The committee's announcement that a block is final (third state, docs/protocol.md step 4),
// published retained on <prefix>/final. Nodes take it as their new chain tip and low
// watermark: nothing at or below `height` is sealed again (docs/seal-journal.md).
import { ProtocolError } from './errors.ts';
import { hexBytes, integer, object, onlyKeys, parseJson, text } from './fields.ts';
import { toHex } from '../core/bytes.ts';

export interface FinalMessage {
  readonly height: number;
  readonly hash: Uint8Array;
  /** Unix ms of the final block's header. */
  readonly timestamp: number;
  /** Fingerprint of the clerk whose block was finalized. */
  readonly clerk: string;
  /** Node ids whose seals were counted for the block, best first. */
  readonly sealedBy: readonly string[];
  readonly votes: number;
}

export const MAX_FINAL_MESSAGE_BYTES = 64 * 1024;
const MAX_SEALERS = 256;
const ID = /^[0-9a-zA-Z_-]+$/;

export function encodeFinalMessage(m: FinalMessage): string {
  return JSON.stringify({
    v: 1,
    height: m.height,
    hash: toHex(m.hash),
    timestamp: m.timestamp,
    clerk: m.clerk,
    sealedBy: m.sealedBy,
    votes: m.votes,
  });
}

const FINAL_KEYS: ReadonlySet<string> = new Set(['v', 'height', 'hash', 'timestamp', 'clerk', 'sealedBy', 'votes']);

export function parseFinalMessage(payload: Uint8Array | string): FinalMessage {
  return readFinalMessage(parseJson(payload, MAX_FINAL_MESSAGE_BYTES, 'final message'));
}

/** A final message from a JSON value the transport already parsed (under its size cap). */
export function readFinalMessage(value: unknown): FinalMessage {
  const o = object(value, 'final');
  onlyKeys(o, FINAL_KEYS, 'final.');
  if (o['v'] !== 1) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', 'final.v must be 1', 'v');
  const sealedBy = o['sealedBy'];
  if (!Array.isArray(sealedBy) || sealedBy.length > MAX_SEALERS || !sealedBy.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 128 && ID.test(s))) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `final.sealedBy must be an array of at most ${MAX_SEALERS} node ids`, 'sealedBy');
  }
  return {
    height: integer(o, 'height', 0, Number.MAX_SAFE_INTEGER, 'final.'),
    hash: hexBytes(o, 'hash', 32, 32, 'final.'),
    timestamp: integer(o, 'timestamp', 0, Number.MAX_SAFE_INTEGER, 'final.'),
    clerk: text(o, 'clerk', 128, ID, 'final.'),
    sealedBy: sealedBy as string[],
    votes: integer(o, 'votes', 0, 1_000_000, 'final.'),
  };
}
