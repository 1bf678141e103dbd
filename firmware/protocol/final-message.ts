// The committee's announcement that a block is final (third state, docs/protocol.md step 4),
// published retained on <prefix>/final. Nodes take it as their new chain tip and low
// watermark: nothing at or below `height` is sealed again (docs/seal-journal.md).
import { array, hex, integer, literal, map, object } from '../core/json.ts';
import { MESSAGE_ID, messageSchema, type ProtocolSchema } from './message-schema.ts';
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

/** A final message: from bytes (parse) or from the value the transport parsed under its cap (read). */
export const finalMessage: ProtocolSchema<FinalMessage> = messageSchema('final', MAX_FINAL_MESSAGE_BYTES, map(object({
  v: literal(1),
  height: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  hash: hex({ bytes: 32 }),
  timestamp: integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  clerk: MESSAGE_ID,
  sealedBy: array(MESSAGE_ID, { max: MAX_SEALERS }),
  votes: integer({ min: 0, max: 1_000_000 }),
}), (f): FinalMessage => ({ height: f.height, hash: f.hash, timestamp: f.timestamp, clerk: f.clerk, sealedBy: f.sealedBy, votes: f.votes })));
